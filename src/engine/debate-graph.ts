import { AIMessage, type BaseMessage, HumanMessage } from '@langchain/core/messages';
import type { RunnableConfig } from '@langchain/core/runnables';
import {
  Annotation,
  type BaseCheckpointSaver,
  Command,
  END,
  messagesStateReducer,
  START,
  StateGraph,
  type StateSnapshot,
} from '@langchain/langgraph';
import { type ChatMessage, type DebateResult, type Protocol, TribunalError, type TurnRecord } from '../contracts/index.js';
import { contextOf, type DebateContext, type DebateNodeConfig } from './debate-context.js';
import { type DebateNodeName, type DebateNodes, NODE } from './debate-nodes.js';
import type { DebateSetup } from './debate-setup.js';
import { DebateStateAnnotation, type DebateStateUpdate, mergeDebateUpdate } from './debate-state.js';
import { type DebateReview, reviewDebate } from './human-review.js';
import { type CandidateRoundSummary, summarizeRound } from './round-summary.js';
import { type CandidateExecution, type PythonSandbox, panelUsesTools } from './tool-execution.js';

/** One round as the graph's state keeps it for Studio: each candidate's scores and spread, and whether all converged. */
export interface RoundScores {
  round: number;
  candidates: CandidateRoundSummary[];
  converged: boolean;
}

/**
 * The plain input of a debate graph, as a caller (Studio, the LangGraph SDK) gives it; the graph's prepare step turns
 * it into a `setup`. Callers that built a setup themselves (`createDebateSetup`, runDebate) give `setup` instead.
 */
export const DebateRequestAnnotation = Annotation.Root({
  /** The question or conversation the candidates answer. */
  prompt: Annotation<string | ChatMessage[] | undefined>,
  /** The answers to judge: texts (ids c1, c2, ... by position) or { id, text }. */
  candidates: Annotation<(string | { id: string; text: string })[] | undefined>,
  /** A panel id from panels/ (default "default") or an inline panel (a panel file's fields; personas by id). */
  panel: Annotation<string | Record<string, unknown> | undefined>,
  /** The model every critic speaks through, e.g. "fake:judge" or "openai:gpt-4.1-mini" (default: the CLI's choice). */
  model: Annotation<string | undefined>,
  /** Debate rounds after the independent round 0, 0..10 (default: the panel's). */
  maxRounds: Annotation<number | undefined>,
  /** An item id, kept on the result and its events. */
  id: Annotation<string | undefined>,
  /** Python tests the candidates' code runs with (HumanEval `check(candidate)` asserts), for panels with a code critic. */
  tests: Annotation<string | undefined>,
  /** The function the tests check (HumanEval's `entry_point`). */
  entryPoint: Annotation<string | undefined>,
});

/** The graph state: the debate state, the plain input, per-round scores, the chat view's messages and the review. */
export const DebateGraphStateAnnotation = Annotation.Root({
  ...DebateStateAnnotation.spec,
  ...DebateRequestAnnotation.spec,
  /** Per round: each candidate's scores, spread and convergence (what the round-end events report). */
  rounds: Annotation<RoundScores[]>({ reducer: (current, next) => current.concat(next), default: () => [] }),
  /** The prompt, then every successful critic turn as a message named after its persona, then the verdict. */
  messages: Annotation<BaseMessage[]>({ reducer: messagesStateReducer, default: () => [] }),
  /** The review step's record (panels with `escalate`): the consensus probability and any human verdict. */
  review: Annotation<DebateReview | undefined>({ reducer: (_current, next) => next, default: () => undefined }),
});

/** What a debate graph takes: the plain input, or a prepared `setup`. */
export const DebateGraphInputAnnotation = Annotation.Root({
  ...DebateRequestAnnotation.spec,
  setup: DebateStateAnnotation.spec.setup,
});

/** What a debate graph returns: the result (verdict, ranking, turns), the per-round scores, the messages and the review. */
export const DebateGraphOutputAnnotation = Annotation.Root({
  result: DebateGraphStateAnnotation.spec.result,
  rounds: DebateGraphStateAnnotation.spec.rounds,
  messages: DebateGraphStateAnnotation.spec.messages,
  review: DebateGraphStateAnnotation.spec.review,
});

