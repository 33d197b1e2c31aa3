import path from 'node:path';
import { loadModelsFile } from '../config/index.js';
import type { ModelEntries } from '../contracts/index.js';
import type { Settings } from '../models/index.js';

/** The flag every command that calls models takes to spread them over fleets of endpoints. */
export const ENDPOINT_OPTIONS = {
  models: { type: 'string' },
} as const;

/** The help line of `ENDPOINT_OPTIONS`. */
export const ENDPOINT_HELP = `  --models FILE             models served by several endpoints (a fleet of vLLM or llama.cpp servers): per-endpoint
                            concurrency, health probes, failover (default: TRIBUNAL_MODELS; docs/file-formats.md)`;

/**
 * The endpoint fleets a command runs with: `--models FILE`, else the file `TRIBUNAL_MODELS` names, else none. A bad
 * file fails with its file, line and field (`models.openai:m.endpoints[2].baseURL`).
 * @example const endpoints = await endpointsFrom({ values, settings, cwd: io.cwd });
 */
export async function endpointsFrom(options: {
  values: { models?: string | undefined };
  settings: Settings;
  cwd: string;
}): Promise<ModelEntries | undefined> {
  const file = modelsFileOf(options);
  if (file === undefined) return undefined;
  return (await loadModelsFile(file)).models;
}

/** The models file a command reads, resolved against `cwd`: `--models`, else `TRIBUNAL_MODELS`; undefined when neither. */
export function modelsFileOf(options: {
  values: { models?: string | undefined };
  settings: Settings;
  cwd: string;
}): string | undefined {
  const file = options.values.models ?? options.settings.modelsFile;
  return file === undefined ? undefined : path.resolve(options.cwd, file);
}
