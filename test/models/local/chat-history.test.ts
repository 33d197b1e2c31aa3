import { AIMessage, HumanMessage, SystemMessage, ToolMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { toChatHistory } from '../../../src/models/local/chat-history.js';

describe('toChatHistory', () => {
  it('maps roles, joins consecutive messages of one kind and ends with the model turn to generate', () => {
    expect(
      toChatHistory([
        new SystemMessage('You are a critic.'),
        new SystemMessage('Follow the constitution.'),
        new HumanMessage('Assess A.'),
        new AIMessage('{"score": 11}'),
        new HumanMessage('Your reply was not valid.'),
        new ToolMessage({ content: 'tool output', tool_call_id: 'call-1' }),
      ]),
    ).toEqual([
      { type: 'system', text: 'You are a critic.\n\nFollow the constitution.' },
      { type: 'user', text: 'Assess A.' },
      { type: 'model', response: ['{"score": 11}'] },
      { type: 'user', text: 'Your reply was not valid.\n\ntool output' },
      { type: 'model', response: [] },
    ]);
  });

  it('continues a trailing AI message instead of answering it', () => {
    expect(toChatHistory([new HumanMessage('Hi'), new AIMessage('{"score":')])).toEqual([
      { type: 'user', text: 'Hi' },
      { type: 'model', response: ['{"score":'] },
    ]);
  });
});
