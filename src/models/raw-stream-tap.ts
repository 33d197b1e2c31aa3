/** Receives the raw events of one provider stream, in order. */
export type RawEventObserver = (event: unknown) => void;

/**
 * Lets a call read the provider SDK's raw stream events (OpenAI chunks, Anthropic events) next to LangChain's
 * message chunks, which drop part of them: OpenAI's `delta.refusal`, Anthropic's cumulative usage in `message_delta`,
 * and whether the stream reached its end event at all. `install` overrides, on one LangChain model instance, the method
 * that opens the SDK stream (nothing in node_modules changes); a call registers an observer under its AbortSignal,
 * the one per-call object LangChain hands to that method unchanged. Calls without an observer (the `chat` model used
 * directly) get the SDK stream untouched.
 * @example
 * const tap = new RawStreamTap();
 * tap.install(chatOpenAI.completions, 'completionWithRetry');
 * await tap.observe(signal, (event) => facts.push(event), () => drain(stream));
 */
export class RawStreamTap {
  private readonly observers = new WeakMap<AbortSignal, RawEventObserver>();

  /** Wraps `target[method]` (an async method whose second argument carries `signal` and which returns the SDK stream). */
  install(target: object, method: string): void {
    const record = target as Record<string, unknown>;
    const original = record[method];
    if (typeof original !== 'function') throw new Error(`cannot observe ${method}: not a method of this model`);
    const observers = this.observers;
    record[method] = async function observed(this: unknown, ...args: unknown[]): Promise<unknown> {
      const stream = await (original as (...inner: unknown[]) => Promise<unknown>).apply(this, args);
      const signal = (args[1] as { signal?: AbortSignal } | undefined)?.signal;
      const observer = signal === undefined ? undefined : observers.get(signal);
      if (observer === undefined || !isAsyncIterable(stream)) return stream;
      return observedStream(stream, observer);
    };
  }

  /** Runs `run` with `observer` seeing the raw events of every stream opened under `signal`. */
  async observe<T>(signal: AbortSignal, observer: RawEventObserver, run: () => Promise<T>): Promise<T> {
    this.observers.set(signal, observer);
    try {
      return await run();
    } finally {
      this.observers.delete(signal);
    }
  }
}

/** The SDK stream with each event shown to `observer` first; keeps `controller`, which LangChain aborts on cancel. */
function observedStream(stream: AsyncIterable<unknown>, observer: RawEventObserver): AsyncIterable<unknown> {
  return {
    controller: (stream as { controller?: AbortController }).controller,
    async *[Symbol.asyncIterator]() {
      for await (const event of stream) {
        observer(event);
        yield event;
      }
    },
  } as AsyncIterable<unknown>;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
