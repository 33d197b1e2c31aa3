import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { BaseMessage } from '@langchain/core/messages';
import type { z } from 'zod';
import type { TribunalError, Usage } from '../contracts/index.js';

/** Which debate turn a call belongs to; passed to models as a call option so fakes can script by turn. */
export interface TurnTag {
  round: number;
  criticId: string;
  candidateId: string;
}

/** One structured-output request: messages in, a value matching `schema` out. */
export interface StructuredRequest<T> {
  messages: BaseMessage[];
  schema: z.ZodType<T>;
  /** Name of the schema as sent to providers (letters, digits, underscores). */
  schemaName: string;
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  /** Called with each streamed text fragment as it arrives. */
  onToken?: (text: string) => void;
  turn?: TurnTag;
}

/**
 * The outcome of a structured call after retries and one repair attempt; never throws for model misbehaviour.
 * A failure names the provider's stop reason when it had one (`length`, `max_tokens`, `content_filter`, `refusal`),
 * and a refused call (`error.code` `REFUSED`) carries the refusal text the provider sent, when it sent any.
 */
export type StructuredOutcome<T> =
  | { success: true; value: T; usage: Usage; attempts: number; text: string }
  | {
      success: false;
      error: TribunalError;
      usage: Usage;
      attempts: number;
      text: string;
      stopReason?: string;
      refusal?: string;
    };

/** Price of a model in USD per million input and output tokens. */
export interface ModelPricing {
  inputPerMillion: number;
  outputPerMillion: number;
}

/** The one model interface engine nodes see: a LangChain chat model plus a structured-output call. */
export interface CriticModel {
  /** The full id, e.g. `openai:gpt-4.1-mini`. */
  readonly id: string;
  readonly provider: string;
  readonly chat: BaseChatModel;
  /** The price used for `usage.costUsd`; undefined when unknown (cost is then reported as 0). */
  readonly pricing?: ModelPricing | undefined;
  structured<T>(request: StructuredRequest<T>): Promise<StructuredOutcome<T>>;
}

/**
 * How a provider call ended, the same for every provider: `complete` (OpenAI `stop`, Anthropic `end_turn`,
 * `stop_sequence`), `truncated` at the token limit (`length`, `max_tokens`), `refused` (OpenAI `content_filter` or a
 * `delta.refusal`, Anthropic `refusal`), or `other` (tool calls, `pause_turn`, a reason this version does not know).
 */
export type StopKind = 'complete' | 'truncated' | 'refused' | 'other';

/** Raw text and token counts from one streamed provider call constrained to a JSON schema. */
export interface RawCompletion {
  text: string;
  inputTokens: number;
  outputTokens: number;
  /** How the call ended; absent for providers that do not say (local, fake), which counts as complete. */
  stop?: StopKind;
  /** The provider's own stop reason (`finish_reason`, `stop_reason`), as sent. */
  stopReason?: string;
  /** Refusal text the provider sent apart from the content (OpenAI `delta.refusal`). */
  refusal?: string;
}

/** Options for one raw provider call. */
export interface RawCallOptions {
  jsonSchema: Record<string, unknown>;
  schemaName: string;
  temperature?: number;
  maxTokens?: number;
  signal: AbortSignal;
  onToken?: (text: string) => void;
  /** Called for every chunk the provider streams (text or not), so an idle timeout can tell a slow stream from a dead one. */
  onChunk?: () => void;
  turn?: TurnTag;
}

/**
 * A provider adapter: builds the chat model for a model name and performs one streamed call that is
 * constrained to a JSON schema in the provider's own way (json_schema, output format, grammar, script).
 */
export interface ProviderAdapter {
  readonly provider: string;
  readonly chat: BaseChatModel;
  /** Price per million input/output tokens in USD, when known. */
  readonly pricing?: ModelPricing | undefined;
  complete(messages: BaseMessage[], options: RawCallOptions): Promise<RawCompletion>;
  /** Frees native resources (local models). */
  close?(): Promise<void>;
}
