import type { LangGraphRunnableConfig } from '@langchain/langgraph';
import { createModelRegistry, type ModelRegistry } from '../models/index.js';
import type { DebateEventEmitter } from './event-emitter.js';
import type { DebateTools, ExecutionMemo } from './tool-execution.js';
import type { DebateTurnCache } from './turn-cache.js';

/** What the debate nodes need at run time but never checkpoint: models, the event emitter and the abort signal. */
// A type alias, not an interface, so it fits LangGraph's index-signature context type.
export type DebateContext = {
  models: ModelRegistry;
  /** The debate's emitter; without one (LangGraph Studio) events go only to the graph's custom stream. */
  emitter?: DebateEventEmitter;
  signal?: AbortSignal;
  /** Critic turns remembered across debates; a cached turn makes no model call. */
  turnCache?: DebateTurnCache;
  /** Tools critics use (the sandbox for `run-python`); needed when a critic of the panel declares one. */
  tools?: DebateTools;
  /** This debate's sandbox runs, so the same code and tests run once per debate, not per critic and round. */
  executions?: ExecutionMemo;
  /** Join each turn's tokens into one `turn-delta` per this many ms (`TurnDeltaBuffer`); without it, one per token. */
  deltaIntervalMs?: number;
};

/** The config a debate node receives from LangGraph. */
export type DebateNodeConfig = LangGraphRunnableConfig;

let fallbackModels: ModelRegistry | undefined;

/**
 * The context of a node call. A graph invoked without one (LangGraph Studio, `graph.invoke` by hand)
 * gets the built-in `fake:*` models, so the exported graphs run out of the box.
 */
export function contextOf(config: DebateNodeConfig | undefined): DebateContext {
  const context = config?.context as Partial<DebateContext> | undefined;
  if (context?.models) return context as DebateContext;
  fallbackModels ??= createModelRegistry();
  const fallback: DebateContext = { models: fallbackModels };
  const signal = context?.signal ?? config?.signal;
  if (signal) fallback.signal = signal;
  return fallback;
}
