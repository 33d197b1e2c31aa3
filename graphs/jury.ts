/**
 * Jury (the baseline): every critic votes once, independently (round 0), with no debate and no blind
 * vote; the votes go straight to the consensus. maxRounds and blindFinalVote are ignored.
 */
import { END, START, StateGraph } from '@langchain/langgraph';
import type { ProtocolGraphOptions } from '../src/engine/debate-graph.js';
import { createDebateNodes, NODE } from '../src/engine/debate-nodes.js';
import { DebateStateAnnotation } from '../src/engine/debate-state.js';

/** Compiles the jury graph. */
export function createJuryGraph(options: ProtocolGraphOptions = {}) {
  const nodes = createDebateNodes({ protocol: 'jury', order: 'simultaneous' });
  return new StateGraph(DebateStateAnnotation)
    .addNode(NODE.assess, nodes.assess)
    .addNode(NODE.consensus, nodes.consensus)
    .addEdge(START, NODE.assess)
    .addEdge(NODE.assess, NODE.consensus)
    .addEdge(NODE.consensus, END)
    .compile({ name: 'jury', ...(options.checkpointer === undefined ? {} : { checkpointer: options.checkpointer }) });
}

/** The graph LangGraph Studio loads (see langgraph.json); without a context it uses the built-in fake models. */
export const graph = createJuryGraph();
