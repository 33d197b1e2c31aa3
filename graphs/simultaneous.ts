/**
 * Simultaneous debate (the default protocol): round 0 independent assessments, then debate rounds in which
 * every critic speaks at once, having read the others' latest turns, until every candidate converged or
 * maxRounds is reached; then the optional blind final vote and the consensus.
 */
import { END, START, StateGraph } from '@langchain/langgraph';
import type { ProtocolGraphOptions } from '../src/engine/debate-graph.js';
import { createDebateNodes, NODE } from '../src/engine/debate-nodes.js';
import { DebateStateAnnotation } from '../src/engine/debate-state.js';

/** Compiles the simultaneous-debate graph. */
export function createSimultaneousGraph(options: ProtocolGraphOptions = {}) {
  const nodes = createDebateNodes({ protocol: 'simultaneous', order: 'simultaneous' });
  const afterRound = [NODE.debate, NODE.blind, NODE.consensus];
  return new StateGraph(DebateStateAnnotation)
    .addNode(NODE.assess, nodes.assess)
    .addNode(NODE.debate, nodes.debate)
    .addNode(NODE.blind, nodes.blind)
    .addNode(NODE.consensus, nodes.consensus)
    .addEdge(START, NODE.assess)
    .addConditionalEdges(NODE.assess, nodes.routeAfterRound, afterRound)
    .addConditionalEdges(NODE.debate, nodes.routeAfterRound, afterRound)
    .addEdge(NODE.blind, NODE.consensus)
    .addEdge(NODE.consensus, END)
    .compile({ name: 'simultaneous', ...(options.checkpointer === undefined ? {} : { checkpointer: options.checkpointer }) });
}

/** The graph LangGraph Studio loads (see langgraph.json); without a context it uses the built-in fake models. */
export const graph = createSimultaneousGraph();
