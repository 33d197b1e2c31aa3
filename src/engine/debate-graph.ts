import type { RunnableConfig } from '@langchain/core/runnables';
import { type BaseCheckpointSaver, type END, START, StateGraph, type StateSnapshot } from '@langchain/langgraph';
import type { Protocol } from '../contracts/index.js';
import type { DebateContext } from './debate-context.js';
import { type DebateNodeName, type DebateNodes, NODE } from './debate-nodes.js';
import { type DebateState, DebateStateAnnotation, type DebateStateUpdate } from './debate-state.js';

/** Options every protocol graph factory takes. */
export interface ProtocolGraphOptions {
  /** Persists a checkpoint after every superstep; the debate id is the thread id. */
  checkpointer?: BaseCheckpointSaver;
}

/** The invoke options runDebate passes to a protocol graph. */
export interface DebateGraphInvokeOptions extends RunnableConfig {
  context: DebateContext;
  signal?: AbortSignal;
}

/** What runDebate needs of a compiled protocol graph (every graph in graphs/ satisfies it). */
export interface DebateGraph {
  invoke(input: DebateStateUpdate | null, options: DebateGraphInvokeOptions): Promise<DebateState>;
  getState(config: RunnableConfig): Promise<StateSnapshot>;
  updateState(config: RunnableConfig, values: DebateStateUpdate): Promise<RunnableConfig>;
}

/** A function that compiles one protocol's graph. */
export type ProtocolGraphFactory = (options?: ProtocolGraphOptions) => DebateGraph;

/** In a protocol's wiring: after this node, ask the convergence router (`routeAfterRound`) where to go. */
export const ROUTE = 'route';

/**
 * One protocol: its nodes and where each leads. Every protocol starts at `assess`; a node not listed is not
 * part of the protocol. The LangGraph graph (`compileProtocolGraph`) and runDebate's direct driver
 * (`runDirect`) both follow this one wiring, so the two cannot disagree on a protocol's shape.
 */
export interface ProtocolWiring {
  protocol: Protocol;
  nodes: DebateNodes;
  next: Partial<Record<DebateNodeName, DebateNodeName | typeof ROUTE | typeof END>>;
}

/** Compiles a protocol's wiring into its LangGraph graph: one node per listed node, the router as conditional edges. */
export function compileProtocolGraph(wiring: ProtocolWiring, options: ProtocolGraphOptions = {}) {
  const names = Object.keys(wiring.next) as DebateNodeName[];
  // Node names are only known at run time here, so the builder is typed with string node names.
  const builder = new StateGraph(DebateStateAnnotation) as unknown as StateGraph<
    typeof DebateStateAnnotation.spec,
    DebateState,
    DebateStateUpdate,
    string
  >;
  for (const name of names) builder.addNode(name, wiring.nodes[name]);
  builder.addEdge(START, NODE.assess);
  const afterRound = [NODE.debate, NODE.blind, NODE.consensus].filter((name) => names.includes(name));
  for (const name of names) {
    const next = wiring.next[name];
    if (next === ROUTE) builder.addConditionalEdges(name, wiring.nodes.routeAfterRound, afterRound);
    else if (next !== undefined) builder.addEdge(name, next);
  }
  return builder.compile({
    name: wiring.protocol,
    ...(options.checkpointer === undefined ? {} : { checkpointer: options.checkpointer }),
  });
}
