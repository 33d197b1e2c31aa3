import type {
  ChatHistoryItem,
  ChatWrapper,
  LlamaContext,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
  Token,
} from 'node-llama-cpp';
import { TribunalError } from '../../contracts/index.js';
import { type GrammarSchema, toGrammarSchema } from './grammar-schema.js';
import type { LlamaLease, LocalGpu } from './llama-runtime.js';
import { SequencePool } from './sequence-pool.js';

/** How a loaded model is run: context sizing, parallel sequences, threads. */
export interface LocalModelSettings {
  /** Parallel context sequences (calls generating at once); halved until the context fits in memory. Default 4. */
  sequences?: number;
  /** Tokens per sequence; default adapts to free memory between 2048 and 8192 (capped at the model's training size). */
  contextSize?: number;
  /** CPU threads for evaluation; default one less than the machine's math cores (at least 1). */
  threads?: number;
  gpu?: LocalGpu;
}

/** One generation request against a loaded model. */
export interface LocalGenerateRequest {
  history: ChatHistoryItem[];
  /** JSON schema the reply must match; converted to a grammar that constrains sampling. */
  jsonSchema?: Record<string, unknown>;
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  onTextChunk?: (text: string) => void;
}

/** The text of one generation with its token counts and why it stopped. */
export interface LocalGeneration {
  text: string;
  inputTokens: number;
  outputTokens: number;
  stopReason: string;
}

/** A snapshot of a loaded model's sequence pool, for diagnostics and tests. */
export interface LocalModelStats {
  modelPath: string;
  /** Sequences in the pool. */
  sequences: number;
  /** Sequences not generating right now. */
  available: number;
  /** Calls waiting for a free sequence. */
  waiting: number;
  /** Tokens per sequence. */
  contextSize: number;
  /** The chat template in use (`General` when the GGUF has none). */
  chatWrapper: string;
  gpu: string | false;
  /** Grammars compiled so far (one per distinct schema). */
  grammars: number;
}

const DEFAULT_SEQUENCES = 4;
const DEFAULT_CONTEXT_SIZE = { min: 2048, max: 8192 };

/**
 * One GGUF model loaded in memory with one context of N sequences lent out through a pool: each generation
 * borrows a sequence, runs node-llama-cpp's `LlamaChat` on it with the model's chat template, and always gives it
 * back (its cache cleared after a failure or abort; kept after success so a later prompt with the same prefix
 * skips re-evaluating it).
 */
export class LocalModelHost {
  readonly modelPath: string;
  private readonly lease: LlamaLease;
  private readonly model: LlamaModel;
  private readonly context: LlamaContext;
  private readonly chatWrapper: ChatWrapper;
  private readonly pool: SequencePool<LlamaContextSequence>;
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private readonly closing = new AbortController();
  private disposed: Promise<void> | undefined;

  private constructor(parts: {
    modelPath: string;
    lease: LlamaLease;
    model: LlamaModel;
    context: LlamaContext;
    chatWrapper: ChatWrapper;
    sequences: LlamaContextSequence[];
  }) {
    this.modelPath = parts.modelPath;
    this.lease = parts.lease;
    this.model = parts.model;
    this.context = parts.context;
    this.chatWrapper = parts.chatWrapper;
    this.pool = new SequencePool(parts.sequences);
  }

