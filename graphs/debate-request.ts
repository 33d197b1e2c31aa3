/**
 * Plain input for the debate graphs: `{ prompt, candidates, panel?, model?, maxRounds? }` (what Studio and a LangGraph
 * SDK client send; `tests`/`entryPoint` for a code panel), validated here and turned into the debate's setup by loading the panel, its personas and
 * constitution (src/config) and checking every model against the registry (src/models). Model and panel can also come
 * from the run's configuration (`config.configurable`, or the run's context), so a Studio assistant is configured once.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { BUILTIN_ROOT, isPathReference, loadPanel, resolvePanel } from '../src/config/index.js';
import {
  type Candidate,
  DebateTestsSchema,
  IdSchema,
  ModelIdSchema,
  type PanelInput,
  type Protocol,
  type ResolvedPanel,
  TribunalError,
} from '../src/contracts/index.js';
import { contextOf, type DebateNodeConfig } from '../src/engine/debate-context.js';
import type { DebateRequest, PrepareDebate } from '../src/engine/debate-graph.js';
import { createDebateSetup, type DebateSetup, VERIFIER_MODEL } from '../src/engine/debate-setup.js';
import { loadSettings, resolveDefaultModel } from '../src/models/index.js';

/** Most candidates one debate takes. */
export const MAX_CANDIDATES = 64;
/** Longest prompt, candidate or chat message text, in characters. */
export const MAX_TEXT_CHARS = 200_000;
/** Most messages in a conversation prompt. */
export const MAX_PROMPT_MESSAGES = 200;
/** Largest inline panel, as JSON characters. */
export const MAX_INLINE_PANEL_CHARS = 64_000;

const text = z.string().max(MAX_TEXT_CHARS, `longer than ${MAX_TEXT_CHARS} characters`);
const nullAsMissing = (value: unknown) => (value === null ? undefined : value);

/** One candidate of the plain input: its text (ids c1, c2, ... by position) or `{ id, text }`. */
export const CandidateInputSchema = z.union([
  text,
  z
    .object({
      id: z.string().min(1).max(200),
      text,
      model: z.string().max(500).optional(),
    })
    .strict(),
]);

/** The plain input of a debate graph. */
export const DebateRequestSchema = z.object({
  prompt: z.union([
    text.min(1, 'give the question the candidates answer'),
    z
      .array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: text }).strict())
      .min(1)
      .max(MAX_PROMPT_MESSAGES),
  ]),
  candidates: z
    .array(CandidateInputSchema)
    .min(1, 'give at least one candidate answer')
    .max(MAX_CANDIDATES, `at most ${MAX_CANDIDATES} candidates`),
  panel: z.preprocess(nullAsMissing, z.union([IdSchema.max(200), z.record(z.string(), z.unknown())]).optional()),
  model: z.preprocess(nullAsMissing, ModelIdSchema.max(1000).optional()),
  maxRounds: z.preprocess(nullAsMissing, z.number().int().min(0).max(10).optional()),
  id: z.preprocess(nullAsMissing, z.string().min(1).max(200).optional()),
  /** Python tests for the candidates' code (panels with a code critic), HumanEval style; bounded as `execution.tests`. */
  tests: z.preprocess(nullAsMissing, DebateTestsSchema.shape.tests.optional()),
  /** The function the tests check; needs `tests`. */
  entryPoint: z.preprocess(nullAsMissing, DebateTestsSchema.shape.entryPoint),
});
export type DebateRequestInput = z.infer<typeof DebateRequestSchema>;

/** The runtime configuration a graph reads (`config.configurable`): a Studio assistant's settings. */
export const DebateConfigurableSchema = z.object({
  model: z.preprocess(nullAsMissing, ModelIdSchema.max(1000).optional()),
  panel: z.preprocess(nullAsMissing, IdSchema.max(200).optional()),
});

/**
 * Validates plain input and the run's configuration and builds the setup: the panel (an id from panels/ beside the
 * working directory or the built-in ones, or an inline panel whose personas and constitution are ids), with the
 * graph's protocol and any `maxRounds`; the model (input beats configuration beats panel beats environment, as the
 * CLI's --model) checked against the registry.
 * @example const setup = await resolveDebateRequest({ request: { prompt: 'Capital of Australia?', candidates: ['Canberra', 'Sydney'], model: 'fake:judge' }, protocol: 'jury' });
 */
