import type { BaseMessage } from '@langchain/core/messages';
import { type FakeCall, FakeChatModel, type FakeScript } from './fake-chat-model.js';
import type { ProviderAdapter, RawCallOptions, RawCompletion } from './types.js';

/**
 * The scripted fake provider. `fake:judge` is a deterministic heuristic critic usable from the CLI
 * (scores from a hash of critic and candidate, drifting toward agreement in later rounds);
 * tests pass their own script. Options ride in the id: `fake:judge?latencyMs=50&failEvery=7&refuseEvery=11`.
 * Planted preferences for learning tests and demos: `prefer=TEXT` (URL-encoded) scores answers that contain TEXT in
 * the top 28% of the scale and the others in the bottom 28%; `lengthBonus=P` adds P score points per 100
 * characters of the answer (a length-biased judge, to show reward hacking; negative P rewards short answers).
 */
export function createFakeAdapter(options: {
  script?: FakeScript;
  latencyMs?: number;
  chunks?: number;
  /** Keep every call in `chat.calls` (default true). */
  recordCalls?: boolean;
}): ProviderAdapter & {
  chat: FakeChatModel;
} {
  const chat = new FakeChatModel({
    script: options.script ?? judgeScript(),
    ...(options.latencyMs === undefined ? {} : { latencyMs: options.latencyMs }),
    ...(options.chunks === undefined ? {} : { chunks: options.chunks }),
    ...(options.recordCalls === undefined ? {} : { recordCalls: options.recordCalls }),
  });
  return {
    provider: 'fake',
    chat,
    async complete(messages: BaseMessage[], call: RawCallOptions): Promise<RawCompletion> {
      // The call options carry what reply reads (jsonSchema, signal, turn).
      const completion = await chat.reply(messages, call);
      if (call.onToken || call.onChunk) {
        for (const part of chat.split(completion.text)) {
          call.onChunk?.();
          call.onToken?.(part);
        }
      }
      return completion;
    },
  };
}

/** Parses `judge?latencyMs=50&failEvery=7` into a name and numeric options. */
export function parseFakeSpec(spec: string): {
  name: string;
  latencyMs?: number;
  failEvery?: number;
  refuseEvery?: number;
  chunks?: number;
  prefer?: string;
  lengthBonus?: number;
} {
  const [name = 'judge', query = ''] = spec.split('?', 2);
  const params = new URLSearchParams(query);
  const number = (key: string): number | undefined => {
    const value = params.get(key);
    if (value === null) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < 0)
      throw new Error(`fake:${spec}: ${key} must be a non-negative number, got "${value}"`);
    return parsed;
  };
  const result: ReturnType<typeof parseFakeSpec> = { name };
  const prefer = params.get('prefer');
  if (prefer !== null) {
    if (prefer.length === 0 || prefer.length > 64)
      throw new Error(`fake:${spec}: prefer must be 1 to 64 characters (URL-encoded), got ${prefer.length}`);
    result.prefer = prefer;
  }
  const lengthBonus = params.get('lengthBonus');
  if (lengthBonus !== null) {
    const parsed = Number(lengthBonus);
    if (lengthBonus.trim() === '' || !Number.isFinite(parsed))
      throw new Error(`fake:${spec}: lengthBonus must be a number (negative: a length penalty), got "${lengthBonus}"`);
    result.lengthBonus = parsed;
  }
  const latencyMs = number('latencyMs');
  const failEvery = number('failEvery');
  const refuseEvery = number('refuseEvery');
  const chunks = number('chunks');
  if (latencyMs !== undefined) result.latencyMs = latencyMs;
  if (failEvery !== undefined) result.failEvery = failEvery;
  if (refuseEvery !== undefined) result.refuseEvery = refuseEvery;
  if (chunks !== undefined) result.chunks = chunks;
  return result;
}

/**
 * A deterministic heuristic judge: the score depends on a hash of the critic and candidate text and on
 * the candidate's length, and moves halfway toward the middle of the scale in later rounds so debates converge.
 * `failEvery=N` makes every Nth call return malformed output (to exercise repair and failed turns); `refuseEvery=N`
 * makes every Nth call refuse, as a provider's refusal stop reason does (to show refused turns in reports and the viewer).
 */
