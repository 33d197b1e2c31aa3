import { randomUUID } from 'node:crypto';
import { loadPanel } from '../config/index.js';
import {
  type Candidate,
  type DatasetItem,
  type DebateEvent,
  type LiveCandidate,
  type Prompt,
  TribunalError,
} from '../contracts/index.js';
import { panelUsesTools, runDebate } from '../engine/index.js';
import { labelRowFromEvents } from '../export/index.js';
import { type ModelRegistry, redactText, resolveDefaultModel, type Settings } from '../models/index.js';
import { lazySandboxPool } from '../sandbox/index.js';
import { EventWriter, type RunConfig, type Store } from '../store/index.js';
import type { DebateHub } from './debate-hub.js';
import type { PanelDirectory } from './panel-directory.js';
import type { RunSource } from './run-catalog.js';

/** The id of the run that debates started over the socket belong to, in the server's store. */
export const LIVE_RUN_ID = 'live';

/** The live run's config: it has no input file; each debate is an item added as it starts. */
export const LIVE_RUN_CONFIG: RunConfig = {
  input: { file: '(tribunal serve)', sha256: 'live', format: 'live' },
  panel: { id: 'live', hash: 'live' },
  personas: {},
  constitution: null,
  models: {},
  options: {},
};

/** Options of `LiveDebates.open`. */
export interface LiveDebatesOptions {
  hub: DebateHub;
  source: RunSource;
  /** The server's store (writable); holds the live run. */
  store: Store;
  models: ModelRegistry;
  settings: Settings;
  panels: PanelDirectory;
  /** `--model`: every critic's model when set. */
  model: string | undefined;
  cwd: string;
  /** Debates running at once on the whole server. */
  maxLiveDebates: number;
  /** Strings scrubbed from error messages in events (API keys, the server token). */
  secrets: readonly string[];
  log: (line: string) => void;
}

interface Running {
  debateId: string;
  owner: string;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Runs the debates clients start over the socket. Each debate becomes an item of the server's live run: its events
 * stream to the hub as they are emitted and to the store in batches, and when it ends its label row is stored with
 * the rest of its events in one transaction, so live debates export (and take overrides) like labeled items.
 */
export class LiveDebates {
  private readonly running = new Map<string, Running>();
  private readonly writer: EventWriter;
  /** Item insertion and claiming run one at a time, so each debate claims its own item. */
  private queue: Promise<unknown> = Promise.resolve();
  private closing = false;
  /** Starts past the cap check and not yet registered: they hold a slot, so concurrent starts cannot pass the cap. */
  private reserved = 0;
  /** The sandbox of panels with a run-python critic: Pyodide loads on the first run, never for other panels. */
  private readonly sandbox = lazySandboxPool();

  private constructor(private readonly options: LiveDebatesOptions) {
    this.writer = new EventWriter({
      store: options.store,
      // Subscribers get these debates' events in process, every delta with its seq, and resume from the store once
      // a debate ends: the store keeps every delta, so a seq a client holds is always a stored one.
      coalesceDeltas: false,
      onError: (error) => options.log(`store: writing events failed: ${(error as Error).message}`),
    });
  }

  /** Opens (or resumes) the live run; debates a previous server left unfinished are marked failed. */
  static async open(options: LiveDebatesOptions): Promise<LiveDebates> {
    const { store } = options;
    await store.createOrResumeRun({ runId: options.source.runId, config: LIVE_RUN_CONFIG });
    await store.resetRunning({ runId: options.source.runId });
    const stale = await store.claimPending({ runId: options.source.runId, limit: 1_000_000 });
    for (const item of stale) {
      await store.markFailed({
        runId: options.source.runId,
        itemId: item.itemId,
        state: 'failed',
        error: { code: 'ABORTED', message: 'the server stopped during this debate' },
        attempt: item.attempt,
      });
    }
    return new LiveDebates(options);
  }

  /** Debates running now, of one connection when `owner` is given. */
  count(owner?: string): number {
    if (owner === undefined) return this.running.size;
    let count = 0;
    for (const running of this.running.values()) if (running.owner === owner) count++;
    return count;
  }

