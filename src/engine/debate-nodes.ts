import { addUsage, type DebateResult, type Protocol, TribunalError, type Verdict, ZERO_USAGE } from '../contracts/index.js';
import { computeVerdict } from './consensus.js';
import { contextOf, type DebateContext, type DebateNodeConfig } from './debate-context.js';
import type { DebateSetup } from './debate-setup.js';
import type { DebateState, DebateStateUpdate } from './debate-state.js';
import { createEventEmitter, type DebateEventEmitter, type DebateEventInit } from './event-emitter.js';
import { summarizeRound } from './round-summary.js';
import { runChair } from './run-chair.js';
import { runRound, type SpeakingOrder } from './run-round.js';
import { executionsSoFar, restoreExecutions } from './tool-execution.js';
import type { TurnKind } from './turn-messages.js';

/** Node names shared by every protocol graph. */
export const NODE = { assess: 'assess', debate: 'debate', blind: 'blind', consensus: 'consensus' } as const;

/** The name of a protocol node. */
export type DebateNodeName = (typeof NODE)[keyof typeof NODE];

/** Where the debate goes after a round. */
export type AfterRound = typeof NODE.debate | typeof NODE.blind | typeof NODE.consensus;

/** A protocol node: reads the state and returns its update (merged by the state's reducers). */
export type DebateNode = (state: DebateState, config: DebateNodeConfig) => Promise<DebateStateUpdate>;

/** The nodes and the convergence router a protocol graph is wired from. */
export interface DebateNodes {
  /** Round 0: every critic judges every candidate independently. */
  assess: DebateNode;
  /** One debate round (1..maxRounds). */
  debate: DebateNode;
  /** The blind final vote, at round maxRounds + 1. */
  blind: DebateNode;
  /** Consensus, the chair's rationale, then the verdict and debate-end events. */
  consensus: DebateNode;
  /** After a round: debate again until every candidate converged or maxRounds is reached, then the blind vote or consensus. */
  routeAfterRound: (state: DebateState) => AfterRound;
}

/**
 * Creates the nodes of a protocol: each round node runs all of its round's turns inside one superstep, so a
 * debate costs one superstep per round plus one for the consensus.
 */
export function createDebateNodes(options: { protocol: Protocol; order: SpeakingOrder }): DebateNodes {
  const { protocol, order } = options;
  const roundNode =
    (kind: TurnKind): DebateNode =>
    async (state, config) => {
      const setup = requireSetup(state);
      const { context, emit, emitter } = openEvents({ state, config, protocol });
      const round = kind === 'assess' ? 0 : kind === 'debate' ? state.round + 1 : setup.panel.panel.maxRounds + 1;
      const records = await runRound({ setup, history: state.turns, round, kind, order, context, emit });
      const summary = summarizeRound({
        setup,
        turns: [...state.turns, ...records],
        round,
        ...(kind === 'assess' ? {} : { previousRound: state.round }),
      });
      emit({ type: 'round-end', round, candidates: summary.candidates, converged: summary.converged });
      return {
        turns: records,
        round,
        roundsUsed: kind === 'blind' ? state.roundsUsed : round,
        converged: summary.converged,
        executions: executionsSoFar(context),
        seq: emitter.nextSeq,
      };
    };

  const consensus: DebateNode = async (state, config) => {
    const setup = requireSetup(state);
    const { context, emit, emitter } = openEvents({ state, config, protocol });
    const consensusRound = Math.max(0, state.round);
    const roundsHeld = Array.from({ length: state.roundsUsed + 1 }, (_, index) => index);
    if (state.round > state.roundsUsed) roundsHeld.push(state.round);
    const base = computeVerdict({ setup, turns: state.turns, consensusRound, roundsHeld, roundsUsed: state.roundsUsed });
    const chair = setup.panel.chair;
    // With no scored candidate there is no consensus to explain: a chair call would only cost.
    const anyScore = base.candidates.some((line) => line.score !== null);
    const chairTurn =
      chair && setup.chairModel && anyScore
        ? await runChair({ setup, chair, model: setup.chairModel, context, verdict: base, turns: state.turns, consensusRound })
        : undefined;
    const verdict: Verdict = { ...base, ...(chairTurn?.rationale === undefined ? {} : { rationale: chairTurn.rationale }) };
    emit({ type: 'verdict', ...verdict });
    let usage = chairTurn?.usage ?? ZERO_USAGE;
    let failedTurns = 0;
    for (const turn of state.turns) {
      usage = addUsage(usage, turn.usage);
      if (turn.status === 'failed') failedTurns++;
    }
    emit({ type: 'debate-end', usage, turns: state.turns.length, failedTurns });
    const result: DebateResult = {
      runId: emitter.runId,
      debateId: setup.debateId,
      protocol,
      verdict,
      turns: state.turns,
      usage,
      failedTurns,
    };
    if (setup.itemId !== undefined) result.itemId = setup.itemId;
    if (chairTurn) result.chair = chairTurn;
    return { result, seq: emitter.nextSeq };
  };

  return {
    assess: roundNode('assess'),
    debate: roundNode('debate'),
    blind: roundNode('blind'),
    consensus,
    routeAfterRound(state) {
      const { maxRounds, blindFinalVote } = requireSetup(state).panel.panel;
      if (!state.converged && state.round < maxRounds) return NODE.debate;
      return blindFinalVote ? NODE.blind : NODE.consensus;
    },
  };
}

