import { initChatModel } from 'langchain/chat_models/universal';
import type { RawCallOptions } from './types.js';

/** How many (temperature, max tokens) variants of one model are kept. */
const VARIANT_LIMIT = 16;

/** A provider's chat model and its per-call variants. */
export interface ChatModelVariants<M> {
  /** The model with the provider's defaults. */
  base: M;
  /** The model for one call's temperature and token limit: `base` when the call sets neither. */
  variant(call: RawCallOptions): Promise<M>;
}

/**
 * Builds `id` (e.g. `openai:gpt-4.1-mini`) with `initChatModel` and the constructor `fields`, and hands out variants
 * with a call's temperature (after the provider's `temperature` rule: clamped, or dropped where the model refuses one)
 * and max tokens, built once each and cached (the oldest of more than 16 dropped).
 * @example const { base, variant } = await chatModelVariants<ChatOpenAI>({ id: 'openai:gpt-4.1', fields, temperature: (t) => t });
 */
export async function chatModelVariants<M>(options: {
  id: string;
  fields: Record<string, unknown>;
  temperature: (requested: number | undefined) => number | undefined;
  /** Runs once on every model built (the base and each variant), e.g. to install a `RawStreamTap`. */
  prepare?: (model: M) => void;
}): Promise<ChatModelVariants<M>> {
  const build = async (extra: { temperature?: number; maxTokens?: number }): Promise<M> => {
    const configurable = await initChatModel(options.id, { ...options.fields, ...extra });
    const model = (await configurable._getModelInstance()) as unknown as M;
    options.prepare?.(model);
    return model;
  };
  const base = await build({});
  const variants = new Map<string, Promise<M>>();
  return {
    base,
    variant(call: RawCallOptions): Promise<M> {
      const temperature = options.temperature(call.temperature);
      if (temperature === undefined && call.maxTokens === undefined) return Promise.resolve(base);
      const key = `${temperature}|${call.maxTokens}`;
      const existing = variants.get(key);
      if (existing !== undefined) return existing;
      const created = build({
        ...(temperature === undefined ? {} : { temperature }),
        ...(call.maxTokens === undefined ? {} : { maxTokens: call.maxTokens }),
      });
      // A failed build is not remembered: the next call tries again.
      created.catch(() => variants.delete(key));
      variants.set(key, created);
      if (variants.size > VARIANT_LIMIT) {
        const oldest = variants.keys().next().value;
        if (oldest !== undefined) variants.delete(oldest);
      }
      return created;
    },
  };
}
