import type { Critic, Principle, ResolvedPanel } from '../contracts/index.js';
import { UNTRUSTED_DATA_NOTICE } from './untrusted-block.js';

/** The constitution principles a critic upholds: the ones it names, or all of them when it names none. */
export function principlesFor(options: { critic: Critic; panel: ResolvedPanel }): Principle[] {
  const all = options.panel.constitution.principles;
  if (options.critic.principles.length === 0) return all;
  const named = new Set(options.critic.principles);
  const upheld = all.filter((principle) => named.has(principle.id));
  return upheld.length > 0 ? upheld : all;
}

/**
 * The system prompt of a critic: its persona (voice, focus, rubric anchors), the constitution principles it
 * upholds, how to treat the untrusted data blocks, and the output format for the panel's mode.
 */
export function buildSystemPrompt(options: { critic: Critic; panel: ResolvedPanel }): string {
  const { critic, panel } = options;
  const { scale, mode } = panel.panel;
  const constitution = panel.constitution;
  const principles = principlesFor(options)
    .map((principle) => `- [${principle.id}] ${principle.title}: ${principle.text.trim()}`)
    .join('\n');
  const anchors = Object.entries(critic.rubric)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([score, meaning]) => `- ${score}: ${meaning}`)
    .join('\n');
  const sections = [
    `You are ${critic.name}, a critic on an evaluation panel. ${critic.description}`.trim(),
    `Your focus: ${critic.focus}.`,
    critic.body.trim(),
    `## Constitution: ${constitution.name} (version ${constitution.version})\n${constitution.preamble.trim() ? `${constitution.preamble.trim()}\n\n` : ''}The principles you uphold (cite them by id):\n${principles}`,
    mode === 'pairwise'
      ? `## Judging\nYou compare two candidate answers to the same prompt, shown as answer A and answer B, on your focus. Position is irrelevant: judge the content, not which answer comes first. Your rubric for a single answer, from ${scale.min} (worst) to ${scale.max} (best):\n${anchors}`
      : `## Scoring\nScore the candidate answer on your focus from ${scale.min} (worst) to ${scale.max} (best). Rubric anchors:\n${anchors}`,
    `## Untrusted data\n${UNTRUSTED_DATA_NOTICE}`,
    mode === 'pairwise'
      ? '## Output\nReply with only a JSON object, nothing else: {"rationale": string, "principles": [principle ids], "preferred": "A" | "B" | "tie", "confidence": number from 0 to 1}. Write the rationale first: name specific strengths and failures of each answer.'
      : `## Output\nReply with only a JSON object, nothing else: {"rationale": string, "principles": [principle ids], "score": number from ${scale.min} to ${scale.max}, "confidence": number from 0 to 1}. Write the rationale first: name specific strengths and failures, then score.`,
  ];
  return sections.filter((section) => section.length > 0).join('\n\n');
}

/** The system prompt of the chair: its persona and the constitution; it explains the panel's consensus and does not score. */
export function buildChairSystemPrompt(options: { chair: Critic; panel: ResolvedPanel }): string {
  const { chair, panel } = options;
  const principles = panel.constitution.principles.map((principle) => `- [${principle.id}] ${principle.title}`).join('\n');
  return [
    `You are ${chair.name}, the chair of an evaluation panel. ${chair.description}`.trim(),
    chair.body.trim(),
    `## Constitution: ${panel.constitution.name} (version ${panel.constitution.version})\n${principles}`,
    '## Your task\nYou do not score. The critics have debated and the panel reached the consensus shown. Write the consensus rationale: why the candidates rank as they do, where the critics agreed, where they disagreed and which principles decided it.',
    `## Untrusted data\n${UNTRUSTED_DATA_NOTICE}`,
    '## Output\nReply with only a JSON object, nothing else: {"rationale": string}.',
  ]
    .filter((section) => section.length > 0)
    .join('\n\n');
}
