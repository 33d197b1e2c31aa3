import { z } from 'zod';
import { type Result, TribunalError } from '../contracts/index.js';

/**
 * The one module that reads `process.env`. Values are trimmed and empty strings count as unset,
 * exactly as the official OpenAI and Anthropic SDKs treat their environment variables.
 */

/** Which environment variable feeds each settings field (used in messages, never with secret values). */
export const SETTINGS_ENV = {
  openaiApiKey: 'OPENAI_API_KEY',
  openaiBaseUrl: 'OPENAI_BASE_URL',
  anthropicApiKey: 'ANTHROPIC_API_KEY',
  anthropicBaseUrl: 'ANTHROPIC_BASE_URL',
  model: 'TRIBUNAL_MODEL',
  localModel: 'TRIBUNAL_LOCAL_MODEL',
  concurrency: 'TRIBUNAL_CONCURRENCY',
  timeoutMs: 'TRIBUNAL_TIMEOUT_MS',
  idleTimeoutMs: 'TRIBUNAL_IDLE_TIMEOUT_MS',
  maxRetries: 'TRIBUNAL_MAX_RETRIES',
  python: 'TRIBUNAL_PYTHON',
  store: 'TRIBUNAL_STORE',
  modelsFile: 'TRIBUNAL_MODELS',
} as const;

/** Never echoed in messages: API keys, and the store URL (it may carry a password). */
const SECRET_FIELDS = new Set<string>(['openaiApiKey', 'anthropicApiKey', 'store']);

/** A trimmed string where empty means unset; `check` validates set values. */
const text = (check?: { test: (value: string) => boolean; message: string }) =>
  z
    .string()
    .transform((value) => value.trim())
    .refine((value) => value === '' || !check || check.test(value), check?.message)
    .transform((value) => (value === '' ? undefined : value))
    .optional();

const url = text({
  test: (value) => /^https?:\/\//i.test(value) && URL.canParse(value),
  message: 'must be an http(s) URL such as http://localhost:8000/v1',
});

const integer = (min: number) =>
  z
    .string()
    .transform((value) => value.trim())
    .refine((value) => value === '' || /^\d+$/.test(value), 'must be a whole number')
    .refine((value) => value === '' || Number(value) >= min, `must be at least ${min}`)
    .transform((value) => (value === '' ? undefined : Number(value)))
    .optional();

const modelId = text({
  test: (value) => /^[a-z][a-z0-9-]*:.+/.test(value),
  message: 'must be a model id such as openai:gpt-4.1-mini, anthropic:claude-sonnet-4-5 or local:/path/model.gguf',
});

/** Typed settings parsed from the environment; every field is optional. */
export const SettingsSchema = z.object({
  openaiApiKey: text(),
  openaiBaseUrl: url,
  anthropicApiKey: text(),
  anthropicBaseUrl: url,
  /** Default model id for every critic that names none (`TRIBUNAL_MODEL`). */
  model: modelId,
  /** Path or `hf:` URI of the local default GGUF (`TRIBUNAL_LOCAL_MODEL`). */
  localModel: text(),
  /** Most calls in flight per provider. */
  concurrency: integer(1),
  /** Total deadline of one model call attempt in ms, however busy the stream (default 600000). */
  timeoutMs: integer(1),
  /** Longest wait in ms for a call's first chunk and between chunks (default 120000). */
  idleTimeoutMs: integer(1),
  /** Retries after the first attempt. */
  maxRetries: integer(0),
  /** Python interpreter for the training worker (`TRIBUNAL_PYTHON`); it needs torch. */
  python: text(),
  /** Where runs live instead of DIR/tribunal.sqlite (`TRIBUNAL_STORE`, or `--store`): a Postgres URL. */
  store: text({
    test: (value) => /^postgres(ql)?:\/\//i.test(value) && URL.canParse(value),
    message: 'must be a postgres:// or postgresql:// URL such as postgres://tribunal@db.internal/tribunal',
  }),
  /** A models file (`TRIBUNAL_MODELS`, or `--models`): models served by fleets of endpoints (docs/file-formats.md). */
  modelsFile: text(),
});
export type Settings = z.infer<typeof SettingsSchema>;

/** Parses an environment (a `process.env`-shaped record) into settings; secret values never appear in errors. */
export function parseSettings(env: Record<string, string | undefined>): Result<Settings> {
  const input = Object.fromEntries(Object.entries(SETTINGS_ENV).map(([field, name]) => [field, env[name]]));
  const parsed = SettingsSchema.safeParse(input);
  if (parsed.success) return { success: true, value: parsed.data };
  const lines = parsed.error.issues.map((issue) => {
    const field = String(issue.path[0] ?? '');
    const name = SETTINGS_ENV[field as keyof typeof SETTINGS_ENV] ?? field;
    const shown = SECRET_FIELDS.has(field) ? '' : ` (got ${JSON.stringify(env[name] ?? '')})`;
    return `  - ${name}: ${issue.message}${shown}`;
  });
  return {
    success: false,
    error: new TribunalError('CONFIG_INVALID', `invalid environment:\n${lines.join('\n')}\nFix or unset these variables.`, {
      location: { field: lines.length === 1 ? String(parsed.error.issues[0]?.path[0] ?? '') : '' },
    }),
  };
}

/** Reads and validates `process.env` once; throws a CONFIG_INVALID TribunalError naming the bad variables. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const result = parseSettings(env);
  if (!result.success) throw result.error;
  return result.value;
}
