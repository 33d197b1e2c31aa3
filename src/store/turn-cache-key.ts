import { createHash } from 'node:crypto';
import type { Prompt } from '../contracts/index.js';
import { stableJson } from './stable-json.js';

/** Bumped when the key recipe changes, so old cache entries stop matching instead of being misread. */
export const TURN_CACHE_KEY_VERSION = 1;

/** Everything that decides what a critic turn returns; two turns with equal parts may share one model call. */
export interface TurnCacheKeyParts {
  /** The prompt the candidates answer. */
  prompt: Prompt;
  /** The judged candidate's text; in pairwise mode the two texts in the order shown (A, B). */
  candidateText: string | readonly string[];
  /** Content hash of the persona file (front matter and voice). */
  personaHash: string;
  /** Content hash of the constitution, or null when the panel has none. */
  constitutionHash: string | null;
  /** Resolved model id, e.g. `openai:gpt-4.1-mini`. */
  modelId: string;
  /** 0 is the independent assessment, 1.. the debate rounds. */
  round: number;
  /**
   * Anything else the model sees or that shapes the call, as JSON: the other critics' visible assessments,
   * the scale, the mode, temperature, the protocol. Key order does not matter; `undefined` members are dropped.
   */
  context?: unknown;
}

/**
 * Builds the turn-cache key: the sha256 hex digest of the parts as stable JSON (keys sorted), so the same turn
 * gets the same key in any process, and changing any part (a persona edit, another model, a different debate
 * context) gives another key.
 * @example
 * const key = turnCacheKey({ prompt, candidateText: candidate.text, personaHash, constitutionHash, modelId, round: 0 });
 * const cached = await store.getTurn({ key });
 */
export function turnCacheKey(parts: TurnCacheKeyParts): string {
  const material = stableJson({
    v: TURN_CACHE_KEY_VERSION,
    prompt: parts.prompt,
    candidateText: parts.candidateText,
    personaHash: parts.personaHash,
    constitutionHash: parts.constitutionHash,
    modelId: parts.modelId,
    round: parts.round,
    context: parts.context ?? null,
  });
  return createHash('sha256').update(material).digest('hex');
}
