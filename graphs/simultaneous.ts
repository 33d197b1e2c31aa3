/**
 * Simultaneous debate (the default protocol): round 0 independent assessments, then debate rounds in which
 * every critic speaks at once, having read the others' latest turns, until every candidate converged or
 * maxRounds is reached; then the optional blind final vote and the consensus.
 */
import { END } from '@langchain/langgraph';
import {
  compileProtocolGraph,
  forStudio,
  type ProtocolGraphOptions,
  type ProtocolWiring,
  ROUTE,
} from '../src/engine/debate-graph.js';
import { createDebateNodes, NODE } from '../src/engine/debate-nodes.js';
import { processSandbox } from '../src/sandbox/lazy-pool.js';
import { prepareDebate } from './debate-request.js';

/** The protocol's nodes and wiring: assess → (debate ↺ until converged or maxRounds) → [blind] → consensus. */
export const simultaneousWiring: ProtocolWiring = {
  protocol: 'simultaneous',
  nodes: createDebateNodes({ protocol: 'simultaneous', order: 'simultaneous' }),
  next: { [NODE.assess]: ROUTE, [NODE.debate]: ROUTE, [NODE.blind]: NODE.consensus, [NODE.consensus]: END },
};

/** Compiles the simultaneous-debate graph. */
export function createSimultaneousGraph(options: ProtocolGraphOptions = {}) {
  return compileProtocolGraph(simultaneousWiring, { prepare: prepareDebate, ...options });
}

/** The graph LangGraph Studio and Server load (see langgraph.json): plain input `{ prompt, candidates, panel?, model?, maxRounds? }`. */
export const graph = forStudio(createSimultaneousGraph({ sandbox: processSandbox }));
