import { END } from '@langchain/langgraph';
import type { DebateResult, TurnRecord } from '../contracts/index.js';
import { type DebateNodeName, NODE } from './debate-nodes.js';
import type { DebateState } from './debate-state.js';
import type { CandidateExecution } from './tool-execution.js';

/**
 * Where a debate run by the direct driver stands after a node: its state but the setup (rebuilt from the same
 * panel and input on resume; the panel hash guards that) and the node it goes to next (`__end__` once finished).
 */
export interface DebateSnapshot {
  v: 1;
  panelHash: string;
  next: DebateNodeName | typeof END;
  seq: number;
  round: number;
  roundsUsed: number;
  converged: boolean;
  turns: TurnRecord[];
  /** The candidates' sandbox runs so far (panels with tools): a resume reuses them instead of running the code again. */
  executions?: CandidateExecution[];
  result?: DebateResult;
}

/** Where the direct driver keeps its snapshots, by debate id (the store implements it for labeling runs). */
export interface DebateSnapshots {
  /** The last snapshot saved under `debateId` (an unknown value is ignored: the debate starts over). */
  load(debateId: string): Promise<unknown>;
  /**
   * Replaces the snapshot of `debateId`: durable when the promise resolves, or with a later write when the store
   * batches them (a labeling worker's). A debate resumed from an earlier snapshot is as valid: it redoes the nodes
   * since, as after a crash in the middle of a node.
   */
  save(debateId: string, snapshot: DebateSnapshot): Promise<void>;
}

const NODE_NAMES = new Set<string>([...Object.values(NODE), END]);

/** The snapshot of a debate's state before `next`. */
export function snapshotOf(options: { state: DebateState; next: DebateNodeName | typeof END; seq?: number }): DebateSnapshot {
  const { state, next } = options;
  return {
    v: 1,
    panelHash: state.setup.panel.hash,
    next,
    seq: options.seq ?? state.seq,
    round: state.round,
    roundsUsed: state.roundsUsed,
    converged: state.converged,
    turns: state.turns,
    ...(state.executions.length === 0 ? {} : { executions: state.executions }),
    ...(state.result === undefined ? {} : { result: state.result }),
  };
}

/** A loaded value as a snapshot, or undefined when it is none (missing, or of another version). */
export function asDebateSnapshot(value: unknown): DebateSnapshot | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const snapshot = value as Partial<DebateSnapshot>;
  if (snapshot.v !== 1 || typeof snapshot.panelHash !== 'string' || typeof snapshot.seq !== 'number') return undefined;
  if (typeof snapshot.next !== 'string' || !NODE_NAMES.has(snapshot.next) || !Array.isArray(snapshot.turns)) return undefined;
  if (snapshot.executions !== undefined && !Array.isArray(snapshot.executions)) return undefined;
  return snapshot as DebateSnapshot;
}
