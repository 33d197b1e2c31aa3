import { Annotation } from '@langchain/langgraph';
import type { DebateResult, TurnRecord } from '../contracts/index.js';
import type { DebateSetup } from './debate-setup.js';

/**
 * The graph state of one debate. It stays small: the setup, the turn records (assessments, not token
 * streams), where the debate stands, and the seq of the next event so a resumed debate continues it.
 */
export const DebateStateAnnotation = Annotation.Root({
  setup: Annotation<DebateSetup>,
  /** The seq the next event gets; never decreases. */
  seq: Annotation<number>({ reducer: (current, next) => Math.max(current, next), default: () => 0 }),
  /** The last round held (-1 before round 0; the blind vote's index once it ran). */
  round: Annotation<number>({ reducer: (_current, next) => next, default: () => -1 }),
  /** The last debate round held (0 when the debate stopped after the independent round). */
  roundsUsed: Annotation<number>({ reducer: (_current, next) => next, default: () => 0 }),
  /** Whether every candidate converged in the last round held. */
  converged: Annotation<boolean>({ reducer: (_current, next) => next, default: () => false }),
  /** Every critic turn so far, in round order; nodes append. */
  turns: Annotation<TurnRecord[]>({ reducer: (current, next) => current.concat(next), default: () => [] }),
  /** The finished debate, written by the consensus node. */
  result: Annotation<DebateResult | undefined>({ reducer: (_current, next) => next, default: () => undefined }),
});

export type DebateState = typeof DebateStateAnnotation.State;
export type DebateStateUpdate = typeof DebateStateAnnotation.Update;
