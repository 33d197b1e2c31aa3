/**
 * Protocol graphs: one file per debate protocol, each wired from the same src/engine parts (round nodes,
 * convergence router, consensus node). This index maps a panel's `protocol` to its wiring (what runDebate's
 * direct driver follows) and to its graph factory (LangGraph: with a checkpointer, and in Studio).
 * The graphs import engine modules directly (not src/engine/index.ts), because runDebate imports this file.
 */
import type { BaseCheckpointSaver } from '@langchain/langgraph';
import type { Protocol } from '../src/contracts/index.js';
import type { DebateGraph, ProtocolGraphFactory, ProtocolWiring } from '../src/engine/debate-graph.js';
import { createJuryGraph, juryWiring } from './jury.js';
import { createOneByOneGraph, oneByOneWiring } from './one-by-one.js';
import { createSimultaneousGraph, simultaneousWiring } from './simultaneous.js';

export { createJuryGraph, createOneByOneGraph, createSimultaneousGraph, juryWiring, oneByOneWiring, simultaneousWiring };

/** The nodes and wiring of each protocol, shared by its graph and runDebate's direct driver. */
export const PROTOCOL_WIRINGS: Record<Protocol, ProtocolWiring> = {
  simultaneous: simultaneousWiring,
  'one-by-one': oneByOneWiring,
  jury: juryWiring,
};

/** The graph factory of each protocol. */
export const PROTOCOL_GRAPHS: Record<Protocol, ProtocolGraphFactory> = {
  simultaneous: createSimultaneousGraph,
  'one-by-one': createOneByOneGraph,
  jury: createJuryGraph,
};

const withoutCheckpointer = new Map<Protocol, DebateGraph>();
const byCheckpointer = new WeakMap<BaseCheckpointSaver, Map<Protocol, DebateGraph>>();

/** The compiled graph of a protocol, compiled once per protocol and checkpointer and then reused. */
export function graphFor(options: { protocol: Protocol; checkpointer?: BaseCheckpointSaver }): DebateGraph {
  const { protocol, checkpointer } = options;
  let cache = withoutCheckpointer;
  if (checkpointer) {
    let forSaver = byCheckpointer.get(checkpointer);
    if (!forSaver) {
      forSaver = new Map();
      byCheckpointer.set(checkpointer, forSaver);
    }
    cache = forSaver;
  }
  let graph = cache.get(protocol);
  if (!graph) {
    graph = PROTOCOL_GRAPHS[protocol](checkpointer === undefined ? {} : { checkpointer });
    cache.set(protocol, graph);
  }
  return graph;
}
