import type { Constitution, Critic, PanelInput, ResolvedPanel } from '../../src/contracts/index.js';
import { PanelSchema } from '../../src/contracts/index.js';

/** A small constitution for tests. */
export const TEST_CONSTITUTION: Constitution = {
  id: 'test',
  name: 'Test constitution',
  version: '1.0',
  preamble: 'Judge answers by these principles.',
  principles: [
    { id: 'harmless', title: 'Harmless', text: 'Do not help cause serious harm.' },
    { id: 'honest', title: 'Honest', text: 'Do not state falsehoods.' },
    { id: 'concise', title: 'Concise', text: 'Say it in as few words as it needs.' },
  ],
  hash: 'constitution-hash',
};

/** A critic with sensible defaults; override what a test cares about. */
export function makeCritic(overrides: Partial<Critic> & { id: string }): Critic {
  return {
    name: `${overrides.id} critic`,
    description: `Judges answers for ${overrides.id}.`,
    focus: `${overrides.id} of the answer`,
    weight: 1,
    temperature: 0.2,
    principles: [],
    rubric: { '1': 'Terrible.', '10': 'Excellent.' },
    body: `You are the ${overrides.id} critic.`,
    hash: `${overrides.id}-hash`,
    ...overrides,
  };
}

/**
 * A resolved panel built directly (no files): `critics` defaults to three critics a, b, c; the other
 * fields are panel file fields, defaulted by PanelSchema.
 */
export function makePanel(
  options: { critics?: Critic[]; chair?: Critic; constitution?: Constitution; hash?: string } & Partial<
    Omit<PanelInput, 'personas' | 'chair'>
  > = {},
): ResolvedPanel {
  const { critics: given, chair, constitution, hash, ...fields } = options;
  const critics = given ?? [makeCritic({ id: 'a' }), makeCritic({ id: 'b' }), makeCritic({ id: 'c' })];
  const panel = PanelSchema.parse({
    id: 'test-panel',
    personas: critics.map((critic) => critic.id),
    ...fields,
    ...(chair === undefined ? {} : { chair: chair.id }),
  });
  const resolved: ResolvedPanel = {
    panel,
    critics,
    constitution: constitution ?? TEST_CONSTITUTION,
    hash: hash ?? 'panel-hash',
  };
  if (chair) resolved.chair = chair;
  return resolved;
}
