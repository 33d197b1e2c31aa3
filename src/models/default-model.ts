import type { Settings } from './settings.js';

/** The OpenAI model used when only OpenAI credentials (or an OpenAI-compatible base URL) are configured. */
export const DEFAULT_OPENAI_MODEL = 'openai:gpt-4.1-mini';
/** The Anthropic model used when only ANTHROPIC_API_KEY is configured. */
export const DEFAULT_ANTHROPIC_MODEL = 'anthropic:claude-sonnet-4-5';
/** A small instruct GGUF in node-llama-cpp's `hf:<user>/<repo>:<quant>` form, downloaded on first use. */
export const DEFAULT_LOCAL_GGUF = 'hf:bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M';

/** The chosen default model id and, for humans, where the choice came from. */
export interface DefaultModel {
  id: string;
  /** E.g. `--model`, `panel`, `TRIBUNAL_MODEL`, `OPENAI_API_KEY`, `TRIBUNAL_LOCAL_MODEL`, `built-in local default`. */
  source: string;
}

/**
 * Picks the default model: explicit `--model` > the panel's model > the environment (TRIBUNAL_MODEL, else
 * OPENAI_API_KEY or OPENAI_BASE_URL, else ANTHROPIC_API_KEY) > the local default GGUF.
 * With only OPENAI_BASE_URL set, the served model's name is unknown: set TRIBUNAL_MODEL=openai:<served name>.
 * @example
 * const { id, source } = resolveDefaultModel({ explicit: flags.model, panelModel: panel.model, settings: loadSettings() });
 */
export function resolveDefaultModel(options: {
  explicit?: string | undefined;
  panelModel?: string | undefined;
  settings: Settings;
}): DefaultModel {
  const { settings } = options;
  const explicit = options.explicit?.trim();
  if (explicit) return { id: explicit, source: '--model' };
  const panelModel = options.panelModel?.trim();
  if (panelModel) return { id: panelModel, source: 'panel' };
  if (settings.model) return { id: settings.model, source: 'TRIBUNAL_MODEL' };
  if (settings.openaiApiKey) return { id: DEFAULT_OPENAI_MODEL, source: 'OPENAI_API_KEY' };
  if (settings.openaiBaseUrl) return { id: DEFAULT_OPENAI_MODEL, source: 'OPENAI_BASE_URL' };
  if (settings.anthropicApiKey) return { id: DEFAULT_ANTHROPIC_MODEL, source: 'ANTHROPIC_API_KEY' };
  if (settings.localModel) return { id: `local:${settings.localModel}`, source: 'TRIBUNAL_LOCAL_MODEL' };
  return { id: `local:${DEFAULT_LOCAL_GGUF}`, source: 'built-in local default' };
}
