import { z } from 'zod';

/** Most endpoints one entry may list (a fleet of a few hundred servers is already far beyond one run's needs). */
export const MAX_ENDPOINTS_PER_MODEL = 256;
/** Most entries one models file may hold. */
export const MAX_MODEL_ENTRIES = 1000;
/** Highest concurrency accepted for an endpoint or an entry. */
export const MAX_ENDPOINT_CONCURRENCY = 10_000;

/** An http(s) base URL of an OpenAI-compatible server, e.g. `http://gpu1:8000/v1`. */
const BaseUrlSchema = z
  .string()
  .max(2000)
  .refine((value) => /^https?:\/\//i.test(value) && URL.canParse(value), {
    message: 'must be an http(s) URL such as http://gpu1:8000/v1',
  })
  .refine((value) => !URL.canParse(value) || (new URL(value).username === '' && new URL(value).password === ''), {
    message: 'must not hold a user:password (HTTP clients refuse such URLs); a bearer key goes in OPENAI_API_KEY',
  });

/** One server of a fleet: where it is, how many calls it takes at once, and its share of the traffic. */
export const ModelEndpointSchema = z
  .object({
    baseURL: BaseUrlSchema.describe('Base URL of the OpenAI-compatible API, e.g. http://gpu1:8000/v1 (vLLM, llama.cpp server).'),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(MAX_ENDPOINT_CONCURRENCY)
      .optional()
      .describe('Most calls in flight at this endpoint (default: TRIBUNAL_CONCURRENCY, else the provider default 8).'),
    weight: z
      .number()
      .finite()
      .positive()
      .max(1_000_000)
      .optional()
      .describe('Share of the traffic relative to the other endpoints (default: its concurrency).'),
  })
  .strict();
export type ModelEndpoint = z.infer<typeof ModelEndpointSchema>;

/** A model served by several endpoints, with the circuit-breaker settings of its fleet. */
export const ModelEntrySchema = z
  .object({
    endpoints: z
      .array(ModelEndpointSchema)
      .min(1, 'list at least one endpoint')
      .max(MAX_ENDPOINTS_PER_MODEL)
      .superRefine((endpoints, context) => {
        const seen = new Map<string, number>();
        endpoints.forEach((endpoint, index) => {
          const key = endpoint.baseURL.replace(/\/+$/, '').toLowerCase();
          const first = seen.get(key);
          if (first === undefined) seen.set(key, index);
          else
            context.addIssue({
              code: 'custom',
              path: [index, 'baseURL'],
              message: `the same server as endpoints[${first}]; list each server once and raise its concurrency instead`,
            });
        });
      })
      .describe('The servers that serve this model; calls spread over the healthy ones.'),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(MAX_ENDPOINT_CONCURRENCY)
      .optional()
      .describe('Most calls in flight over all endpoints together (default: the sum of the endpoints).'),
    failureThreshold: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe('Consecutive failures (connection errors, 5xx, timeouts) that take an endpoint out (default 3).'),
    probeIntervalMs: z
      .number()
      .int()
      .min(1)
      .max(3_600_000)
      .optional()
      .describe('Wait before the first health probe of an endpoint taken out (default 2000); doubles per failed probe.'),
    maxProbeIntervalMs: z
      .number()
      .int()
      .min(1)
      .max(3_600_000)
      .optional()
      .describe('Longest wait between health probes (default 60000).'),
  })
  .strict();
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

/** A key of the `models:` table: an `openai:` model id, or an `openai:` id prefix ending in `*`. */
export const ModelEntryKeySchema = z
  .string()
  .max(1000)
  .regex(
    /^openai:[^*]+\*?$|^openai:\*$/,
    'expected an openai: model id (e.g. "openai:qwen2.5-72b-instruct") or a prefix ending in "*" (e.g. "openai:*"): ' +
      'endpoint fleets are OpenAI-compatible servers (vLLM, llama.cpp, Ollama, SGLang)',
  );

/** The `models:` table: model ids (or prefixes) mapped to the endpoints that serve them. */
export const ModelEntriesSchema = z
  .record(ModelEntryKeySchema, ModelEntrySchema)
  .refine((entries) => Object.keys(entries).length <= MAX_MODEL_ENTRIES, {
    message: `at most ${MAX_MODEL_ENTRIES} entries`,
  });
export type ModelEntries = z.infer<typeof ModelEntriesSchema>;

/** A models file (`--models FILE`, `TRIBUNAL_MODELS`): where each model is served. */
export const ModelsFileSchema = z
  .object({
    models: ModelEntriesSchema.describe('Model id (or prefix ending in *) to the endpoints that serve it.'),
  })
  .strict();
export type ModelsFile = z.infer<typeof ModelsFileSchema>;
