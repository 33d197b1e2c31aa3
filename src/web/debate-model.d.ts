/** Types of debate-model.js, for the TypeScript side (the viewer ships it as plain JavaScript). */
import type { DebateEvent, DebateEventOf, TurnError } from '../contracts/index.js';

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
  /** tool-result events by candidate id. */
  tools: Map<string, DebateEventOf<'tool-result'>>;
  /** Applies one event; returns what changed, or undefined for a stale or unknown event. */
  apply(event: DebateEvent): { kind: string; turn?: ViewerTurn; text?: string; candidateId?: string } | undefined;
}

/** A tool-result as the viewer shows it: a one-line summary, the first error with its traceback, stdout and stderr. */
export declare function toolResultView(event: DebateEventOf<'tool-result'>): {
  summary: string;
  error: string;
  stdout: string;
  stderr: string;
};

/** How a failed turn is shown: `refused` (with the stop reason and what the model said) or `failed`. */
export declare function turnFailure(turn: Pick<ViewerTurn, 'error'> | undefined): {
  label: 'refused' | 'failed';
  title: string;
  said: string;
};
