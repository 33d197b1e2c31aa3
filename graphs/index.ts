/**
 * Protocol graphs: one file per debate protocol, each wired from the same src/engine parts (round nodes,
 * convergence router, consensus node). This index maps a panel's `protocol` to its graph factory.
 * The graphs import engine modules directly (not src/engine/index.ts), because runDebate imports this file.
 */
import type { BaseCheckpointSaver } from '@langchain/langgraph';
import type { Protocol } from '../src/contracts/index.js';
import type { DebateGraph, ProtocolGraphFactory } from '../src/engine/debate-graph.js';
import { createJuryGraph } from './jury.js';
import { createOneByOneGraph } from './one-by-one.js';
import { createSimultaneousGraph } from './simultaneous.js';

export { createJuryGraph, createOneByOneGraph, createSimultaneousGraph };

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
