/**
 * Jury (the baseline): every critic votes once, independently (round 0), with no debate and no blind
 * vote; the votes go straight to the consensus. maxRounds and blindFinalVote are ignored.
 */
import { END } from '@langchain/langgraph';
import { compileProtocolGraph, forStudio, type ProtocolGraphOptions, type ProtocolWiring } from '../src/engine/debate-graph.js';
import { createDebateNodes, NODE } from '../src/engine/debate-nodes.js';
import { processSandbox } from '../src/sandbox/lazy-pool.js';
import { prepareDebate } from './debate-request.js';

/** The protocol's nodes and wiring: assess → consensus. */
export const juryWiring: ProtocolWiring = {
  protocol: 'jury',
  nodes: createDebateNodes({ protocol: 'jury', order: 'simultaneous' }),
  next: { [NODE.assess]: NODE.consensus, [NODE.consensus]: END },
};

/** Compiles the jury graph. */
export function createJuryGraph(options: ProtocolGraphOptions = {}) {
  return compileProtocolGraph(juryWiring, { prepare: prepareDebate, ...options });
}

/** The graph LangGraph Studio and Server load (see langgraph.json): plain input `{ prompt, candidates, panel?, model?, maxRounds? }`. */
export const graph = forStudio(createJuryGraph({ sandbox: processSandbox }));
