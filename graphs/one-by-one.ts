/**
 * One-by-one debate (ChatEval's one-by-one strategy): round 0 independent assessments, then debate rounds in
 * which critics speak in panel order, each having read the turns already given this round and the others'
 * turns from the round before, until every candidate converged or maxRounds is reached; then the optional
 * blind final vote and the consensus.
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

/** The protocol's nodes and wiring: the shape of simultaneous, with critics speaking in order in debate rounds. */
export const oneByOneWiring: ProtocolWiring = {
  protocol: 'one-by-one',
  nodes: createDebateNodes({ protocol: 'one-by-one', order: 'sequential' }),
  next: { [NODE.assess]: ROUTE, [NODE.debate]: ROUTE, [NODE.blind]: NODE.consensus, [NODE.consensus]: END },
};

/** Compiles the one-by-one debate graph. */
export function createOneByOneGraph(options: ProtocolGraphOptions = {}) {
  return compileProtocolGraph(oneByOneWiring, { prepare: prepareDebate, ...options });
}

/** The graph LangGraph Studio and Server load (see langgraph.json): plain input `{ prompt, candidates, panel?, model?, maxRounds? }`. */
export const graph = forStudio(createOneByOneGraph({ sandbox: processSandbox }));
