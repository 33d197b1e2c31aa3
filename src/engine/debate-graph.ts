import type { RunnableConfig } from '@langchain/core/runnables';
import { type BaseCheckpointSaver, Command, type END, START, StateGraph, type StateSnapshot } from '@langchain/langgraph';
import type { Protocol } from '../contracts/index.js';
import type { DebateContext, DebateNodeConfig } from './debate-context.js';
import { type DebateNodeName, type DebateNodes, NODE } from './debate-nodes.js';
import { type DebateState, DebateStateAnnotation, type DebateStateUpdate, mergeDebateUpdate } from './debate-state.js';

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
  updateState(config: RunnableConfig, values: DebateStateUpdate | Command): Promise<RunnableConfig>;
}

/**
 * Records `seq` in a debate's latest checkpoint, keeping where it goes next. Routing nodes return `Command`s, so a
 * plain update would leave the checkpoint with nowhere to go; this one repeats the checkpoint's own route.
 */
export async function recordDebateSeq(options: { graph: DebateGraph; config: RunnableConfig; seq: number }): Promise<void> {
  const { graph, config, seq } = options;
  const { next } = await graph.getState(config);
  await graph.updateState(config, new Command({ update: { seq }, goto: [...next] }));
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

/**
 * Compiles a protocol's wiring into its LangGraph graph: one node per listed node. A node that leads to the router
 * returns a `Command` whose `goto` is the router's choice on the updated state, rather than going through
 * conditional edges: the same route with about a third less LangGraph work per superstep (bench/README.md, engine).
 */
export function compileProtocolGraph(wiring: ProtocolWiring, options: ProtocolGraphOptions = {}) {
  const names = Object.keys(wiring.next) as DebateNodeName[];
  // Node names are only known at run time here, so the builder is typed with string node names.
  const builder = new StateGraph(DebateStateAnnotation) as unknown as StateGraph<
    typeof DebateStateAnnotation.spec,
    DebateState,
    DebateStateUpdate,
    string
  >;
  const afterRound = [NODE.debate, NODE.blind, NODE.consensus].filter((name) => names.includes(name));
  for (const name of names) {
    const node = wiring.nodes[name];
    if (wiring.next[name] !== ROUTE) {
      builder.addNode(name, node);
      continue;
    }
    const routed = async (state: DebateState, config: DebateNodeConfig) => {
      const update = await node(state, config);
      return new Command({ update, goto: wiring.nodes.routeAfterRound(mergeDebateUpdate(state, update)) });
    };
    builder.addNode(name, routed, { ends: afterRound });
  }
  builder.addEdge(START, NODE.assess);
  for (const name of names) {
    const next = wiring.next[name];
    if (next !== undefined && next !== ROUTE) builder.addEdge(name, next);
  }
  return builder.compile({
    name: wiring.protocol,
    ...(options.checkpointer === undefined ? {} : { checkpointer: options.checkpointer }),
  });
}
