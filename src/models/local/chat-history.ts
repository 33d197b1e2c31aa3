import type { BaseMessage } from '@langchain/core/messages';
import type { ChatHistoryItem } from 'node-llama-cpp';

/**
 * Converts LangChain messages to node-llama-cpp chat history that ends with the model turn to generate:
 * system (and developer) messages become system items, AI messages model items, and everything else (human, tool)
 * user items; consecutive messages of one kind are joined. A trailing AI message is continued, not answered.
 */
export function toChatHistory(messages: readonly BaseMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const message of messages) {
    const text = message.text;
    const type = message.getType();
    const last = history.at(-1);
    if (type === 'system' || type === 'developer') {
      if (last?.type === 'system' && typeof last.text === 'string') last.text = `${last.text}\n\n${text}`;
      else history.push({ type: 'system', text });
    } else if (type === 'ai') {
      if (last?.type === 'model') last.response.push(text);
      else history.push({ type: 'model', response: [text] });
    } else if (last?.type === 'user') {
      last.text = `${last.text}\n\n${text}`;
    } else {
      history.push({ type: 'user', text });
    }
  }
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
  return history;
}
