import { expect } from 'vitest';
import { type DebateEvent, DebateEventSchema } from '../../src/contracts/index.js';
import {
  createFakeAdapter,
  createModelRegistry,
  type FakeCall,
  type FakeReply,
  type ModelRegistry,
} from '../../src/models/index.js';

/** A scripted reply: what a critic answers for one call, or undefined for an unscripted call. */
export type TestScript = (call: FakeCall) => FakeReply | Promise<FakeReply> | undefined;

/** A registry whose every `fake:*` model runs `script`; `calls` records every call across models. */
export function fakeModels(script: TestScript): { models: ModelRegistry; calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  const models = createModelRegistry({
    adapters: {
      fake: () =>
        createFakeAdapter({
          script: (call) => {
            calls.push(call);
            return script(call);
          },
        }),
    },
  });
  return { models, calls };
}

/** The JSON an assessing critic replies with. */
export function assessment(
  score: number,
  options: { rationale?: string; principles?: string[]; confidence?: number } = {},
): string {
  return JSON.stringify({
    rationale: options.rationale ?? `score ${score}`,
    principles: options.principles ?? [],
    score,
    confidence: options.confidence ?? 0.8,
  });
}

/** The JSON a comparing critic replies with. */
export function judgment(preferred: 'A' | 'B' | 'tie', rationale = `prefers ${preferred}`): string {
  return JSON.stringify({ rationale, principles: [], preferred, confidence: 0.7 });
}

/** Whether a call asks for a pairwise judgment, a chair rationale or an assessment. */
export function callKind(call: FakeCall): 'pairwise' | 'chair' | 'assessment' {
  const properties = (call.jsonSchema?.properties ?? {}) as Record<string, unknown>;
  if ('preferred' in properties) return 'pairwise';
  if ('score' in properties) return 'assessment';
  return 'chair';
}

/** Whether this call is a repair attempt (the wrapper feeds the invalid reply back). */
export function isRepair(call: FakeCall): boolean {
  return call.messages.length > 2;
}

/** Collects events and checks the stream contract: every event parses and seq runs 0, 1, 2, ... */
export function eventLog(): { events: DebateEvent[]; onEvent: (event: DebateEvent) => void; types: () => string[] } {
  const events: DebateEvent[] = [];
  return {
    events,
    onEvent: (event) => events.push(event),
    types: () => events.map((event) => event.type),
  };
}

/** Asserts that every event parses with DebateEventSchema and that seq increases by one from `firstSeq`. */
export function expectValidStream(events: readonly DebateEvent[], firstSeq = 0): void {
  for (const [index, event] of events.entries()) {
    const parsed = DebateEventSchema.safeParse(event);
    if (!parsed.success) throw new Error(`event #${index} (${event.type}) is invalid: ${parsed.error.message}`);
    expect(event.seq).toBe(firstSeq + index);
  }
}

/** The events of one type. */
export function ofType<T extends DebateEvent['type']>(
  events: readonly DebateEvent[],
  type: T,
): Extract<DebateEvent, { type: T }>[] {
  return events.filter((event): event is Extract<DebateEvent, { type: T }> => event.type === type);
}
