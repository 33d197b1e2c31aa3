import { type DatasetItem, type GenerationSample, TribunalError, ZERO_USAGE } from '../contracts/index.js';
import type { CallPolicy, SamplingSettings } from './policy.js';

/** The words the fake policy writes with. */
const WORDS = [
  'the',
  'answer',
  'is',
  'yes',
  'no',
  'because',
  'it',
  'depends',
  'on',
  'context',
  'clearly',
  'maybe',
  'first',
  'then',
  'finally',
  'so',
] as const;

/** Options of `fake:NAME?words=N&vocab=V&latencyMs=L`. */
export interface FakePolicyOptions {
  name: string;
  /** Most words per sample (each sample has 1..words words, uniformly). Default 12. */
  words: number;
  /** Vocabulary size, 1..16: small vocabularies make identical samples likely. Default 16. */
  vocab: number;
  /** Delay per prompt, for demos of the progress bar. Default 0. */
  latencyMs: number;
}

/** Parses the part of a `fake:` policy id after `fake:`. */
export function parseFakePolicy(spec: string): FakePolicyOptions {
  const [name = 'policy', query = ''] = spec.split('?', 2);
  const params = new URLSearchParams(query);
  const known = new Set(['words', 'vocab', 'latencyMs']);
  for (const key of params.keys()) {
    if (!known.has(key))
      throw new TribunalError('CONFIG_INVALID', `fake:${spec}: unknown option "${key}" (words, vocab, latencyMs)`);
  }
  const number = (key: string, fallback: number, min: number, max: number): number => {
    const value = params.get(key);
    if (value === null) return fallback;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `fake:${spec}: ${key} must be a whole number from ${min} to ${max}, got "${value}"`,
      );
    }
    return parsed;
  };
  return {
    name: name || 'policy',
    words: number('words', 12, 1, 10_000),
    vocab: number('vocab', WORDS.length, 1, WORDS.length),
    latencyMs: number('latencyMs', 0, 0, 60_000),
  };
}

/**
 * The fake policy: deterministic free text for tests and offline demos. Sample `i` of a prompt is seeded by the
 * policy name, the seed, the prompt and `i` (so reruns and resumes draw the same samples): 1..`words` words drawn
 * uniformly from the first `vocab` words, capped at `maxTokens` (one word is one token). Its log-probability is exact
 * under that process: log(1/words) for the length plus log(1/vocab) per word. Temperature 0 is greedy: every sample
 * is sample 0's.
 * @example const policy = createFakePolicy({ id: 'fake:policy?vocab=2&words=3' });
 */
export function createFakePolicy(options: { id: string }): CallPolicy {
  const spec = options.id.slice(options.id.indexOf(':') + 1);
  const fake = parseFakePolicy(spec);
  return {
    kind: 'call',
    id: options.id,
    fingerprint: options.id,
    logprobs: true,
    async samplePrompt({ item, settings, signal }) {
      if (fake.latencyMs > 0) await delay(fake.latencyMs, signal);
      if (signal.aborted) throw new TribunalError('ABORTED', 'sampling was interrupted');
      const samples: GenerationSample[] = [];
      for (let index = 0; index < settings.n; index++) samples.push(fakeSample({ fake, item, settings, index }));
      const outputTokens = samples.reduce((sum, sample) => sum + (sample.tokens ?? 0), 0);
      return { samples, usage: { ...ZERO_USAGE, outputTokens } };
    },
    async close() {},
  };
}

function fakeSample(options: { fake: FakePolicyOptions; item: DatasetItem; settings: SamplingSettings; index: number }) {
  const { fake, item, settings, index } = options;
  const drawn = settings.temperature === 0 ? 0 : index;
  const random = mulberry32(fnv1a(`${fake.name}\u0000${settings.seed}\u0000${JSON.stringify(item.prompt)}\u0000${drawn}`));
  const length = 1 + Math.floor(random() * fake.words);
  const words: string[] = [];
  for (let word = 0; word < length; word++) words.push(WORDS[Math.floor(random() * fake.vocab)] ?? 'the');
  const kept = words.slice(0, settings.maxTokens);
  const logprob = -Math.log(fake.words) - kept.length * Math.log(fake.vocab);
  return {
    index,
    text: kept.join(' '),
    tokens: kept.length,
    logprob,
    finish: kept.length < words.length ? ('length' as const) : ('stop' as const),
  };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function fnv1a(text: string): number {
  let value = 2166136261;
  for (let index = 0; index < text.length; index++) {
    value ^= text.charCodeAt(index);
    value = Math.imul(value, 16777619);
  }
  return value >>> 0;
}

/** A small seeded generator (mulberry32): uniform floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
