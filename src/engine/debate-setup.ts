import { createHash, randomUUID } from 'node:crypto';
import {
  type Candidate,
  type Critic,
  type DebateInput,
  DebateInputSchema,
  type ResolvedPanel,
  TribunalError,
} from '../contracts/index.js';
import { seedOf } from './seeded-order.js';

/** The model id a verifier's turns record: it makes no model call. */
export const VERIFIER_MODEL = 'verifier:run-python';

/** Everything a debate graph needs to know about its debate; fixed when the debate starts and kept in the checkpoint. */
export interface DebateSetup {
  runId: string;
  debateId: string;
  itemId?: string;
  panel: ResolvedPanel;
  input: DebateInput;
  /** criticId -> the model id that critic speaks through. */
  models: Record<string, string>;
  /** The chair's model id, when the panel has a chair. */
  chairModel?: string;
}

/** What one turn judges: a candidate (pointwise) or an ordered pair of candidates shown as A and B (pairwise). */
export interface Subject {
  /** The candidate id, or "a-vs-b" for the pair shown with a as A. */
  id: string;
  candidates: Candidate[];
  pair?: [string, string];
}

/**
 * Validates a debate's input against its panel and fixes its ids and models: `modelOverride` beats the
 * critic's own model, which beats `defaultModel`.
 */
export function createDebateSetup(options: {
  panel: ResolvedPanel;
  input: DebateInput;
  defaultModel: string;
  modelOverride?: string;
  runId?: string;
  debateId?: string;
  itemId?: string;
}): DebateSetup {
  const { panel } = options;
  const parsed = DebateInputSchema.safeParse(options.input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new TribunalError('INPUT_INVALID', `debate input is invalid: ${detail}`);
  }
  const input = parsed.data;
  const candidateIds = input.candidates.map((candidate) => candidate.id);
  const duplicateCandidate = candidateIds.find((id, index) => candidateIds.indexOf(id) !== index);
  if (duplicateCandidate !== undefined) {
    throw new TribunalError(
      'INPUT_INVALID',
      `candidate id "${duplicateCandidate}" appears twice; give every candidate a unique id`,
    );
  }
  if (panel.panel.mode === 'pairwise' && input.candidates.length < 2) {
    throw new TribunalError(
      'INPUT_INVALID',
      `panel "${panel.panel.id}" compares pairs but the input has one candidate; give two or more`,
    );
  }
  if (panel.critics.length === 0) throw new TribunalError('PANEL_INVALID', `panel "${panel.panel.id}" has no critics`);
  const criticIds = panel.critics.map((critic) => critic.id);
  const duplicateCritic = criticIds.find((id, index) => criticIds.indexOf(id) !== index);
  if (duplicateCritic !== undefined) {
    throw new TribunalError('PANEL_INVALID', `critic "${duplicateCritic}" sits on panel "${panel.panel.id}" twice`);
  }
  const modelFor = (own: string | undefined): string => options.modelOverride ?? own ?? options.defaultModel;
  // Not the input id: one item may be judged by several debates (panels, runs), each with its own event stream.
  const debateId = options.debateId ?? randomUUID();
  const setup: DebateSetup = {
    runId: options.runId ?? randomUUID(),
    debateId,
    panel,
    input,
    // A verifier makes no model call: its turns record the verifier's id, never a model it could be billed for.
    models: Object.fromEntries(
      panel.critics.map((critic) => [critic.id, critic.kind === 'verifier' ? VERIFIER_MODEL : modelFor(critic.model)]),
    ),
  };
  const itemId = options.itemId ?? input.id;
  if (itemId !== undefined) setup.itemId = itemId;
  if (panel.chair) setup.chairModel = modelFor(panel.chair.model);
  return setup;
}

/** The subjects each critic judges every round: the candidates, or every ordered pair (A/B then B/A) in pairwise mode. */
export function subjectsOf(setup: DebateSetup): Subject[] {
  const candidates = setup.input.candidates;
  if (setup.panel.panel.mode !== 'pairwise')
    return candidates.map((candidate) => ({ id: candidate.id, candidates: [candidate] }));
  const subjects: Subject[] = [];
  for (let i = 0; i < candidates.length; i++) {
    for (let j = i + 1; j < candidates.length; j++) {
      const first = candidates[i] as Candidate;
      const second = candidates[j] as Candidate;
      subjects.push(pairSubject(first, second), pairSubject(second, first));
    }
  }
  return subjects;
}

/**
 * The subjects one critic judges every round: `subjectsOf`, except that a pairwise panel with `randomizeOrder`
 * shows each pair once, in an order drawn from the item id (or the input's content, `drawKeyOf`), the critic and the pair, so reruns and
 * resumes draw the same order and position bias averages out across items instead of being measured per pair.
 */
export function subjectsFor(options: { setup: DebateSetup; critic: Critic }): Subject[] {
  const { setup, critic } = options;
  const subjects = subjectsOf(setup);
  if (setup.panel.panel.mode !== 'pairwise' || setup.panel.panel.randomizeOrder !== true) return subjects;
  const seed = drawKeyOf(setup);
  const kept: Subject[] = [];
  // subjectsOf lists each pair as its forward order followed by its backward one.
  for (let index = 0; index + 1 < subjects.length; index += 2) {
    const forward = subjects[index] as Subject;
    const backward = subjects[index + 1] as Subject;
    kept.push(seedOf(JSON.stringify([seed, critic.id, forward.pair])) % 2 === 0 ? forward : backward);
  }
  return kept;
}

/** The key other critics' turns are shuffled by in a debate round when the panel sets `randomizeOrder`. */
export function othersOrderKey(options: { setup: DebateSetup; critic: Critic; subject: Subject; round: number }): string {
  const { setup, critic, subject, round } = options;
  return JSON.stringify([drawKeyOf(setup), critic.id, subject.id, round]);
}

const contentKeys = new WeakMap<DebateSetup['input'], string>();

/**
 * What the engine's seeded draws (pair order, others' order) start from: the item id, or for an input without one a
 * hash of its prompt and candidates, so a rerun of the same input draws the same whatever its debate id.
 */
export function drawKeyOf(setup: DebateSetup): string {
  if (setup.itemId !== undefined) return setup.itemId;
  let key = contentKeys.get(setup.input);
  if (key === undefined) {
    const { prompt, candidates } = setup.input;
    const material = JSON.stringify([prompt, candidates.map((candidate) => [candidate.id, candidate.text])]);
    key = `sha256:${createHash('sha256').update(material).digest('hex')}`;
    contentKeys.set(setup.input, key);
  }
  return key;
}

function pairSubject(a: Candidate, b: Candidate): Subject {
  return { id: `${a.id}-vs-${b.id}`, candidates: [a, b], pair: [a.id, b.id] };
}
