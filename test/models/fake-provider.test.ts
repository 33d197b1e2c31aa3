import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { createFakeAdapter } from '../../src/models/fake-provider.js';

const messages = [new SystemMessage('You judge.'), new HumanMessage('First part.'), new HumanMessage('Second part.')];
const call = { jsonSchema: {}, schemaName: 'assessment', signal: new AbortController().signal };

describe('fake adapter', () => {
  it('shows scripts the system and user text, and estimates input tokens from it', async () => {
    const seen: string[] = [];
    const adapter = createFakeAdapter({
      script: (fakeCall) => {
        seen.push(fakeCall.system, fakeCall.user);
        return 'ok';
      },
    });
    const completion = await adapter.complete(messages, call);
    expect(seen).toEqual(['You judge.', 'First part.\nSecond part.']);
    expect(completion.inputTokens).toBe(Math.ceil(('You judge.'.length + 'First part.\nSecond part.'.length) / 4));
    expect(adapter.chat.calls.map((recorded) => [recorded.index, recorded.user])).toEqual([[0, 'First part.\nSecond part.']]);
  });

  it('keeps no calls with recordCalls: false, but still numbers them', async () => {
    const indexes: number[] = [];
    const adapter = createFakeAdapter({
      recordCalls: false,
      script: (fakeCall) => {
        indexes.push(fakeCall.index);
        return 'ok';
      },
    });
    await adapter.complete(messages, call);
    await adapter.complete(messages, call);
    expect(adapter.chat.calls).toHaveLength(0);
    expect(indexes).toEqual([0, 1]);
  });
});