  /** Ids of the debates running now, oldest first. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** True when the debate runs in this process. */
  has(debateId: string): boolean {
    return this.running.has(debateId);
  }

  /**
   * Starts a debate and resolves once it is registered (its events are then replayable from the hub); the debate
   * runs on in the background, also after its starter disconnects. Throws `TribunalError` for a bad panel, bad
   * candidates or a full server. The cap on running debates counts starts in progress, so concurrent starts never
   * pass it.
   */
  async start(options: {
    prompt: Prompt;
    candidates: readonly LiveCandidate[];
    panel?: string | undefined;
    /** Python tests for the candidates' code (panels with a code critic), and the function they check. */
    tests?: string | undefined;
    entryPoint?: string | undefined;
    owner: string;
  }): Promise<{ runId: string; debateId: string }> {
    if (this.closing) throw new TribunalError('ABORTED', 'the server is shutting down');
    if (this.running.size + this.reserved >= this.options.maxLiveDebates) {
      throw new TribunalError(
        'RATE_LIMITED',
        `the server already runs ${this.options.maxLiveDebates} debates (its limit); wait for one to finish`,
      );
    }
    // The slot is reserved before the first await and released when the debate is registered or the start fails.
    this.reserved++;
    try {
      return await this.startReserved(options);
    } finally {
      this.reserved--;
    }
  }

  private async startReserved(options: {
    prompt: Prompt;
    candidates: readonly LiveCandidate[];
    panel?: string | undefined;
    /** Python tests for the candidates' code (panels with a code critic), and the function they check. */
    tests?: string | undefined;
    entryPoint?: string | undefined;
    owner: string;
  }): Promise<{ runId: string; debateId: string }> {
    const panelName = options.panel ?? this.options.panels.defaultName;
    const panelFile = this.options.panels.fileOf(panelName);
    if (panelFile === undefined) {
      throw new TribunalError(
        'PANEL_INVALID',
        `no panel "${panelName}"; the server offers: ${(await this.options.panels.names()).join(', ')}`,
      );
    }
    const panel = await loadPanel({ file: panelFile, cwd: this.options.cwd });
    const candidates = normalizeCandidates(options.candidates);
    const defaultModel = resolveDefaultModel({
      explicit: this.options.model,
      panelModel: panel.panel.model,
      settings: this.options.settings,
    });
    const runId = this.options.source.runId;
    const debateId = randomUUID();
    // The tests ride in the item's meta as a HumanEval item carries them, so the stored item can be labeled again.
    const meta: Record<string, unknown> = { origin: 'websocket' };
    if (options.tests !== undefined) meta.tests = options.tests;
    if (options.entryPoint !== undefined) meta.entry_point = options.entryPoint;
    const execution =
      options.tests === undefined
        ? undefined
        : { tests: options.tests, ...(options.entryPoint === undefined ? {} : { entryPoint: options.entryPoint }) };
    const item: DatasetItem = { id: debateId, prompt: options.prompt, candidates, meta };
    const claimed = await this.enqueue(async () => {
      const run = await this.options.store.getRun({ runId });
      const line = (run?.totals.items ?? 0) + 1;
      await this.options.store.upsertItems({ runId, items: [{ line, item }] });
      const [claim] = await this.options.store.claimPending({ runId, limit: 1 });
      if (claim?.itemId !== debateId)
        throw new TribunalError('INTERNAL', `live run: claimed ${claim?.itemId} instead of ${debateId}`);
      return claim;
    });

    const controller = new AbortController();
    this.options.hub.beginLive({ source: this.options.source, debateId });
    const events: DebateEvent[] = [];
    let storeBroken = false;
    const onEvent = (raw: DebateEvent) => {
      const event = this.scrub(raw);
      events.push(event);
      this.options.hub.publishLive({ source: this.options.source, event });
      if (storeBroken) return;
      try {
        this.writer.append(event);
      } catch (error) {
        storeBroken = true;
        this.options.log(`debate ${debateId}: events are no longer stored: ${(error as Error).message}`);
      }
    };
    const done = (async () => {
      try {
        await runDebate({
          panel,
          input: { id: debateId, prompt: options.prompt, candidates, ...(execution === undefined ? {} : { execution }) },
          models: this.options.models,
          defaultModel: defaultModel.id,
          ...(this.options.model === undefined ? {} : { modelOverride: this.options.model }),
          runId,
          debateId,
          itemId: debateId,
          onEvent,
          signal: controller.signal,
          ...(panelUsesTools(panel) ? { tools: { sandbox: this.sandbox } } : {}),
        });
        const label = labelRowFromEvents({ events, meta: item.meta });
        if (label.success) {
          await this.writer.markDone({ runId, itemId: debateId, result: label.value, attempt: claimed.attempt });
        } else {
          await this.writer.markFailed({
            runId,
            itemId: debateId,
            state: 'failed',
            error: { code: label.error.code, message: label.error.message },
            attempt: claimed.attempt,
          });
        }
      } catch (error) {
        const failure = error instanceof TribunalError ? error : new TribunalError('INTERNAL', String(error));
        await this.writer
          .markFailed({
            runId,
            itemId: debateId,
            state: 'failed',
            error: { code: failure.code, message: redactText(failure.message, this.options.secrets) },
            attempt: claimed.attempt,
          })
          .catch((storeError: unknown) => this.options.log(`debate ${debateId}: ${(storeError as Error).message}`));
      }
    })()
      .catch((error: unknown) => this.options.log(`debate ${debateId}: storing its result failed: ${(error as Error).message}`))
      .finally(() => {
        this.running.delete(debateId);
        this.options.hub.endLive(debateId);
      });
    this.running.set(debateId, { debateId, owner: options.owner, controller, done });
    return { runId, debateId };
  }

