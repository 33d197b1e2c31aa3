/**
 * Jury (the baseline): every critic votes once, independently (round 0), with no debate and no blind
 * vote; the votes go straight to the consensus. maxRounds and blindFinalVote are ignored.
 */
import { END } from '@langchain/langgraph';
import { compileProtocolGraph, type ProtocolGraphOptions, type ProtocolWiring } from '../src/engine/debate-graph.js';
import { createDebateNodes, NODE } from '../src/engine/debate-nodes.js';

/** The protocol's nodes and wiring: assess → consensus. */
export const juryWiring: ProtocolWiring = {
  protocol: 'jury',
  nodes: createDebateNodes({ protocol: 'jury', order: 'simultaneous' }),
  next: { [NODE.assess]: NODE.consensus, [NODE.consensus]: END },
};

/** Compiles the jury graph. */
export function createJuryGraph(options: ProtocolGraphOptions = {}) {
  return compileProtocolGraph(juryWiring, options);
}

/** The graph LangGraph Studio loads (see langgraph.json); without a context it uses the built-in fake models. */
export const graph = createJuryGraph();