/**
 * The run configuration the graphs read (`config.configurable`, or the run's `context`): an assistant's model and
 * panel. Declared on the compiled graph's type so LangGraph Studio shows it; the prepare step validates it.
 */
export const DebateGraphConfigAnnotation = Annotation.Root({
  /** The model every critic speaks through, e.g. "fake:judge" (the input's `model` beats it). */
  model: Annotation<string | undefined>,
  /** A panel id from panels/, e.g. "default" or "jury" (the input's `panel` beats it). */
  panel: Annotation<string | undefined>,
});

/**
 * A compiled debate graph as the graphs in graphs/ export it for LangGraph Studio: its type also declares the run
 * configuration (`DebateGraphConfigAnnotation`), which Studio's schema reader takes from the builder's `_configSchema`.
 * Types only: at run time the graph reads `config.configurable` (see `PrepareDebate`).
 */
export type StudioDebateGraph<G> = Omit<G, 'builder'> & {
  builder: Omit<G extends { builder: infer B } ? B : never, '_configSchema'> & {
    _configSchema?: typeof DebateGraphConfigAnnotation.spec;
  };
};

/** Declares a compiled debate graph's run configuration for Studio (`StudioDebateGraph`); returns the same graph. */
export function forStudio<G>(graph: G): StudioDebateGraph<G> {
  return graph as unknown as StudioDebateGraph<G>;
}

export type DebateGraphState = typeof DebateGraphStateAnnotation.State;
export type DebateRequest = typeof DebateRequestAnnotation.State;

/**
 * Turns a graph's plain input (and its runtime configuration, `config.configurable`) into the debate's setup. The
 * graphs in graphs/ give one that loads panels through src/config and checks the models through the registry.
 */
export type PrepareDebate = (options: {
  request: DebateRequest;
  config: DebateNodeConfig;
  protocol: Protocol;
}) => Promise<DebateSetup>;

/** Options every protocol graph factory takes. */
export interface ProtocolGraphOptions {
  /** Persists a checkpoint after every superstep; the debate id is the thread id. */
  checkpointer?: BaseCheckpointSaver;
  /** Builds the setup from plain input; without it the graph needs `{ setup }` as input. */
  prepare?: PrepareDebate;
  /**
   * The sandbox for debates whose context brings none (Studio, LangGraph Server), asked for only when the panel has
   * a critic with a tool; runDebate always passes its caller's (or none, and refuses such a panel).
   */
  sandbox?: () => PythonSandbox;
}

/** The invoke options runDebate passes to a protocol graph. */
export interface DebateGraphInvokeOptions extends RunnableConfig {
  context: DebateContext;
  signal?: AbortSignal;
}

/** What runDebate needs of a compiled protocol graph (every graph in graphs/ satisfies it). */
export interface DebateGraph {
  invoke(input: DebateStateUpdate | null, options: DebateGraphInvokeOptions): Promise<{ result?: DebateResult | undefined }>;
  getState(config: RunnableConfig): Promise<StateSnapshot>;
  updateState(config: RunnableConfig, values: DebateStateUpdate | Command): Promise<RunnableConfig>;
}

/**
 * Records `seq` in a debate's latest checkpoint, keeping where it goes next. Routing nodes return `Command`s, so a
 * plain update would leave the checkpoint with nowhere to go; this one repeats the checkpoint's own route.
 */
export async function recordDebateSeq(options: {
  graph: DebateGraph;
  config: RunnableConfig;
  seq: number;
  /** The candidates' sandbox runs so far, kept so a resume does not run them again (none: left as they are). */
  executions?: CandidateExecution[];
}): Promise<void> {
  const { graph, config, seq, executions } = options;
  const { next } = await graph.getState(config);
  const update = executions === undefined || executions.length === 0 ? { seq } : { seq, executions };
  await graph.updateState(config, new Command({ update, goto: [...next] }));
}

/** A function that compiles one protocol's graph. */
export type ProtocolGraphFactory = (options?: ProtocolGraphOptions) => DebateGraph;

/** In a protocol's wiring: after this node, ask the convergence router (`routeAfterRound`) where to go. */
export const ROUTE = 'route';

