import { Annotation } from '@langchain/langgraph';
import type { DebateResult, TurnRecord } from '../contracts/index.js';
import type { DebateSetup } from './debate-setup.js';
import type { CandidateExecution } from './tool-execution.js';

/** The initial value of every state field but the setup (the direct driver starts from these too). */
export const DEBATE_STATE_DEFAULTS = { seq: 0, round: -1, roundsUsed: 0, converged: false } as const;

/** The reducers of the state fields that do not simply take the latest value (the direct driver applies them too). */
export const DEBATE_STATE_REDUCERS = {
  seq: (current: number, next: number): number => Math.max(current, next),
  turns: (current: TurnRecord[], next: TurnRecord[]): TurnRecord[] => current.concat(next),
};

/**
 * The graph state of one debate. It stays small: the setup, the turn records (assessments, not token
 * streams), where the debate stands, and the seq of the next event so a resumed debate continues it.
 */
export const DebateStateAnnotation = Annotation.Root({
  setup: Annotation<DebateSetup>,
  /** The seq the next event gets; never decreases. */
  seq: Annotation<number>({ reducer: DEBATE_STATE_REDUCERS.seq, default: () => DEBATE_STATE_DEFAULTS.seq }),
  /** The last round held (-1 before round 0; the blind vote's index once it ran). */
  round: Annotation<number>({ reducer: (_current, next) => next, default: () => DEBATE_STATE_DEFAULTS.round }),
  /** The last debate round held (0 when the debate stopped after the independent round). */
  roundsUsed: Annotation<number>({ reducer: (_current, next) => next, default: () => DEBATE_STATE_DEFAULTS.roundsUsed }),
  /** Whether every candidate converged in the last round held. */
  converged: Annotation<boolean>({ reducer: (_current, next) => next, default: () => DEBATE_STATE_DEFAULTS.converged }),
  /** Every critic turn so far, in round order; nodes append. */
  turns: Annotation<TurnRecord[]>({ reducer: DEBATE_STATE_REDUCERS.turns, default: () => [] }),
  /**
   * The sandbox runs of the candidates (panels with tools), in the order they were first emitted as `tool-result`
   * events: a resumed debate reuses them (no second run, the same prompts) and emits them again after its `debate-start`.
   */
  executions: Annotation<CandidateExecution[]>({ reducer: (_current, next) => next, default: () => [] }),
  /** The finished debate, written by the consensus node. */
  result: Annotation<DebateResult | undefined>({ reducer: (_current, next) => next, default: () => undefined }),
});

export type DebateState = typeof DebateStateAnnotation.State;
export type DebateStateUpdate = typeof DebateStateAnnotation.Update;

/** Applies a node's update as the graph does: `seq` and `turns` through their reducers; any other field given replaces its value. */
export function mergeDebateUpdate(state: DebateState, update: DebateStateUpdate): DebateState {
  const merged: DebateState = { ...state };
  for (const [key, value] of Object.entries(update) as [keyof DebateState, unknown][]) {
    if (value === undefined) continue;
    if (key === 'seq') merged.seq = DEBATE_STATE_REDUCERS.seq(state.seq, value as number);
    else if (key === 'turns') merged.turns = DEBATE_STATE_REDUCERS.turns(state.turns, value as DebateState['turns']);
    else (merged as Record<string, unknown>)[key] = value;
  }
  return merged;
}
