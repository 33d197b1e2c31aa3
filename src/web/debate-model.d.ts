/** Types of debate-model.js, for the TypeScript side (the viewer ships it as plain JavaScript). */
import type { DebateEvent, TurnError } from '../contracts/index.js';

/** One turn as the viewer keeps it. */
export interface ViewerTurn {
  turnId: string;
  round: number;
  criticId: string;
  candidateId: string;
  raw: string;
  text: string;
  status: 'streaming' | 'ok' | 'failed' | 'cached';
  score?: number | undefined;
  preferred?: string | undefined;
  error?: TurnError | undefined;
}

/** The state of one debate, folded from its event stream. */
export declare class DebateModel {
  turns: Map<string, ViewerTurn>;
  /** Applies one event; returns what changed, or undefined for a stale or unknown event. */
  apply(event: DebateEvent): { kind: string; turn?: ViewerTurn; text?: string } | undefined;
}

/** How a failed turn is shown: `refused` (with the stop reason and what the model said) or `failed`. */
export declare function turnFailure(turn: Pick<ViewerTurn, 'error'> | undefined): {
  label: 'refused' | 'failed';
  title: string;
  said: string;
};