/**
 * One protocol: its nodes and where each leads. Every protocol starts at `assess`; a node not listed is not
 * part of the protocol. The LangGraph graph (`compileProtocolGraph`) and runDebate's direct driver
 * (`runDirect`) both follow this one wiring, so the two cannot disagree on a protocol's shape.
 */
export interface ProtocolWiring {
  protocol: Protocol;
  nodes: DebateNodes;
  next: Partial<Record<DebateNodeName, DebateNodeName | typeof ROUTE | typeof END>>;
}

/** The graph-only nodes around a protocol's own: the prepare step before `assess` and the review after `consensus`. */
export const GRAPH_NODE = { prepare: 'prepare', review: 'human-review' } as const;

/**
 * Compiles a protocol's wiring into its LangGraph graph: `prepare` (plain input to setup), one node per listed node,
 * and `human-review` after the consensus (human escalation, panels with `escalate`). A node that leads to the router
 * returns a `Command` whose `goto` is the router's choice on the updated state, rather than going through
 * conditional edges: the same route with about a third less LangGraph work per superstep (bench/README.md, engine).
 * Round nodes also add their successful turns to `messages` (named after the critic) and their scores to `rounds`,
 * for Studio; the events and the result are the direct driver's.
 */
export function compileProtocolGraph(wiring: ProtocolWiring, options: ProtocolGraphOptions = {}) {
  const names = Object.keys(wiring.next) as DebateNodeName[];
  // Node names are only known at run time here, so the builder is typed with string node names.
  const builder = new StateGraph(DebateGraphStateAnnotation, {
    input: DebateGraphInputAnnotation,
    output: DebateGraphOutputAnnotation,
  }) as unknown as StateGraph<
    typeof DebateGraphStateAnnotation.spec,
    DebateGraphState,
    Partial<DebateGraphState>,
    string,
    typeof DebateGraphInputAnnotation.spec,
    typeof DebateGraphOutputAnnotation.spec
  >;
  const afterRound = [NODE.debate, NODE.blind, NODE.consensus].filter((name) => names.includes(name));
  const prepare = options.prepare;
  builder.addNode(GRAPH_NODE.prepare, async (state: DebateGraphState, config: DebateNodeConfig) => {
    if (state.result !== undefined) {
      // The thread's channels (turns, rounds, seq) belong to that debate: a second one would mix with it.
      throw new TribunalError(
        'INPUT_INVALID',
        `this thread already holds the finished debate "${state.result.debateId}"; run a new debate on a new thread`,
      );
    }
    const setup =
      state.setup ?? (prepare ? await prepare({ request: requestOf(state), config, protocol: wiring.protocol }) : undefined);
    if (!setup) {
      throw new TribunalError(
        'INPUT_INVALID',
        'a debate graph needs { setup } as input: build it with createDebateSetup({ panel, input, defaultModel }) from src/engine',
      );
    }
    const prompt = setup.input.prompt;
    const message = new HumanMessage({
      content: typeof prompt === 'string' ? prompt : prompt.map((turn) => `${turn.role}: ${turn.content}`).join('\n\n'),
    });
    return { ...(state.setup ? {} : { setup }), messages: [message] };
  });
  const provideSandbox = options.sandbox;
  /** The node's config with the graph's sandbox in its context, when the panel needs one and the context has none. */
  const withSandbox = (state: DebateGraphState, config: DebateNodeConfig): DebateNodeConfig => {
    if (provideSandbox === undefined || state.setup === undefined || !panelUsesTools(state.setup.panel)) return config;
    const context = contextOf(config);
    if (context.tools?.sandbox !== undefined) return config;
    return { ...config, context: { ...context, tools: { ...context.tools, sandbox: provideSandbox() } } };
  };
  for (const name of names) {
    const node = wiring.nodes[name];
    const viewed = async (state: DebateGraphState, config: DebateNodeConfig) => {
      const update = await node(state, withSandbox(state, config));
      return { ...update, ...studioViewOf({ state, update: update as NodeUpdate }) };
    };
    if (wiring.next[name] !== ROUTE) {
      builder.addNode(name, viewed);
      continue;
    }
    const routed = async (state: DebateGraphState, config: DebateNodeConfig) => {
      const update = await viewed(state, config);
      return new Command({ update, goto: wiring.nodes.routeAfterRound(mergeDebateUpdate(state, update)) });
    };
    builder.addNode(name, routed, { ends: afterRound });
  }
  builder.addNode(
    GRAPH_NODE.review,
    async (state: DebateGraphState, config: DebateNodeConfig) => {
      if (!state.result || !state.setup) return new Command({ goto: END });
      const refused = state.review?.refused;
      // Where LangGraph's interrupt() looks for the run's checkpointer.
      const canWait = Boolean(config.configurable?.__pregel_checkpointer);
      const review = reviewDebate({
        result: state.result,
        setup: state.setup,
        canWait,
        ...(refused === undefined ? {} : { refused }),
      });
      if (review === undefined) return new Command({ goto: END });
      // A refused answer: run the review again, which interrupts again with the reason.
      return new Command({ update: { review }, goto: review.refused === undefined ? END : GRAPH_NODE.review });
    },
    { ends: [GRAPH_NODE.review, END] },
  );
  builder.addEdge(START, GRAPH_NODE.prepare);
  builder.addEdge(GRAPH_NODE.prepare, NODE.assess);
  for (const name of names) {
    const next = wiring.next[name];
    if (next === undefined || next === ROUTE) continue;
    builder.addEdge(name, name === NODE.consensus && next === END ? GRAPH_NODE.review : next);
  }
  return builder.compile({
    name: wiring.protocol,
    ...(options.checkpointer === undefined ? {} : { checkpointer: options.checkpointer }),
  });
}

