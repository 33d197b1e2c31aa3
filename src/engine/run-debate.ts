import { setMaxListeners } from 'node:events';
import type { RunnableConfig } from '@langchain/core/runnables';
import { type BaseCheckpointSaver, END } from '@langchain/langgraph';
import { graphFor, PROTOCOL_WIRINGS } from '../../graphs/index.js';
import { type DebateEvent, type DebateInput, type DebateResult, type ResolvedPanel, TribunalError } from '../contracts/index.js';
import type { ModelRegistry } from '../models/index.js';
import type { DebateContext } from './debate-context.js';
import { type DebateGraphInvokeOptions, recordDebateSeq } from './debate-graph.js';
import { type DebateNodeName, NODE } from './debate-nodes.js';
import { createDebateSetup, type DebateSetup, VERIFIER_MODEL } from './debate-setup.js';
import { asDebateSnapshot, type DebateSnapshots, snapshotOf } from './debate-snapshot.js';
import { DEBATE_STATE_DEFAULTS, type DebateState } from './debate-state.js';
import { createEventEmitter, type DebateEventEmitter } from './event-emitter.js';
import { runDirect } from './run-direct.js';
import { abortError } from './run-turn.js';
import { type DebateTools, executionsSoFar } from './tool-execution.js';
import type { DebateTurnCache } from './turn-cache.js';

/**
 * What drives a debate's protocol: `direct` runs the protocol's node functions and router in a plain loop;
 * `langgraph` runs its compiled LangGraph graph. Both follow the same wiring and give the same events and result;
 * the direct driver costs far less CPU per debate but keeps no checkpoints.
 */
export type DebateDriver = 'direct' | 'langgraph';

/** Options of one debate. */
export interface RunDebateOptions {
  panel: ResolvedPanel;
  input: DebateInput;
  models: ModelRegistry;
  /** The model of every critic (and chair) that names none of its own. */
  defaultModel: string;
  /** Overrides every critic's (and the chair's) model, like the CLI's --model. */
  modelOverride?: string;
  runId?: string;
  /** Defaults to a random UUID; with a checkpointer it is the thread id, so pass it to be able to resume. */
  debateId?: string;
  /** Defaults to the input's id. */
  itemId?: string;
  /** Receives every event, in seq order, synchronously as it is emitted. */
  onEvent?: (event: DebateEvent) => void;
  /** Cancels the debate: in-flight model calls are aborted and runDebate rejects with code ABORTED. */
  signal?: AbortSignal;
  /**
   * Persists a checkpoint after every superstep under thread id = debateId. Running the same debateId again
   * after an interruption continues after the last completed superstep (see runDebate for the events).
   */
  checkpointer?: BaseCheckpointSaver;
  /** Defaults to `direct` without a checkpointer and `langgraph` with one (which needs it: `direct` is refused). */
  driver?: DebateDriver;
  /** Critic turns remembered across debates and runs (the store satisfies it); see `runTurn` for what is cached. */
  turnCache?: DebateTurnCache;
  /**
   * Emit each turn's tokens as one `turn-delta` per this many ms (the text of every token since; the last with the
   * turn's end) instead of one per token: for callers whose `onEvent` watchers do not need each token (a labeling
   * worker, whose store merges a turn's deltas per write batch anyway). The same text, in fewer events.
   */
  deltaIntervalMs?: number;
  /**
   * The direct driver's checkpoints: after every node the debate's state is saved under its debateId, and a debate
   * with a saved snapshot continues after it, exactly as a LangGraph checkpointer resumes (the same events and
   * result), at a fraction of the CPU. Not with a checkpointer or the `langgraph` driver.
   */
  snapshots?: DebateSnapshots;
  /**
   * Tools critics use: `sandbox` runs candidates' Python for critics with `tools: [run-python]` (and verifiers). The
   * caller owns it (create it only when `panelUsesTools(panel)`, close it when done); each candidate's code runs
   * once per debate.
   */
  tools?: DebateTools;
}