  /** Loads a GGUF file and creates its context; the lease's llama binding is released when the host is disposed. */
  static async load(options: { modelPath: string; lease: LlamaLease } & LocalModelSettings): Promise<LocalModelHost> {
    const { modelPath, lease } = options;
    const { llama, module } = lease;
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath, ...(options.gpu === false ? { gpuLayers: 0 } : {}) });
    } catch (error) {
      throw new TribunalError('PROVIDER_FAILED', `could not load the GGUF model ${modelPath}: ${String(error)}`, {
        cause: error,
        location: { file: modelPath },
      });
    }
    try {
      // llama.cpp threads spin at barriers, so one descheduled thread stalls the rest; leave a core for the event loop.
      const threads = options.threads ?? Math.max(1, llama.cpuMathCores - 1);
      let sequences = Math.max(1, Math.floor(options.sequences ?? DEFAULT_SEQUENCES));
      let context: LlamaContext | undefined;
      while (!context) {
        try {
          context = await model.createContext({
            sequences,
            contextSize: options.contextSize ?? DEFAULT_CONTEXT_SIZE,
            threads,
          });
        } catch (error) {
          const lowMemory = error instanceof module.InsufficientMemoryError || /memory|too large/i.test(String(error));
          if (!lowMemory || sequences === 1) throw error;
          sequences = Math.max(1, Math.floor(sequences / 2));
        }
      }
      const chatWrapper = module.resolveChatWrapper(model);
      const pooled = Array.from({ length: context.totalSequences }, () => (context as LlamaContext).getSequence());
      return new LocalModelHost({ modelPath, lease, model, context, chatWrapper, sequences: pooled });
    } catch (error) {
      await model.dispose();
      throw new TribunalError(
        'PROVIDER_FAILED',
        `could not create a context for ${modelPath}: ${String(error)}; try fewer sequences or a smaller contextSize`,
        { cause: error, location: { file: modelPath } },
      );
    }
  }

  /** Pool and model facts for diagnostics; `available === sequences` when nothing is generating. */
  stats(): LocalModelStats {
    return {
      modelPath: this.modelPath,
      sequences: this.pool.size,
      available: this.pool.available,
      waiting: this.pool.waiting,
      contextSize: this.context.contextSize,
      chatWrapper: this.chatWrapper.wrapperName,
      gpu: this.lease.llama.gpu,
      grammars: this.grammars.size,
    };
  }

  /** Counts the tokens of text in this model's vocabulary. */
  countTokens(text: string): number {
    return this.model.tokenize(text).length;
  }

  /** Compiles (once per distinct schema) the grammar that constrains sampling to JSON matching `jsonSchema`. */
  grammarFor(jsonSchema: Record<string, unknown>): Promise<LlamaGrammar> {
    const key = JSON.stringify(jsonSchema);
    let grammar = this.grammars.get(key);
    if (!grammar) {
      const grammarSchema = toGrammarSchema(jsonSchema);
      // The converted schema is checked at run time by node-llama-cpp; its deeply generic type cannot be inferred here.
      const createGrammar = this.lease.llama.createGrammarForJsonSchema.bind(this.lease.llama) as unknown as (
        schema: GrammarSchema,
      ) => Promise<LlamaGrammar>;
      grammar = createGrammar(grammarSchema).catch((error: unknown) => {
        this.grammars.delete(key);
        throw new TribunalError(
          'INTERNAL',
          `node-llama-cpp rejected the grammar for schema ${JSON.stringify(grammarSchema).slice(0, 500)}: ${String(error)}`,
          { cause: error },
        );
      });
      this.grammars.set(key, grammar);
    }
    return grammar;
  }

  /** Generates one model turn on a borrowed sequence; throws the signal's reason when aborted. */
  async generate(request: LocalGenerateRequest): Promise<LocalGeneration> {
    if (this.disposed) throw new TribunalError('PROVIDER_FAILED', `local model ${this.modelPath} is closed`);
    const signal = request.signal ? AbortSignal.any([request.signal, this.closing.signal]) : this.closing.signal;
    signal.throwIfAborted();
    const grammar = request.jsonSchema ? await this.grammarFor(request.jsonSchema) : undefined;
    const promptTokens = this.chatWrapper
      .generateContextState({ chatHistory: request.history })
      .contextText.tokenize(this.model.tokenizer);
    if (promptTokens.length >= this.context.contextSize) {
      // node-llama-cpp would silently drop the start of the conversation to make room; a critic must see all of it.
      throw new TribunalError(
        'PROVIDER_FAILED',
        `the prompt has ${promptTokens.length} tokens but each context sequence of ${this.modelPath} holds ` +
          `${this.context.contextSize}; raise the local model's contextSize or shorten the prompt`,
      );
    }
    const sequence = await this.pool.acquire({
      signal,
      prefer: (candidate) => candidate.compareContextTokens(promptTokens).firstDifferentIndex,
    });
    const { LlamaChat } = this.lease.module;
    const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: this.chatWrapper, autoDisposeSequence: false });
    let succeeded = false;
    let outputTokens = 0;
    try {
      const response = await chat.generateResponse(request.history, {
        ...(grammar === undefined ? {} : { grammar }),
        ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
        ...(request.maxTokens === undefined ? {} : { maxTokens: request.maxTokens }),
        ...(request.onTextChunk === undefined ? {} : { onTextChunk: request.onTextChunk }),
        onToken: (tokens: Token[]) => {
          outputTokens += tokens.length;
        },
        signal,
        stopOnAbortSignal: true,
      });
      signal.throwIfAborted();
      succeeded = true;
      return {
        text: response.response,
        inputTokens: promptTokens.length,
        outputTokens,
        stopReason: response.metadata.stopReason,
      };
    } finally {
      chat.dispose({ disposeSequence: false });
      if (!succeeded) await sequence.clearHistory().catch(() => undefined);
      this.pool.release(sequence);
    }
  }

  /** Aborts running generations, rejects waiting ones, then frees the context, the model and the llama lease. */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      const reason = new TribunalError('ABORTED', `local model ${this.modelPath} was closed`);
      this.closing.abort(reason);
      await this.pool.close(reason);
      await this.context.dispose();
      await this.model.dispose();
      await this.lease.release();
    })();
    return this.disposed;
  }
}
