import { createHash } from 'node:crypto';
import {
  createFakeAdapter,
  createModelRegistry,
  type FakeCall,
  type FakeScript,
  type ModelRegistry,
} from '../../src/models/index.js';

/*
 * A simulated panel: a fake provider whose critics score from a known generative model with planted biases, so
 * every quality metric can be checked against the effect it should recover.
 *
 *   score(critic k, candidate t, round 0) = quality(t) + lengthBias * length(t) / 1000 + selfPreference (own family)
 *                                           + noise_k * N(0, 1)          clamped to the 1..10 scale, one decimal
 *   score(k, t, round r)                  = score(k, t, r - 1) + conformity * (others' mean at r - 1 - score(k, t, r - 1))
 *   pairwise verdict (k, A, B)            = with probability positionBias_k "A", else the answer with the higher round-0 score
 *
 * Every draw is seeded on the simulation seed, the critic and the judged text, so runs are reproducible and a
 * critic's view of a candidate does not depend on the order it is shown in.
 */

/** One simulated critic. */
export interface SimulatedCritic {
  id: string;
  /** Standard deviation of the critic's noise, in scale points. */
  noise: number;
  /** Pairwise mode: probability of answering "A" regardless of the answers. */
  positionBias?: number;
  /** Model family the critic prefers (adds `selfPreference` points to candidates whose model starts with it). */
  family?: string;
  selfPreference?: number;
}

export interface SimulationOptions {
  seed: string;
  critics: readonly SimulatedCritic[];
  /** Scale points per 1000 characters of answer. */
  lengthBias: number;
  /** Fraction of the gap to the others' previous-round mean a critic closes in each debate round. */
  conformity: number;
}

/** A synthetic gold item: two answers of known quality and independent length; the human prefers the better one. */
export interface SimulatedItem {
  id: string;
  prompt: string;
  candidates: Array<{ id: string; text: string; model: string }>;
  meta: { humanPreferred: string };
  quality: Record<string, number>;
}

/** Synthetic gold items: qualities uniform in 3..7, lengths uniform in 100..1500 characters, models alternating. */
export function simulatedItems(options: { count: number; seed: string; models?: readonly string[] }): SimulatedItem[] {
  const models = options.models ?? ['gpt-4o', 'claude-3-5-sonnet'];
  return Array.from({ length: options.count }, (_, index) => {
    const quality: Record<string, number> = {};
    const candidates = ['c1', 'c2'].map((id, position) => {
      const q = 3 + 4 * uniform(`${options.seed}:q:${index}:${id}`);
      quality[id] = q;
      const length = Math.round(100 + 1400 * uniform(`${options.seed}:len:${index}:${id}`));
      const head = `Answer ${id} to item ${index} (quality ${q.toFixed(3)}). `;
      const text = head + 'x'.repeat(Math.max(0, length - head.length));
      return { id, text, model: models[(index + position) % models.length] ?? 'unknown' };
    });
    const better = (quality.c1 ?? 0) >= (quality.c2 ?? 0) ? 'c1' : 'c2';
    return { id: `sim-${index}`, prompt: `Simulated question ${index}?`, candidates, meta: { humanPreferred: better }, quality };
  });
}

/** The planted score table and a fake script that answers from it. */
export function simulatedPanel(options: SimulationOptions & { items: readonly SimulatedItem[] }): {
  script: FakeScript;
  models: () => ModelRegistry;
  /** The planted round-r score of critic `criticId` for the candidate with this text. */
  score: (criticId: string, text: string, round: number) => number;
} {
  const byText = new Map<string, { quality: number; model: string }>();
  for (const item of options.items)
    for (const candidate of item.candidates)
      byText.set(candidate.text, { quality: item.quality[candidate.id] ?? 0, model: candidate.model });
  const critics = new Map(options.critics.map((critic) => [critic.id, critic]));
  const memo = new Map<string, number>();

  const score = (criticId: string, text: string, round: number): number => {
    const key = `${criticId}\u0000${round}\u0000${text}`;
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    const known = byText.get(text);
    // Replicas (`id-r2`, from equal-budget ablations) share their persona's biases but draw their own noise.
    const critic = critics.get(criticId) ?? critics.get(criticId.replace(/-r\d+$/, ''));
    if (!known || !critic) throw new Error(`simulated panel: unknown critic ${criticId} or candidate text ${text.slice(0, 60)}`);
    let value: number;
    if (round === 0) {
      const own = critic.family !== undefined && known.model.startsWith(critic.family) ? (critic.selfPreference ?? 0) : 0;
      const raw =
        known.quality +
        (options.lengthBias * text.length) / 1000 +
        own +
        critic.noise * normal(`${options.seed}:${criticId}:${text}`);
      value = oneDecimal(Math.min(10, Math.max(1, raw)));
    } else {
      const before = score(criticId, text, round - 1);
      const others = options.critics.filter((other) => other.id !== criticId).map((other) => score(other.id, text, round - 1));
      const othersMean = others.length === 0 ? before : others.reduce((sum, value) => sum + value, 0) / others.length;
      value = oneDecimal(before + options.conformity * (othersMean - before));
    }
    memo.set(key, value);
    return value;
  };

  const script: FakeScript = (call: FakeCall) => {
    const turn = call.turn;
    if (!turn) return undefined;
    const properties = (call.jsonSchema?.properties ?? {}) as Record<string, unknown>;
    if ('preferred' in properties) {
      const a = block(call.user, 'ANSWER A');
      const b = block(call.user, 'ANSWER B');
      if (a === undefined || b === undefined) return undefined;
      const critic = critics.get(turn.criticId) ?? critics.get(turn.criticId.replace(/-r\d+$/, ''));
      const biased = uniform(`${options.seed}:position:${turn.criticId}:${a}\u0000${b}`) < (critic?.positionBias ?? 0);
      const difference = score(turn.criticId, a, 0) - score(turn.criticId, b, 0);
      const preferred = biased ? 'A' : difference > 0 ? 'A' : difference < 0 ? 'B' : 'tie';
      return JSON.stringify({ rationale: `${turn.criticId} prefers ${preferred}.`, principles: [], preferred, confidence: 0.7 });
    }
    if ('score' in properties) {
      const text = block(call.user, 'CANDIDATE');
      if (text === undefined) return undefined;
      const value = score(turn.criticId, text, turn.round);
      return JSON.stringify({ rationale: `${turn.criticId} scores ${value}.`, principles: [], score: value, confidence: 0.7 });
    }
    return undefined;
  };

  return {
    script,
    score,
    models: () =>
      createModelRegistry({ settings: {}, adapters: { fake: () => createFakeAdapter({ script, recordCalls: false }) } }),
  };
}

/** The text of the first untrusted block with this label in a user message. */
function block(user: string, label: string): string | undefined {
  const match = new RegExp(`<<<BEGIN UNTRUSTED ${label} (\\S+)>>>\\n([\\s\\S]*?)\\n<<<END UNTRUSTED ${label} \\1>>>`).exec(user);
  return match?.[2];
}

/** A uniform draw in [0, 1) from a key. */
export function uniform(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32LE(0) / 4_294_967_296;
}

/** A standard normal draw from a key (Box-Muller). */
function normal(key: string): number {
  const u = Math.max(1e-12, uniform(`${key}:u`));
  const v = uniform(`${key}:v`);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function oneDecimal(value: number): number {
  return Math.round(value * 10) / 10;
}
