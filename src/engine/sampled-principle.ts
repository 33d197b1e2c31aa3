import type { Critic, Principle, Prompt, ResolvedPanel } from '../contracts/index.js';
import type { Subject } from './debate-setup.js';
import { principlesFor } from './system-prompt.js';

/**
 * The one constitution principle a critic judges a subject by when the panel sets `samplePrinciple` (Constitutional
 * AI samples one principle per comparison): drawn from the principles the critic upholds, seeded on the critic, the
 * prompt and the judged texts (in sorted order), so it is the same in every round, in both orders of a pair and on
 * every rerun. Undefined when the panel does not sample.
 */
export function sampledPrinciple(options: {
  panel: ResolvedPanel;
  critic: Critic;
  prompt: Prompt;
  subject: Subject;
}): Principle | undefined {
  if (options.panel.panel.samplePrinciple !== true) return undefined;
  const pool = principlesFor({ critic: options.critic, panel: options.panel });
  if (pool.length === 0) return undefined;
  const texts = options.subject.candidates.map((candidate) => candidate.text).sort();
  const seed = fnv1a(JSON.stringify([options.critic.id, options.prompt, texts]));
  return pool[seed % pool.length];
}

function fnv1a(text: string): number {
  let value = 2166136261;
  for (let index = 0; index < text.length; index++) {
    value ^= text.charCodeAt(index);
    value = Math.imul(value, 16777619);
  }
  return value >>> 0;
}