export async function resolveDebateRequest(options: {
  request: Partial<DebateRequest>;
  protocol: Protocol;
  configurable?: Record<string, unknown> | undefined;
  cwd?: string;
}): Promise<DebateSetup> {
  const request = parseOrThrow(DebateRequestSchema, options.request, 'debate input');
  if (request.entryPoint !== undefined && request.tests === undefined) {
    throw new TribunalError(
      'INPUT_INVALID',
      'debate input is invalid: entryPoint: give tests too (the entry point is what they check)',
    );
  }
  const configurable = parseOrThrow(
    DebateConfigurableSchema,
    { model: options.configurable?.model, panel: options.configurable?.panel },
    'configurable',
  );
  const cwd = options.cwd ?? process.cwd();
  const panelRef = request.panel ?? configurable.panel ?? 'default';
  const loaded = typeof panelRef === 'string' ? await loadPanelById(panelRef, cwd) : await resolveInlinePanel(panelRef);
  const panel: ResolvedPanel = {
    ...loaded,
    panel: {
      ...loaded.panel,
      protocol: options.protocol,
      ...(request.maxRounds === undefined ? {} : { maxRounds: request.maxRounds }),
    },
  };
  const candidates: Candidate[] = request.candidates.map((candidate, index) =>
    typeof candidate === 'string' ? { id: `c${index + 1}`, text: candidate } : candidate,
  );
  const model = request.model ?? configurable.model;
  const defaultModel = resolveDefaultModel({ explicit: model, panelModel: panel.panel.model, settings: loadSettings() });
  return createDebateSetup({
    panel,
    input: {
      ...(request.id === undefined ? {} : { id: request.id }),
      prompt: request.prompt,
      candidates,
      ...(request.tests === undefined
        ? {}
        : {
            execution: { tests: request.tests, ...(request.entryPoint === undefined ? {} : { entryPoint: request.entryPoint }) },
          }),
    },
    defaultModel: defaultModel.id,
    ...(model === undefined ? {} : { modelOverride: model }),
  });
}

/** The prepare step of the graphs in graphs/: `resolveDebateRequest`, then every model resolved so an unknown one fails first. */
export const prepareDebate: PrepareDebate = async ({ request, config, protocol }) => {
  const setup = await resolveDebateRequest({ request, protocol, configurable: configurableOf(config) });
  const { models } = contextOf(config);
  await Promise.all(
    [...new Set([...Object.values(setup.models), ...(setup.chairModel === undefined ? [] : [setup.chairModel])])]
      .filter((id) => id !== VERIFIER_MODEL)
      .map((id) => models.resolve(id)),
  );
  return setup;
};

/** The run's `model` and `panel` settings: from `config.configurable`, else from the run's context (LangGraph 1.x assistants). */
function configurableOf(config: DebateNodeConfig): Record<string, unknown> {
  const fields = (value: unknown): Record<string, unknown> =>
    value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  const configurable = fields(config.configurable);
  const context = fields(config.context);
  return { model: configurable.model ?? context.model, panel: configurable.panel ?? context.panel };
}

/** `panels/<id>.yaml` (or .yml) in the working directory, then the built-in panels. */
async function loadPanelById(id: string, cwd: string): Promise<ResolvedPanel> {
  const dirs = [...new Set([path.join(cwd, 'panels'), path.join(BUILTIN_ROOT, 'panels')])];
  for (const dir of dirs) {
    for (const extension of ['.yaml', '.yml']) {
      const file = path.join(dir, `${id}${extension}`);
      if (existsSync(file)) return loadPanel({ file, cwd });
    }
  }
  throw new TribunalError(
    'INPUT_INVALID',
    `panel: no panel "${id}" in ${dirs.join(', ')}; give the id of a panel file there (e.g. "default") or an inline panel`,
  );
}

/** An inline panel: validated like a panel file; its personas, chair and constitution must be ids, never file paths. */
async function resolveInlinePanel(panel: Record<string, unknown>): Promise<ResolvedPanel> {
  if (JSON.stringify(panel).length > MAX_INLINE_PANEL_CHARS) {
    throw new TribunalError('INPUT_INVALID', `panel: an inline panel is limited to ${MAX_INLINE_PANEL_CHARS} characters of JSON`);
  }
  const references: [string, unknown][] = [
    ['panel.constitution', panel.constitution],
    ['panel.chair', panel.chair],
  ];
  if (Array.isArray(panel.personas)) {
    panel.personas.forEach((member: unknown, index) => {
      const reference = member !== null && typeof member === 'object' ? (member as { persona?: unknown }).persona : member;
      references.push([`panel.personas.${index}`, reference]);
    });
  }
  for (const [field, reference] of references) {
    if (typeof reference === 'string' && isPathReference(reference)) {
      throw new TribunalError(
        'INPUT_INVALID',
        `${field}: "${reference.slice(0, 200)}" is a file path; an inline panel names personas and constitutions by id (a file in personas/ or constitutions/)`,
      );
    }
  }
  // resolvePanel validates the raw object against PanelSchema, naming each bad field.
  return resolvePanel({ panel: panel as PanelInput });
}

function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const detail = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
  throw new TribunalError('INPUT_INVALID', `${what} is invalid: ${detail}`);
}