  /** Cancels a running debate; false when it does not run here. */
  cancel(debateId: string): boolean {
    const running = this.running.get(debateId);
    if (!running) return false;
    running.controller.abort(new TribunalError('ABORTED', 'cancelled by a client (run.cancel)'));
    return true;
  }

  /** Resolves when a debate has ended and its events are stored. */
  async settled(debateId: string): Promise<void> {
    await this.running.get(debateId)?.done;
  }

  /** Cancels every running debate, waits for them to be stored, and flushes. */
  async close(): Promise<void> {
    this.closing = true;
    for (const running of this.running.values()) {
      running.controller.abort(new TribunalError('ABORTED', 'the server is shutting down'));
    }
    await Promise.all([...this.running.values()].map((running) => running.done));
    await this.sandbox.close();
    await this.writer.close().catch((error: unknown) => this.options.log(`store: ${(error as Error).message}`));
    await this.options.store.setRunStatus({ runId: this.options.source.runId, status: 'stopped' }).catch(() => undefined);
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Keeps secrets out of error messages that events carry. */
  private scrub(event: DebateEvent): DebateEvent {
    if (event.type === 'debate-error') return { ...event, message: redactText(event.message, this.options.secrets) };
    if (event.type === 'turn-end' && event.error) {
      return { ...event, error: { ...event.error, message: redactText(event.error.message, this.options.secrets) } };
    }
    return event;
  }
}

/** Gives bare-text candidates ids `c1..cN` by position and refuses repeated ids. */
export function normalizeCandidates(candidates: readonly LiveCandidate[]): Candidate[] {
  const result: Candidate[] = [];
  const seen = new Set<string>();
  for (const [index, candidate] of candidates.entries()) {
    const id = typeof candidate === 'string' ? `c${index + 1}` : (candidate.id ?? `c${index + 1}`);
    const text = typeof candidate === 'string' ? candidate : candidate.text;
    if (seen.has(id))
      throw new TribunalError('INPUT_INVALID', `candidate id "${id}" appears twice; give each candidate its own id`);
    seen.add(id);
    result.push({ id, text });
  }
  return result;
}
