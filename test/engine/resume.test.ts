import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BaseCheckpointSaver, MemorySaver } from '@langchain/langgraph';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { afterAll, describe, expect, test } from 'vitest';
import type { DebateInput } from '../../src/contracts/index.js';
import { runDebate } from '../../src/engine/index.js';
import { makePanel } from '../fakes/panel.js';
import { assessment, eventLog, expectValidStream, fakeModels, ofType } from './helpers.js';

const input: DebateInput = {
  prompt: 'Explain recursion.',
  candidates: [
    { id: 'x', text: 'A function calling itself.' },
    { id: 'y', text: 'A loop.' },
  ],
};

const directory = mkdtempSync(join(tmpdir(), 'tribunal-resume-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Critics that never agree, so the debate runs its full maxRounds. */
const score = (criticId: string | undefined, round: number) => (criticId === 'a' ? 1 + round : 10 - round);

const savers: Array<[string, () => { first: BaseCheckpointSaver; second: () => BaseCheckpointSaver }]> = [
  [
    'MemorySaver',
    () => {
      const saver = new MemorySaver();
      return { first: saver, second: () => saver };
    },
  ],
  [
    'SqliteSaver',
    () => {
      const file = join(directory, `checkpoints-${Math.random().toString(36).slice(2)}.sqlite`);
      // The resumed run opens the file afresh, as a restarted process would.
      return { first: SqliteSaver.fromConnString(file), second: () => SqliteSaver.fromConnString(file) };
    },
  ],
];

describe.each(savers)('resume with %s', (_name, makeSaver) => {
  test('a debate aborted in round 1 resumes there without redoing round 0, and seq keeps increasing', async () => {
    const { first, second } = makeSaver();
    const panel = makePanel({ maxRounds: 2, tolerance: 0.5 });
    const controller = new AbortController();
    const interrupted = fakeModels((call) => {
      const round = call.turn?.round ?? 0;
      if (round === 1) {
        controller.abort();
        return { text: assessment(5), latencyMs: 5 };
      }
      return assessment(score(call.turn?.criticId, round));
    });
    const before = eventLog();
    await expect(
      runDebate({
        panel,
        input,
        models: interrupted.models,
        defaultModel: 'fake:critic',
        debateId: 'debate-resume',
        runId: 'run-1',
        checkpointer: first,
        signal: controller.signal,
        onEvent: before.onEvent,
      }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(interrupted.calls.filter((call) => call.turn?.round === 0)).toHaveLength(6);
    expectValidStream(before.events);
    expect(before.events.at(-1)?.type).toBe('debate-error');

    const resumed = fakeModels((call) => assessment(score(call.turn?.criticId, call.turn?.round ?? 0)));
    const after = eventLog();
    const result = await runDebate({
      panel,
      input,
      models: resumed.models,
      defaultModel: 'fake:critic',
      debateId: 'debate-resume',
      runId: 'run-2',
      checkpointer: second(),
      onEvent: after.onEvent,
    });
    // Round 0 was not redone: the resumed run only called the models for rounds 1 and 2.
    expect(resumed.calls.map((call) => call.turn?.round).sort()).toEqual([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
    const lastSeq = before.events.at(-1)?.seq ?? -1;
    expectValidStream(after.events, lastSeq + 1);
    expect(after.events[0]?.type).toBe('debate-start');
    expect(ofType(after.events, 'round-end').map((event) => event.round)).toEqual([1, 2]);
    expect(after.events.every((event) => event.runId === 'run-2')).toBe(true);
    expect(result.verdict.roundsUsed).toBe(2);
    expect(result.turns.filter((turn) => turn.round === 0)).toHaveLength(6);
    expect(result.verdict.candidates[0]?.perCritic.a).toEqual([1, 2, 3]);

    // A finished debate resolves with its stored result and calls nothing.
    const again = fakeModels(() => undefined);
    const replay = eventLog();
    const stored = await runDebate({
      panel,
      input,
      models: again.models,
      defaultModel: 'fake:critic',
      debateId: 'debate-resume',
      checkpointer: second(),
      onEvent: replay.onEvent,
    });
    expect(stored).toEqual(result);
    expect(again.calls).toHaveLength(0);
    expect(replay.events).toHaveLength(0);
  });

  test('an abort during round 0 resumes with round 0', async () => {
    const { first, second } = makeSaver();
    const panel = makePanel({ maxRounds: 0 });
    const controller = new AbortController();
    const interrupted = fakeModels(() => {
      controller.abort();
      return { text: assessment(5), latencyMs: 5 };
    });
    const before = eventLog();
    await expect(
      runDebate({
        panel,
        input,
        models: interrupted.models,
        defaultModel: 'fake:critic',
        debateId: 'debate-round-0',
        checkpointer: first,
        signal: controller.signal,
        onEvent: before.onEvent,
      }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    const resumed = fakeModels(() => assessment(6));
    const after = eventLog();
    const result = await runDebate({
      panel,
      input,
      models: resumed.models,
      defaultModel: 'fake:critic',
      debateId: 'debate-round-0',
      checkpointer: second(),
      onEvent: after.onEvent,
    });
    expect(resumed.calls).toHaveLength(6);
    expectValidStream(after.events, (before.events.at(-1)?.seq ?? -1) + 1);
    expect(result.verdict.candidates[0]?.score).toBe(6);
  });

  test('resuming with a changed panel is refused', async () => {
    const { first } = makeSaver();
    const models = fakeModels((call) => assessment(score(call.turn?.criticId, call.turn?.round ?? 0))).models;
    await runDebate({
      panel: makePanel({ maxRounds: 0 }),
      input,
      models,
      defaultModel: 'fake:critic',
      debateId: 'd',
      checkpointer: first,
    });
    await expect(
      runDebate({
        panel: makePanel({ maxRounds: 0, hash: 'other-hash' }),
        input,
        models,
        defaultModel: 'fake:critic',
        debateId: 'd',
        checkpointer: first,
      }),
    ).rejects.toMatchObject({ code: 'INPUT_INVALID' });
  });
});
