import { END } from '@langchain/langgraph';
import { TribunalError } from '../contracts/index.js';
import type { DebateContext, DebateNodeConfig } from './debate-context.js';
import { type ProtocolWiring, ROUTE } from './debate-graph.js';
import { type DebateNodeName, NODE } from './debate-nodes.js';
import type { DebateSetup } from './debate-setup.js';
import { DEBATE_STATE_DEFAULTS, type DebateState, mergeDebateUpdate } from './debate-state.js';
import { abortError } from './run-turn.js';

/** More nodes than any protocol can visit (maxRounds is at most 10): a wiring that loops forever fails instead. */
const MAX_STEPS = 100;

/**
 * Runs a protocol without LangGraph: the same node functions and router as its graph (`wiring`), one node after
 * another in a plain loop, merging each node's update with the state's reducers. It keeps no LangGraph checkpoints;
 * `onStep` sees the state after every node (runDebate saves it as a `DebateSnapshot`) and `from` continues from
 * one. The events and the result are those of the graph.
 * Cancellation rejects as soon as `signal` aborts, as LangGraph does, with an ABORTED TribunalError.
 * @example
 * const state = await runDirect({ wiring: PROTOCOL_WIRINGS.simultaneous, setup, context: { models, emitter } });
 */
export async function runDirect(options: {
  wiring: ProtocolWiring;
  setup: DebateSetup;
  context: DebateContext;
  signal?: AbortSignal;
  /** Continue a debate from a state and the node it goes to next (a snapshot), instead of starting it. */
  from?: { state: DebateState; node: DebateNodeName | typeof END };
  /** Called after every node with the merged state and the next node; awaited before the next node runs. */
  onStep?: (step: { state: DebateState; next: DebateNodeName | typeof END }) => Promise<void>;
}): Promise<DebateState> {
  const { wiring, signal, onStep } = options;
  let state: DebateState = options.from?.state ?? {
    setup: options.setup,
    ...DEBATE_STATE_DEFAULTS,
    turns: [],
    executions: [],
    result: undefined,
  };
  const config: DebateNodeConfig = { context: options.context, ...(signal === undefined ? {} : { signal }) };
  let node: DebateNodeName | typeof END = options.from?.node ?? NODE.assess;
  for (let step = 0; node !== END; step++) {
    if (step === MAX_STEPS)
      throw new TribunalError('INTERNAL', `protocol "${wiring.protocol}" ran ${MAX_STEPS} nodes without ending`);
    if (signal?.aborted) throw abortError(signal);
    const update = await untilAborted(wiring.nodes[node](state, config), signal);
    state = mergeDebateUpdate(state, update);
    const next: DebateNodeName | typeof ROUTE | typeof END | undefined = wiring.next[node];
    if (next === undefined)
      throw new TribunalError('INTERNAL', `protocol "${wiring.protocol}" has no way on from node "${node}"`);
    node = next === ROUTE ? wiring.nodes.routeAfterRound(state) : next;
    if (onStep) await onStep({ state, next: node });
  }
  return state;
}

/** Settles with `work`, or rejects with ABORTED as soon as `signal` aborts (the work is left to wind down). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
