import { createHash } from 'node:crypto';
import type { BaseMessage } from '@langchain/core/messages';
import type { Assessment, PairwiseJudgment, Usage } from '../contracts/index.js';
import type { TurnTag } from '../models/index.js';

/** What the engine keeps of a successful critic turn in a turn cache: the model's answer and what it cost then. */
// A type alias, not an interface, so it fits the store's loose (index-signature) cached-turn type.
export type CachedCriticTurn = {
  model: string;
  assessment?: Assessment | undefined;
  judgment?: PairwiseJudgment | undefined;
  usage: Usage;
};

/**
 * Where critic turns are remembered across debates and runs. The engine defines only this shape; the store's
 * `TurnCache` (src/store) satisfies it structurally, so the engine never imports the store.
 */
export interface DebateTurnCache {
  getTurn(options: { key: string }): Promise<CachedCriticTurn | undefined>;
  putTurn(options: { key: string; turn: CachedCriticTurn }): Promise<void>;
}

/** Bumped when the recipe below changes, so old entries stop matching instead of being misread. */
export const CRITIC_TURN_KEY_VERSION = 1;

/**
 * The cache key of a critic turn: sha256 over everything that decides the answer — the exact messages the model
 * sees (persona voice, constitution principles, prompt, candidate text and, in later rounds, the other critics'
 * visible assessments), the model id, the output schema and scale, temperature and token limit, the persona's
 * content hash and the turn's round, critic and candidate. Editing one persona changes the key of that persona's
 * turns only (and of later turns that quote what it said, when what it said changed).
 */
export function criticTurnKey(options: {
  messages: readonly BaseMessage[];
  model: string;
  schemaName: string;
  scale: { min: number; max: number };
  temperature: number;
  maxTokens: number;
  personaHash: string;
  turn: TurnTag;
}): string {
  const material = JSON.stringify([
    CRITIC_TURN_KEY_VERSION,
    options.model,
    options.schemaName,
    [options.scale.min, options.scale.max],
    options.temperature,
    options.maxTokens,
    options.personaHash,
    [options.turn.round, options.turn.criticId, options.turn.candidateId],
    options.messages.map((message) => [message.getType(), message.content]),
  ]);
  return createHash('sha256').update(material).digest('hex');
}
