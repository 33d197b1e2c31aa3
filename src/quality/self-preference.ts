import type { LabelRow } from '../contracts/index.js';
import { finalCriticScore } from './gold-comparisons.js';
import { mean, round } from './stats.js';

/**
 * The family of a model id: provider prefix and version dropped, first word kept
 * (`openai:gpt-4.1-mini` -> `gpt`, `anthropic:claude-sonnet-4-5` -> `claude`, `Llama-3-8B` -> `llama`).
 */
export function modelFamily(model: string): string {
  const name = model.includes(':') ? model.slice(model.indexOf(':') + 1) : model;
  const base = name.split('/').pop() ?? name;
  return /^[a-z]+/i.exec(base)?.[0]?.toLowerCase() ?? base.toLowerCase();
}

/** A critic scoring candidates from its own model family, and how its scores for them compare. */
export interface SelfPreference {
  criticId: string;
  family: string;
  /** Candidates of the critic's family it scored. */
  sameFamily: number;
  otherFamily: number;
  /** Mean score for same-family candidates minus mean score for the others (null without both kinds). */
  scoreGap: number | null;
}

/**
 * Self-preference flags: critics whose model family equals a candidate's (`candidate.model`, when known), with the
 * score gap between own-family and other candidates. Empty when no candidate names its model.
 */
export function selfPreference(rows: readonly LabelRow[]): SelfPreference[] {
  const byCritic = new Map<string, { family: string; same: number[]; other: number[] }>();
  for (const row of rows) {
    const criticModels = new Map(row.panel.critics.map((critic) => [critic.id, critic.model]));
    for (const candidate of row.candidates) {
      if (candidate.model === undefined) continue;
      const candidateFamily = modelFamily(candidate.model);
      for (const [criticId, model] of criticModels) {
        const score = finalCriticScore(candidate, criticId);
        if (score === null) continue;
        const family = modelFamily(model);
        const entry = byCritic.get(criticId) ?? { family, same: [], other: [] };
        byCritic.set(criticId, entry);
        (family === candidateFamily ? entry.same : entry.other).push(score);
      }
    }
  }
  return [...byCritic.entries()]
    .filter(([, entry]) => entry.same.length > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([criticId, entry]) => {
      const same = mean(entry.same);
      const other = mean(entry.other);
      return {
        criticId,
        family: entry.family,
        sameFamily: entry.same.length,
        otherFamily: entry.other.length,
        scoreGap: same === null || other === null ? null : round(same - other),
      };
    });
}