function requireSetup(state: DebateState): DebateSetup {
  if (!state.setup) {
    throw new TribunalError(
      'INPUT_INVALID',
      'a debate graph needs { setup } as input: build it with createDebateSetup({ panel, input, defaultModel }) from src/engine',
    );
  }
  return state.setup;
}

/**
 * Opens a node's event channel: the run's emitter (or, without one, a fresh emitter continuing the seq
 * kept in state), delivering to `onEvent` and LangGraph's custom stream. Emits `debate-start` first when
 * this run has not emitted it yet (also on resume, continuing the seq).
 */
function openEvents(options: { state: DebateState; config: DebateNodeConfig; protocol: Protocol }): {
  context: DebateContext;
  emitter: DebateEventEmitter;
  emit: (event: DebateEventInit) => void;
} {
  const { state, config } = options;
  const setup = state.setup;
  const context = contextOf(config);
  const emitter = context.emitter ?? createEventEmitter({ runId: setup.runId, debateId: setup.debateId, startSeq: state.seq });
  emitter.advanceTo(state.seq);
  const writer = config.writer;
  const emit = writer
    ? (event: DebateEventInit) => {
        const stamped = emitter.emit(event);
        if (stamped) writer(stamped);
      }
    : (event: DebateEventInit) => {
        emitter.emit(event);
      };
  const starting = !emitter.started && (context.emitter !== undefined || state.seq === 0);
  if (starting) emit(debateStartOf(setup, options.protocol));
  // Runs the state already holds are not run again; a resumed stream (one that starts here) carries them again.
  restoreExecutions({ context, executions: state.executions ?? [], ...(starting ? { emit } : {}) });
  return { context, emitter, emit };
}

function debateStartOf(setup: DebateSetup, protocol: Protocol): DebateEventInit {
  const { panel, critics, constitution, hash } = setup.panel;
  return {
    type: 'debate-start',
    ...(setup.itemId === undefined ? {} : { itemId: setup.itemId }),
    panel: {
      id: panel.id,
      hash,
      protocol,
      mode: panel.mode,
      scale: panel.scale,
      maxRounds: protocol === 'jury' ? 0 : panel.maxRounds,
      tolerance: panel.tolerance,
      aggregation: panel.aggregation,
      constitution: { id: constitution.id, version: constitution.version, hash: constitution.hash },
    },
    critics: critics.map((critic) => ({
      id: critic.id,
      name: critic.name,
      focus: critic.focus,
      weight: critic.weight,
      model: setup.models[critic.id] ?? '',
    })),
    prompt: setup.input.prompt,
    candidates: setup.input.candidates,
  };
}
