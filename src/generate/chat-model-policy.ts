import { AIMessage, type BaseMessage, HumanMessage, SystemMessage } from '@langchain/core/messages';
import { type GenerationSample, TribunalError, type Usage, ZERO_USAGE } from '../contracts/index.js';
import { costOf, type ModelRegistry } from '../models/index.js';
import { type CallPolicy, promptMessages } from './policy.js';

/**
 * A policy over a registry model's chat model (`local:PATH` GGUF models): one free-text call per sample with the
 * sampling temperature and token limit (`top_p` and the seed are the runtime's own); token counts from the call's
 * usage, no log-probabilities.
 * @example const policy = await createChatModelPolicy({ id: 'local:/models/qwen.gguf', models });
 */
export async function createChatModelPolicy(options: { id: string; models: ModelRegistry }): Promise<CallPolicy> {
  const model = await options.models.resolve(options.id);
  return {
    kind: 'call',
    id: options.id,
    fingerprint: options.id,
    logprobs: false,
    async samplePrompt({ item, settings, signal }) {
      const messages: BaseMessage[] = promptMessages(item).map((message) =>
        message.role === 'system'
          ? new SystemMessage(message.content)
          : message.role === 'assistant'
            ? new AIMessage(message.content)
            : new HumanMessage(message.content),
      );
      const samples: GenerationSample[] = [];
      let usage: Usage = ZERO_USAGE;
      for (let index = 0; index < settings.n; index++) {
        if (signal.aborted) throw new TribunalError('ABORTED', 'sampling was interrupted');
        let reply: AIMessage;
        try {
          reply = (await model.chat.invoke(messages, {
            signal,
            temperature: settings.temperature,
            maxTokens: settings.maxTokens,
          } as Parameters<typeof model.chat.invoke>[1])) as AIMessage;
        } catch (error) {
          if (signal.aborted) throw new TribunalError('ABORTED', 'sampling was interrupted', { cause: error });
          throw new TribunalError('PROVIDER_FAILED', `${options.id}: ${(error as Error)?.message ?? String(error)}`, {
            cause: error,
          });
        }
        const text = typeof reply.content === 'string' ? reply.content : JSON.stringify(reply.content);
        // The generic message type resolves usage_metadata to never; read it structurally.
        const metadata = (reply as unknown as { usage_metadata?: { input_tokens?: number; output_tokens?: number } })
          .usage_metadata;
        const tokens = metadata?.output_tokens;
        const inputTokens = metadata?.input_tokens ?? 0;
        usage = {
          inputTokens: usage.inputTokens + inputTokens,
          outputTokens: usage.outputTokens + (tokens ?? 0),
          calls: usage.calls + 1,
          costUsd: usage.costUsd + costOf(model.pricing, { inputTokens, outputTokens: tokens ?? 0 }),
        };
        samples.push({
          index,
          text,
          tokens: tokens ?? null,
          logprob: null,
          finish: tokens !== undefined && tokens >= settings.maxTokens ? 'length' : 'stop',
        });
      }
      return { samples, usage };
    },
    async close() {},
  };
}