export function judgeScript(
  options: { failEvery?: number; refuseEvery?: number; prefer?: string; lengthBonus?: number } = {},
): FakeScript {
  let count = 0;
  return (call: FakeCall) => {
    count++;
    if (options.failEvery && count % options.failEvery === 0) return 'this is not JSON';
    if (options.refuseEvery && count % options.refuseEvery === 0) {
      return { text: '', stop: 'refused', stopReason: 'refusal', refusal: 'I will not judge this answer.' };
    }
    const properties = (call.jsonSchema?.properties ?? {}) as Record<
      string,
      { minimum?: number; maximum?: number; enum?: string[] }
    >;
    const turn = call.turn ?? { round: 0, criticId: 'critic', candidateId: 'candidate' };
    // Seed on the critic and the judged text only, so a critic's view of a candidate is stable across rounds.
    const judged =
      /<<<BEGIN UNTRUSTED CANDIDATE (\S+)>>>\n([\s\S]*?)\n<<<END UNTRUSTED CANDIDATE \1>>>/.exec(call.user)?.[2] ?? call.user;
    const seed = hash(`${turn.criticId}\u0000${judged}`);
    if (properties.preferred) {
      const choices = ['A', 'B', 'tie'] as const;
      return JSON.stringify({
        rationale: `${turn.criticId} compared the two answers for ${turn.candidateId}.`,
        principles: [],
        preferred: plantedPreference(call.user, options) ?? choices[seed % 3],
        confidence: 0.6,
      });
    }
    const min = properties.score?.minimum ?? 1;
    const max = properties.score?.maximum ?? 10;
    const unit = (seed % 1000) / 999;
    // A planted preference: answers with the marker in the top 28% of the scale, the others in the bottom 28%, so
    // every marked answer beats every other by at least 44% of the scale (a --min-margin can drop the rest).
    const share = options.prefer === undefined ? unit : judged.includes(options.prefer) ? 0.72 + 0.28 * unit : 0.28 * unit;
    const bonus = options.lengthBonus ? (options.lengthBonus * judged.length) / 100 : 0;
    const raw = Math.max(min, Math.min(max, min + share * (max - min) + bonus));
    const middle = (min + max) / 2;
    const pulled = turn.round === 0 ? raw : middle + (raw - middle) / 2 ** turn.round;
    const score = Math.round(pulled * 10) / 10;
    return JSON.stringify({
      rationale: `${turn.criticId} finds candidate ${turn.candidateId} ${score >= middle ? 'mostly sound' : 'weak in places'} (round ${turn.round}).`,
      principles: [],
      score,
      confidence: 0.5 + (seed % 50) / 100,
    });
  };
}

/** The planted verdict of a pairwise turn: the answer with the marker, else (with a length bonus) the longer one. */
function plantedPreference(user: string, options: { prefer?: string; lengthBonus?: number }): 'A' | 'B' | undefined {
  if (options.prefer === undefined && !options.lengthBonus) return undefined;
  const a = blockText(user, 'ANSWER A');
  const b = blockText(user, 'ANSWER B');
  if (a === undefined || b === undefined) return undefined;
  if (options.prefer !== undefined) {
    const inA = a.includes(options.prefer);
    if (inA !== b.includes(options.prefer)) return inA ? 'A' : 'B';
  }
  if (options.lengthBonus && a.length !== b.length) return a.length > b.length === options.lengthBonus > 0 ? 'A' : 'B';
  return undefined;
}

function blockText(user: string, label: string): string | undefined {
  const match = new RegExp(`<<<BEGIN UNTRUSTED ${label} (\\S+)>>>\n([\\s\\S]*?)\n<<<END UNTRUSTED ${label} \\1>>>`).exec(user);
  return match?.[2];
}

function hash(text: string): number {
  let value = 2166136261;
  for (let index = 0; index < text.length; index++) {
    value ^= text.charCodeAt(index);
    value = Math.imul(value, 16777619);
  }
  return value >>> 0;
}
