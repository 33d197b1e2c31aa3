import { createHash } from 'node:crypto';
import type { Candidate, Prompt } from '../contracts/index.js';

/**
 * A content hash of prompt and candidates (sha256, first 16 hex digits) for rows without an id. Unlike a line
 * number it survives reordering, filtering and concatenating files, so re-imports and resumed runs find the same
 * item; 64 bits keep accidental collisions negligible far beyond a million items.
 */
export function stableItemId(options: { prompt: Prompt; candidates: readonly Candidate[] }): string {
  const content = JSON.stringify([options.prompt, options.candidates.map((candidate) => [candidate.id, candidate.text])]);
  return createHash('sha256').update(content).digest('hex').slice(0, 16);
}
