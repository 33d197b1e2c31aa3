import type { BaseMessage } from '@langchain/core/messages';
import type { Usage } from '../contracts/index.js';
import { costOf } from './pricing.js';
import type { ModelPricing, RawCompletion } from './types.js';

/** Tokens assumed per chat message for the role markers and separators a chat template adds around its text. */
export const TOKENS_PER_MESSAGE = 4;

/**
 * Estimates the tokens of a text without a tokenizer: one token per 4 ASCII characters (BPE tokenizers such as
 * OpenAI's and Anthropic's average about 4 characters a token on English prose, code and JSON) plus one token per
 * other character (an accented letter, a CJK character or an emoji is one token or more). It leans high on text
 * outside ASCII, the safe side for a budget. Used only where a server reports no usage, and in `--dry-run`.
 * @example
 * estimateTokens('Hello, world!'); // 4
 */
export function estimateTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) ascii++;
    // A low surrogate is the second half of a character already counted with its high surrogate.
    else if (code < 0xdc00 || code > 0xdfff) other++;
  }
  return Math.ceil(ascii / 4) + other;
}

/** Estimates the input tokens of a chat request: each message's text plus `TOKENS_PER_MESSAGE`. */
export function estimateMessageTokens(messages: readonly BaseMessage[]): number {
  let tokens = 0;
  for (const message of messages) {
    const text = typeof message.content === 'string' ? message.content : JSON.stringify(message.content);
    tokens += estimateTokens(text) + TOKENS_PER_MESSAGE;
  }
  return tokens;
}

/**
 * The usage of one answered request: the server's token counts, or, for a side it reported as zero (OpenAI-compatible
 * servers that ignore `stream_options.include_usage`, proxies that drop the usage chunk), an estimate from the text
 * (`estimateMessageTokens` for the input, `estimateTokens` for the reply). A call with either side estimated counts in
 * `estimatedCalls`, and its cost, from the estimate, is an estimate too.
 * @example
 * const usage = completionUsage({ completion, messages, pricing, calls: 1 });
 */
export function completionUsage(options: {
  completion: RawCompletion;
  messages: readonly BaseMessage[];
  pricing: ModelPricing | undefined;
  calls: number;
}): Usage {
  const { completion } = options;
  const inputMissing = completion.inputTokens === 0;
  const outputMissing = completion.outputTokens === 0 && completion.text !== '';
  const tokens = {
    inputTokens: inputMissing ? estimateMessageTokens(options.messages) : completion.inputTokens,
    outputTokens: outputMissing ? estimateTokens(completion.text) : completion.outputTokens,
  };
  const usage: Usage = { ...tokens, calls: options.calls, costUsd: costOf(options.pricing, tokens) };
  if (inputMissing || outputMissing) usage.estimatedCalls = 1;
  return usage;
}