/**
 * Runs one debate of `panel` over `input` with the panel's protocol (driven as `driver` says) and resolves with its result.
 * Failed turns never fail the debate; only cancellation (code ABORTED) and unrecoverable problems reject,
 * after a `debate-error` event.
 *
 * Resuming (with a checkpointer, or snapshots on the direct driver, and the debateId of an interrupted debate): the
 * rounds already completed are not redone and their events are not re-emitted. The resumed run emits `debate-start` again, then
 * the events of the rounds still to run; `seq` continues after the last event of the interrupted run (the
 * seq is kept in graph state, and an aborted run records its last seq before rejecting; after a hard crash
 * it continues after the last completed round, so events of the interrupted round's seq range may repeat).
 * A debate that already finished resolves with its stored result and emits nothing.
 *
 * @example
 * const result = await runDebate({ panel, input: { prompt: 'Why is the sky blue?', candidates }, models, defaultModel: 'fake:judge', onEvent: console.log });
 * console.log(result.verdict.ranking);
 */
export async function runDebate(options: RunDebateOptions): Promise<DebateResult> {
  const { checkpointer } = options;
  // Every model call of the debate listens on one signal of its own, linked to the caller's by a single listener:
  // a debate has more concurrent calls than an AbortSignal's default listener limit (10), which made Node warn.
  const linked = linkSignal(options.signal);
  const signal = linked.signal;
  let emitter: DebateEventEmitter | undefined;
  let threadConfig: RunnableConfig | undefined;
  // From the moment of cancellation only debate-error goes out, so late turns of the cancelled round stay silent
  // however long the driver takes to unwind (the same events whichever driver runs the debate).
  const mute = () => emitter?.mute();
  /** With snapshots: the debate's setup and its last snapshot's state and next node, so a failure can record its seq. */
  let snapshotSetup: DebateSetup | undefined;
  let lastStep: { state: DebateState; next: DebateNodeName | typeof END } | undefined;
  /** The sandbox runs this run made or restored (kept on failure so a resume does not run the code again). */
  let context: DebateContext | undefined;
  const ranSoFar = () => (context === undefined ? [] : executionsSoFar(context));
  const protocol = options.panel.panel.protocol;
  const driver = options.driver ?? (checkpointer === undefined ? 'direct' : 'langgraph');
  const graph = graphFor({ protocol, ...(checkpointer === undefined ? {} : { checkpointer }) });
  try {
    if (driver === 'direct' && checkpointer) {
      throw new TribunalError(
        'INPUT_INVALID',
        'the direct driver keeps no checkpoints; leave driver unset (or "langgraph") with a checkpointer',
      );
    }
    if (driver === 'langgraph' && options.snapshots) {
      throw new TribunalError(
        'INPUT_INVALID',
        "snapshots are the direct driver's checkpoints; give a checkpointer to resume a LangGraph debate instead",
      );
    }
    let setup = createDebateSetup({
      panel: options.panel,
      input: options.input,
      defaultModel: options.defaultModel,
      ...pick(options, ['modelOverride', 'runId', 'debateId', 'itemId']),
    });
    let input: { setup: DebateSetup } | null = { setup };
    let startSeq = 0;
    if (checkpointer) {
      threadConfig = { configurable: { thread_id: setup.debateId } };
      const snapshot = await graph.getState(threadConfig);
      const stored = snapshot.values as Partial<DebateState> | undefined;
      if (stored?.setup) {
        if (stored.setup.panel.hash !== options.panel.hash) {
          throw new TribunalError(
            'INPUT_INVALID',
            `debate "${setup.debateId}" was started with panel hash ${stored.setup.panel.hash}, not ${options.panel.hash}; use a new debateId to judge with a changed panel`,
          );
        }
        if (stored.result && snapshot.next.length === 0) return stored.result;
        setup = stored.setup;
        input = null;
        startSeq = stored.seq ?? 0;
      }
    }
    const snapshots = options.snapshots;
    let from: { state: DebateState; node: DebateNodeName | typeof END } | undefined;
    if (snapshots) {
      const stored = asDebateSnapshot(await snapshots.load(setup.debateId));
      if (stored) {
        if (stored.panelHash !== options.panel.hash) {
          throw new TribunalError(
            'INPUT_INVALID',
            `debate "${setup.debateId}" was started with panel hash ${stored.panelHash}, not ${options.panel.hash}; use a new debateId to judge with a changed panel`,
          );
        }
        if (stored.result && stored.next === END) return stored.result;
        const { seq, round, roundsUsed, converged, turns, result } = stored;
        const executions = stored.executions ?? [];
        from = { state: { setup, seq, round, roundsUsed, converged, turns, executions, result }, node: stored.next };
        startSeq = seq;
      }
    }
    if (from !== undefined) lastStep = { state: from.state, next: from.node };
    snapshotSetup = setup;
    emitter = createEventEmitter({
      runId: options.runId ?? setup.runId,
      debateId: setup.debateId,
      startSeq,
      ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    });
    if (signal?.aborted) throw abortError(signal);
    signal?.addEventListener('abort', mute, { once: true });
    // Resolve every model up front so an unknown model fails the debate before any turn runs.
    await Promise.all(
      [...Object.values(setup.models), ...(setup.chairModel === undefined ? [] : [setup.chairModel])]
        .filter((id) => id !== VERIFIER_MODEL)
        .map((id) => options.models.resolve(id)),
    );
    context = { models: options.models, emitter };
    if (signal) context.signal = signal;
    if (options.turnCache) context.turnCache = options.turnCache;
    if (options.deltaIntervalMs !== undefined) context.deltaIntervalMs = options.deltaIntervalMs;
    if (options.tools) context.tools = options.tools;
    // Made here, not by the first round, so it survives drivers that copy the context per node.
    context.executions = { runs: new Map(), emitted: new Map() };
    let state: { result?: DebateResult | undefined };
    if (driver === 'direct') {
      state = await runDirect({
        wiring: PROTOCOL_WIRINGS[protocol],
        setup,
        context,
        ...(signal === undefined ? {} : { signal }),
        ...(from === undefined ? {} : { from }),
        ...(snapshots === undefined
          ? {}
          : {
              onStep: async (step: { state: DebateState; next: DebateNodeName | typeof END }) => {
                lastStep = step;
                await snapshots.save(setup.debateId, snapshotOf(step));
              },
            }),
      });
    } else {
      const invokeOptions: DebateGraphInvokeOptions = {
        context,
        callbacks: [],
        ...(threadConfig ?? {}),
        ...(signal === undefined ? {} : { signal }),
      };
      state = await graph.invoke(input, invokeOptions);
    }
    if (!state.result) throw new TribunalError('INTERNAL', `debate "${setup.debateId}" ended without a result`);
    return state.result;
  } catch (error) {
    const failure = toTribunalError(error, signal);
    if (emitter && !emitter.closed) {
      try {
        emitter.emit({ type: 'debate-error', code: failure.code, message: failure.message });
      } catch {
        // A throwing onEvent must not hide the failure being reported.
      }
      emitter.close();
      if (threadConfig) {
        // Record the last seq so a resumed run continues after the events this run emitted.
        await recordDebateSeq({ graph, config: threadConfig, seq: emitter.nextSeq, executions: ranSoFar() }).catch(
          () => undefined,
        );
      } else if (options.snapshots && snapshotSetup) {
        // The same for the direct driver's snapshot (before the first node: a snapshot of the start).
        const setup = snapshotSetup;
        const step = lastStep ?? {
          state: { setup, ...DEBATE_STATE_DEFAULTS, turns: [], executions: [], result: undefined },
          next: NODE.assess,
        };
        const executions = ranSoFar();
        const state = executions.length === 0 ? step.state : { ...step.state, executions };
        await options.snapshots
          .save(setup.debateId, snapshotOf({ state, next: step.next, seq: emitter.nextSeq }))
          .catch(() => undefined);
      }
    } else if (options.onEvent && !emitter) {
      const early = createEventEmitter({
        runId: options.runId ?? 'unknown',
        debateId: options.debateId ?? 'unknown',
        onEvent: options.onEvent,
      });
      try {
        early.emit({ type: 'debate-error', code: failure.code, message: failure.message });
      } catch {
        // As above.
      }
    }
    throw failure;
  } finally {
    signal?.removeEventListener('abort', mute);
    linked.dispose();
  }
}

/** A signal that aborts (with the same reason) when `outer` does, with no listener limit; `dispose` unlinks it. */
function linkSignal(outer: AbortSignal | undefined): { signal: AbortSignal | undefined; dispose(): void } {
  if (outer === undefined) return { signal: undefined, dispose: () => undefined };
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const forward = () => controller.abort(outer.reason);
  if (outer.aborted) forward();
  else outer.addEventListener('abort', forward, { once: true });
  return { signal: controller.signal, dispose: () => outer.removeEventListener('abort', forward) };
}

function toTribunalError(error: unknown, signal: AbortSignal | undefined): TribunalError {
  if (signal?.aborted) return abortError(signal, error);
  if (error instanceof TribunalError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TribunalError('INTERNAL', `the debate failed unexpectedly: ${message}`, { cause: error });
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) picked[key] = source[key];
  return picked;
}
