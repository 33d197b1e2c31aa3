import { BaseChatModel, type BaseChatModelCallOptions } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import type { RawCompletion, StopKind, TurnTag } from './types.js';

/** One call the fake received, recorded for assertions. */
export interface FakeCall {
  messages: BaseMessage[];
  /** The system message text, if any. */
  system: string;
  /** The concatenated text of all non-system messages. */
  user: string;
  turn: TurnTag | undefined;
  jsonSchema: Record<string, unknown> | undefined;
  index: number;
}

/**
 * What a script returns for a call: the text to stream, or an error to throw. The object form can also say how the
 * call ended, as a real provider does: `stop` (`truncated`, `refused`, ...), the provider's `stopReason`, `refusal` text.
 */
export type FakeReply =
  | string
  | Error
  | {
      text: string;
      inputTokens?: number;
      outputTokens?: number;
      latencyMs?: number;
      stop?: StopKind;
      stopReason?: string;
      refusal?: string;
    };

export type FakeScript = (call: FakeCall) => FakeReply | Promise<FakeReply> | undefined;

export interface FakeChatModelCallOptions extends BaseChatModelCallOptions {
  turn?: TurnTag;
  jsonSchema?: Record<string, unknown>;
}

export interface FakeChatModelOptions {
  script: FakeScript;
  /** Latency per call in ms (resolved with setTimeout; use fake timers in tests). */
  latencyMs?: number;
  /** Number of chunks the reply is streamed in. */
  chunks?: number;
  /** Whether to keep every call in `calls` (default true); benchmarks turn it off so memory stays flat. */
  recordCalls?: boolean;
}

/**
 * A scripted chat model that implements the real LangChain interface, records its calls and fails
 * loudly on anything unscripted (a script returning undefined).
 */
export class FakeChatModel extends BaseChatModel<FakeChatModelCallOptions> {
  readonly calls: FakeCall[] = [];
  private readonly script: FakeScript;
  private readonly latencyMs: number;
  private readonly chunks: number;
  private readonly recordCalls: boolean;
  private callCount = 0;

  constructor(options: FakeChatModelOptions) {
    super({});
    this.script = options.script;
    this.latencyMs = options.latencyMs ?? 0;
    this.chunks = options.chunks ?? 4;
    this.recordCalls = options.recordCalls ?? true;
  }

  override _llmType(): string {
    return 'tribunal-fake';
  }

  /** Runs the script for one call and returns the reply text and token counts. */
  async reply(
    messages: BaseMessage[],
    options: { turn?: TurnTag | undefined; jsonSchema?: Record<string, unknown> | undefined; signal?: AbortSignal | undefined },
  ): Promise<RawCompletion> {
    const call = new RecordedCall(messages, options.turn, options.jsonSchema, this.callCount++);
    if (this.recordCalls) this.calls.push(call);
    const reply = await this.script(call);
    if (reply === undefined) {
      throw new Error(
        `FakeChatModel: unscripted call #${call.index} (turn ${JSON.stringify(call.turn)}): ${call.user.slice(0, 200)}`,
      );
    }
    const latency = typeof reply === 'object' && !(reply instanceof Error) ? (reply.latencyMs ?? this.latencyMs) : this.latencyMs;
    if (latency > 0) await sleep(latency, options.signal);
    if (reply instanceof Error) throw reply;
    const text = typeof reply === 'string' ? reply : reply.text;
    const inputTokens =
      typeof reply === 'object' && reply.inputTokens !== undefined
        ? reply.inputTokens
        : Math.ceil((joinedLength(messages, true) + joinedLength(messages, false)) / 4);
    const outputTokens =
      typeof reply === 'object' && reply.outputTokens !== undefined ? reply.outputTokens : Math.ceil(text.length / 4);
    const completion: RawCompletion = { text, inputTokens, outputTokens };
    if (typeof reply === 'object') {
      if (reply.stop !== undefined) completion.stop = reply.stop;
      if (reply.stopReason !== undefined) completion.stopReason = reply.stopReason;
      if (reply.refusal !== undefined) completion.refusal = reply.refusal;
    }
    return completion;
  }

  /** Splits text into the configured number of chunks. */
  split(text: string): string[] {
    const size = Math.max(1, Math.ceil(text.length / this.chunks));
    const parts: string[] = [];
    for (let start = 0; start < text.length; start += size) parts.push(text.slice(start, start + size));
    return parts.length > 0 ? parts : [''];
  }

  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    const { text, inputTokens, outputTokens } = await this.reply(messages, options);
    const message = new AIMessage(text);
    setUsage(message, inputTokens, outputTokens);
    return { generations: [{ text, message }] };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
  ): AsyncGenerator<ChatGenerationChunk> {
    const { text, inputTokens, outputTokens } = await this.reply(messages, options);
    const parts = this.split(text);
    for (const [index, part] of parts.entries()) {
      const last = index === parts.length - 1;
      const message = new AIMessageChunk(part);
      if (last) setUsage(message, inputTokens, outputTokens);
      yield new ChatGenerationChunk({ text: part, message });
    }
  }
}

/** A call as scripts see it; `system` and `user` are joined on first use (most scripts never read them). */
class RecordedCall implements FakeCall {
  #system: string | undefined;
  #user: string | undefined;

  constructor(
    readonly messages: BaseMessage[],
    readonly turn: TurnTag | undefined,
    readonly jsonSchema: Record<string, unknown> | undefined,
    readonly index: number,
  ) {}

  get system(): string {
    this.#system ??= joinText(this.messages, true);
    return this.#system;
  }

  get user(): string {
    this.#user ??= joinText(this.messages, false);
    return this.#user;
  }
}

function joinText(messages: BaseMessage[], system: boolean): string {
  const parts: string[] = [];
  for (const message of messages) if ((message.getType() === 'system') === system) parts.push(textOf(message));
  return parts.join('\n');
}

/** The length of `joinText(messages, system)`, without building it. */
function joinedLength(messages: BaseMessage[], system: boolean): number {
  let length = -1;
  for (const message of messages) if ((message.getType() === 'system') === system) length += textOf(message).length + 1;
  return Math.max(0, length);
}

/** String content is its own text; `message.text` would run LangChain's content-block translators on it. */
function textOf(message: BaseMessage): string {
  return typeof message.content === 'string' ? message.content : message.text;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) reject(signal.reason ?? new Error('aborted'));
    else if (signal) new AbortableSleep(ms, signal, resolve, reject);
    else setTimeout(resolve, ms);
  });
}

const ONCE = { once: true } as const;

/** One sleep that an abort cuts short; its own abort listener, so a call allocates no closures for it. */
class AbortableSleep {
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    ms: number,
    private readonly signal: AbortSignal,
    private readonly resolve: () => void,
    private readonly reject: (reason: unknown) => void,
  ) {
    this.timer = setTimeout(sleepEnded, ms, this);
    signal.addEventListener('abort', this, ONCE);
  }

  /** The time is up. */
  end(): void {
    this.signal.removeEventListener('abort', this);
    this.resolve();
  }

  /** Listens on the signal. */
  handleEvent(): void {
    clearTimeout(this.timer);
    this.reject(this.signal.reason ?? new Error('aborted'));
  }
}

function sleepEnded(sleep: AbortableSleep): void {
  sleep.end();
}

/** Attaches LangChain usage metadata (the generic message types resolve the field to undefined here). */
function setUsage(message: AIMessage | AIMessageChunk, inputTokens: number, outputTokens: number): void {
  Object.assign(message, {
    usage_metadata: { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
  });
}
