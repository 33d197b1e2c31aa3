import type { Critic, ResolvedPanel, TurnRecord } from '../contracts/index.js';
import type { DebateContext } from './debate-context.js';
import { type DebateSetup, othersOrderKey, type Subject, subjectsFor } from './debate-setup.js';
import type { DebateEventInit } from './event-emitter.js';
import { runTurn } from './run-turn.js';
import { sampledPrinciple } from './sampled-principle.js';
import { seededShuffle } from './seeded-order.js';
import { buildSystemPrompt } from './system-prompt.js';
import { type CandidateExecution, executeCandidates, executionBlock, panelUsesTools } from './tool-execution.js';
import { buildTurnMessages, type TurnKind, type TurnView } from './turn-messages.js';

/** How critics take their turns within a round: all at once, or one after another seeing the turns already given. */
export type SpeakingOrder = 'simultaneous' | 'sequential';

const systemPrompts = new WeakMap<ResolvedPanel, Map<string, string>>();

/** A critic's system prompt, built once per panel and critic. */
export function systemPromptFor(options: { panel: ResolvedPanel; critic: Critic }): string {
  let byCritic = systemPrompts.get(options.panel);
  if (!byCritic) {
    byCritic = new Map();
    systemPrompts.set(options.panel, byCritic);
  }
  let prompt = byCritic.get(options.critic.id);
  if (prompt === undefined) {
    prompt = buildSystemPrompt(options);
    byCritic.set(options.critic.id, prompt);
  }
  return prompt;
}

/**
 * Runs one round: every critic judges every subject. `simultaneous` runs all critic x subject turns
 * concurrently (the models' limiter bounds them); `sequential` lets critics speak in panel order in debate
 * rounds, each seeing the turns the earlier ones gave this round, with each critic's subjects still run
 * concurrently (round 0 and the blind vote always run simultaneously).
 * Returns the round's turn records in critic, then subject, order.
 */
export async function runRound(options: {
  setup: DebateSetup;
  /** Every turn before this round. */
  history: readonly TurnRecord[];
  round: number;
  kind: TurnKind;
  order: SpeakingOrder;
  context: DebateContext;
  emit: (event: DebateEventInit) => void;
}): Promise<TurnRecord[]> {
  const { setup, round, kind } = options;
  const critics = setup.panel.critics;
  const subjectsByCritic = new Map(critics.map((critic) => [critic.id, subjectsFor({ setup, critic })]));
  const subjectsOfCritic = (critic: Critic): Subject[] => subjectsByCritic.get(critic.id) ?? [];
  const randomizeOrder = setup.panel.panel.randomizeOrder === true;
  const principleIds = setup.panel.constitution.principles.map((principle) => principle.id);
  // With a tool on the panel, every candidate runs in the sandbox first (once per debate: memoized in the context), and
  // every critic reads the results in every round.
  const executions = panelUsesTools(setup.panel)
    ? await executeCandidates({ setup, context: options.context, emit: options.emit })
    : undefined;
  const executionsOf = (subject: Subject): CandidateExecution[] | undefined =>
    executions &&
    subject.candidates.flatMap((candidate) => {
      const execution = executions.get(candidate.id);
      return execution ? [execution] : [];
    });
  const turnFor = (critic: Critic, subject: Subject, history: HistoryIndex) => {
    const principle = sampledPrinciple({ panel: setup.panel, critic, prompt: setup.input.prompt, subject });
    const subjectExecutions = executionsOf(subject);
    return runTurn({
      context: options.context,
      emit: options.emit,
      critic,
      model: setup.models[critic.id] ?? '',
      subject,
      round,
      scale: setup.panel.panel.scale,
      principleIds,
      ...(principle === undefined ? {} : { principle: principle.id }),
      temperature: critic.temperature,
      maxTokens: setup.panel.panel.maxTokens,
      ...(subjectExecutions === undefined ? {} : { executions: subjectExecutions }),
      messages: buildTurnMessages({
        system: systemPromptFor({ panel: setup.panel, critic }),
        prompt: setup.input.prompt,
        subject,
        round,
        kind,
        ...viewsFor({
          critic,
          critics,
          subject,
          kind,
          history,
          ...(randomizeOrder ? { othersKey: othersOrderKey({ setup, critic, subject, round }) } : {}),
        }),
        ...(principle === undefined ? {} : { principle }),
        ...(subjectExecutions === undefined || subjectExecutions.length === 0
          ? {}
          : {
              execution: executionBlock(
                subjectExecutions.map((execution, index) => ({
                  label: subject.pair === undefined ? 'The candidate' : `Answer ${index === 0 ? 'A' : 'B'}`,
                  execution,
                })),
              ),
            }),
      }),
    });
  };

  // Round 0 and the blind vote are independent by definition, so only debate rounds honour the speaking order.
  if (options.order === 'simultaneous' || kind !== 'debate') {
    const history = indexHistory(options.history);
    return Promise.all(critics.flatMap((critic) => subjectsOfCritic(critic).map((subject) => turnFor(critic, subject, history))));
  }
  const records: TurnRecord[] = [];
  for (const critic of critics) {
    const history = indexHistory(records.length === 0 ? options.history : [...options.history, ...records]);
    records.push(...(await Promise.all(subjectsOfCritic(critic).map((subject) => turnFor(critic, subject, history)))));
  }
  return records;
}

/** Successful turns by subject, in the order given. */
type HistoryIndex = Map<string, TurnRecord[]>;

function indexHistory(turns: readonly TurnRecord[]): HistoryIndex {
  const index: HistoryIndex = new Map();
  for (const turn of turns) {
    if (turn.status !== 'ok') continue;
    const list = index.get(turn.candidateId);
    if (list) list.push(turn);
    else index.set(turn.candidateId, [turn]);
  }
  return index;
}

function viewsFor(options: {
  critic: Critic;
  critics: readonly Critic[];
  subject: Subject;
  kind: TurnKind;
  history: HistoryIndex;
  /** When set, the other critics' turns are shown in an order drawn from this key rather than panel order. */
  othersKey?: string;
}): { own?: TurnView; others?: TurnView[]; transcript?: TurnView[] } {
  if (options.kind === 'assess') return {};
  const turns = options.history.get(options.subject.id) ?? [];
  const byId = new Map(options.critics.map((critic) => [critic.id, critic]));
  const latest = new Map<string, TurnRecord>();
  for (const turn of turns) latest.set(turn.criticId, turn);
  const ownTurn = latest.get(options.critic.id);
  const views: { own?: TurnView; others?: TurnView[]; transcript?: TurnView[] } = {};
  if (ownTurn) views.own = viewOf(ownTurn, byId);
  if (options.kind === 'debate') {
    const others = options.critics.filter((critic) => critic.id !== options.critic.id);
    views.others = (options.othersKey === undefined ? others : seededShuffle(others, options.othersKey)).flatMap((critic) => {
      const turn = latest.get(critic.id);
      return turn ? [viewOf(turn, byId)] : [];
    });
  } else {
    views.transcript = turns.map((turn) => viewOf(turn, byId));
  }
  return views;
}

function viewOf(turn: TurnRecord, critics: Map<string, Critic>): TurnView {
  const critic = critics.get(turn.criticId);
  return {
    criticId: turn.criticId,
    name: critic?.name ?? turn.criticId,
    focus: critic?.focus ?? '',
    round: turn.round,
    ...(turn.assessment === undefined ? {} : { assessment: turn.assessment }),
    ...(turn.judgment === undefined ? {} : { judgment: turn.judgment }),
  };
}
