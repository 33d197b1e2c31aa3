import type { RunnableConfig } from '@langchain/core/runnables';
import type { BaseCheckpointSaver, StateSnapshot } from '@langchain/langgraph';
import type { DebateContext } from './debate-context.js';
import type { DebateState, DebateStateUpdate } from './debate-state.js';

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
