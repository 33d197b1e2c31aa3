import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TrainerEvent } from '../contracts/index.js';
import { parseTrainerEventLine, quoteLine } from './parse-event-line.js';
import { RUN_FILES } from './run-trainer.js';

/** Default wait between two looks at events.jsonl when nothing new arrived. */
export const FOLLOW_POLL_MS = 250;

/** One event of a run directory's events.jsonl and its 1-based line number there (a resume position). */
export interface FollowedTrainerEvent {
  line: number;
  event: TrainerEvent;
}

/** Options of `followTrainerEvents`. */
export interface FollowTrainerEventsOptions {
  /** The run directory (`tribunal train --out DIR`); its events.jsonl may not exist yet. */
  runDir: string;
  /** Ends the generator quietly. */
  signal?: AbortSignal;
  /** Skip lines up to and including this one (the `line` of the last event a subscriber saw). Default 0. */
  afterLine?: number;
  /** End after the first `done` or `error` event past `afterLine` (a resumed run appends a new `start` later). */
  untilEnd?: boolean;
  /** Wait between looks when nothing new arrived. Default 250 ms. */
  pollMs?: number;
  /** A line that is not a valid event (it is skipped). */
  onInvalidLine?: (problem: { line: number; message: string }) => void;
}

/**
 * Follows RUN_DIR/events.jsonl, the durable record of every worker run in a directory, and yields its validated
 * events as they are appended, from any process: this is how `tribunal serve` forwards a training run to its
 * subscribers. Waits for the file to appear; ends when `signal` aborts (or, with `untilEnd`, after `done`/`error`).
 * @example
 * for await (const { line, event } of followTrainerEvents({ runDir: 'runs/dpo', signal, afterLine: lastSeen })) {
 *   send({ id: line, event });
 * }
 */
export async function* followTrainerEvents(options: FollowTrainerEventsOptions): AsyncGenerator<FollowedTrainerEvent> {
  const file = path.join(path.resolve(options.runDir), RUN_FILES.events);
  const pollMs = options.pollMs ?? FOLLOW_POLL_MS;
  const afterLine = options.afterLine ?? 0;
  const { signal } = options;
  let offset = 0;
  let line = 0;
  let partial: Buffer = Buffer.alloc(0);
  while (!signal?.aborted) {
    const size = await stat(file).then(
      (stats) => stats.size,
      () => undefined,
    );
    if (size !== undefined && size < offset) {
      // replaced or truncated: start over
      offset = 0;
      line = 0;
      partial = Buffer.alloc(0);
    }
    if (size !== undefined && size > offset) {
      const chunk = await readRange(file, offset, size - offset);
      offset += chunk.length;
      partial = partial.length > 0 ? Buffer.concat([partial, chunk]) : chunk;
      let newline = partial.indexOf(0x0a);
      while (newline !== -1) {
        const text = partial.subarray(0, newline).toString('utf8');
        partial = partial.subarray(newline + 1);
        newline = partial.indexOf(0x0a);
        line += 1;
        if (line <= afterLine || text.trim() === '') continue;
        const parsed = parseTrainerEventLine(text);
        if (!parsed.success) {
          options.onInvalidLine?.({ line, message: `${file}:${line} is ${parsed.error}: ${quoteLine(text)}` });
          continue;
        }
        if (signal?.aborted) return;
        yield { line, event: parsed.value };
        if (options.untilEnd && (parsed.value.type === 'done' || parsed.value.type === 'error')) return;
      }
      continue; // look again at once: more may have been appended meanwhile
    }
    try {
      await sleep(pollMs, undefined, signal ? { signal } : undefined);
    } catch {
      return; // aborted while waiting
    }
  }
}

async function readRange(file: string, position: number, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
