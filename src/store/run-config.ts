import { createHash } from 'node:crypto';
import { z } from 'zod';
import { stableJson } from './stable-json.js';

/**
 * What a labeling run was started with: the input (by content), the panel and everything under it that can
 * change a label. `runtime` holds settings that cannot (concurrency, progress style) and is left out of the hash.
 */
export const RunConfigSchema = z.looseObject({
  input: z.object({
    file: z.string().describe('The input path as given; informational, not part of the hash (the sha256 is).'),
    sha256: z.string().min(1).describe('sha256 hex digest of the input file bytes.'),
    format: z.string().optional(),
  }),
  panel: z.object({ id: z.string().min(1), hash: z.string().min(1) }),
  personas: z.record(z.string(), z.string()).describe('persona id -> content hash.'),
  constitution: z.object({ id: z.string(), version: z.string(), hash: z.string() }).nullable(),
  models: z.record(z.string(), z.string()).describe('critic id -> resolved model id.'),
  options: z.record(z.string(), z.unknown()).describe('Options that change labels: rounds, temperature, mode, seed.'),
  runtime: z.record(z.string(), z.unknown()).optional().describe('Options that do not change labels; not hashed.'),
});
export type RunConfig = z.infer<typeof RunConfigSchema>;

/**
 * The hash of everything in a run config that can change a label (sha256 hex, first 16 digits): the input
 * content, panel, persona and constitution hashes, model ids and label options; not the input path or `runtime`.
 */
export function runConfigHash(config: RunConfig): string {
  const { input, runtime: _runtime, ...rest } = config;
  const material = stableJson({ ...rest, input: { sha256: input.sha256, format: input.format } });
  return createHash('sha256').update(material).digest('hex').slice(0, 16);
}