function requestOf(state: DebateGraphState): DebateRequest {
  const { prompt, candidates, panel, model, maxRounds, id, tests, entryPoint } = state;
  return { prompt, candidates, panel, model, maxRounds, id, tests, entryPoint };
}

/** A node's update as the debate nodes write it: plain values, never LangGraph `Overwrite`s. */
type NodeUpdate = { turns?: TurnRecord[]; round?: number; result?: DebateResult };

/** What a round or consensus node adds for Studio: its turns as persona-named messages, its scores, the verdict. */
function studioViewOf(options: { state: DebateGraphState; update: NodeUpdate }): Partial<DebateGraphState> {
  const { state, update } = options;
  const setup = state.setup;
  const view: Partial<DebateGraphState> = {};
  if (update.turns && update.round !== undefined) {
    const turns = [...state.turns, ...update.turns];
    const summary = summarizeRound({
      setup,
      turns,
      round: update.round,
      ...(update.round === 0 || state.round < 0 ? {} : { previousRound: state.round }),
    });
    view.rounds = [{ round: update.round, candidates: summary.candidates, converged: summary.converged }];
    view.messages = update.turns.flatMap((turn) => turnMessage(turn, setup));
  }
  if (update.result) {
    const { verdict } = update.result;
    const lines = verdict.candidates.map(
      (candidate) =>
        `${candidate.rank}. ${candidate.candidateId}: ${candidate.score === null ? 'no score' : Math.round(candidate.score * 100) / 100}`,
    );
    view.messages = [
      ...(view.messages ?? []),
      new AIMessage({
        name: 'verdict',
        content: [`Ranking: ${verdict.ranking.join(' > ')}`, ...lines, ...(verdict.rationale ? [verdict.rationale] : [])].join(
          '\n',
        ),
      }),
    ];
  }
  return view;
}

function turnMessage(turn: TurnRecord, setup: DebateSetup): BaseMessage[] {
  if (turn.status !== 'ok') return [];
  const scale = setup.panel.panel.scale;
  const said = turn.assessment
    ? `${turn.assessment.score}/${scale.max} for ${turn.candidateId}: ${turn.assessment.rationale}`
    : turn.judgment
      ? `prefers ${turn.judgment.preferred === 'tie' ? 'neither' : turn.judgment.preferred === 'A' ? turn.pair?.[0] : turn.pair?.[1]} (${turn.candidateId}): ${turn.judgment.rationale}`
      : undefined;
  if (said === undefined) return [];
  return [
    new AIMessage({ id: `${setup.debateId}/${turn.turnId}`, name: turn.criticId, content: `Round ${turn.round} · ${said}` }),
  ];
}
