import { z } from 'zod';
import { PanelSchema, type ResolvedPanel, TribunalError } from '../contracts/index.js';
import type { RunConfig, RunRecord } from '../store/index.js';
import { BreakerSettingsSchema } from './failure-breaker.js';

/** Largest stored worker spec accepted (the panel with its personas' bodies and the constitution), in JSON characters. */
export const MAX_WORKER_SPEC_CHARS = 4_000_000;

const CriticSchema = z.looseObject({ id: z.string().min(1), hash: z.string().min(1), body: z.string() });

/**
 * What a worker needs to label a run that another process created, stored in the run config's `runtime.worker`
 * (outside the config hash: the panel hash already covers the panel): the resolved panel (personas, constitution and
 * command-line overrides such as `--max-rounds` applied), the default model, `--model`, the prices and the breaker.
 */
export const LabelingWorkerSpecSchema = z.object({
  version: z.literal(1),
  panel: z.looseObject({
    panel: PanelSchema,
    critics: z.array(CriticSchema).min(1),
    chair: CriticSchema.optional(),
    constitution: z.looseObject({ id: z.string(), version: z.string(), hash: z.string() }),
    hash: z.string().min(1),
  }),
  defaultModel: z.string().min(1),
  modelOverride: z.string().min(1).optional(),
  pricing: z.record(z.string(), z.object({ inputPerMillion: z.number(), outputPerMillion: z.number() })).optional(),
  breaker: BreakerSettingsSchema.partial().optional(),
});
export type LabelingWorkerSpec = z.infer<typeof LabelingWorkerSpecSchema>;

/** The spec to store in a run config's `runtime.worker`. */
export function labelingWorkerSpec(options: {
  panel: ResolvedPanel;
  defaultModel: string;
  modelOverride?: string | undefined;
  pricing?: LabelingWorkerSpec['pricing'] | undefined;
  breaker?: LabelingWorkerSpec['breaker'] | undefined;
}): LabelingWorkerSpec {
  // A plain JSON copy: the run config is stored as JSON, and the spec must read back as what was stored.
  const panel = JSON.parse(JSON.stringify(options.panel)) as LabelingWorkerSpec['panel'];
  delete (panel as { file?: string }).file;
  return {
    version: 1,
    panel,
    defaultModel: options.defaultModel,
    ...(options.modelOverride === undefined ? {} : { modelOverride: options.modelOverride }),
    ...(options.pricing === undefined || Object.keys(options.pricing).length === 0 ? {} : { pricing: options.pricing }),
    ...(options.breaker === undefined ? {} : { breaker: options.breaker }),
  };
}

/**
 * The worker spec of a stored run, checked: present (runs labeled by a Tribunal before workers have none), valid,
 * bounded, and for the panel the run was hashed with. Errors name the run and what to do.
 */
export function workerSpecOf(run: RunRecord): { spec: LabelingWorkerSpec; panel: ResolvedPanel } {
  const raw = (run.config as RunConfig).runtime?.worker;
  if (raw === undefined) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `run ${run.id} does not record its panel (it was started by an older tribunal): run its "tribunal label … --no-work" command once to store it, then start the workers`,
    );
  }
  const size = JSON.stringify(raw).length;
  if (size > MAX_WORKER_SPEC_CHARS) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `run ${run.id}: its stored panel is ${size} characters, over the ${MAX_WORKER_SPEC_CHARS} a worker accepts`,
    );
  }
  const parsed = LabelingWorkerSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `runtime.worker.${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new TribunalError(
      'CONFIG_INVALID',
      `run ${run.id}: its stored panel is invalid (${issues}): rerun "tribunal label … --no-work"`,
    );
  }
  const spec = parsed.data;
  if (spec.panel.hash !== run.config.panel.hash || spec.panel.panel.id !== run.config.panel.id) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `run ${run.id}: its stored panel (${spec.panel.panel.id}, hash ${spec.panel.hash}) is not the one its config was hashed with (${run.config.panel.id}, hash ${run.config.panel.hash}): rerun "tribunal label … --no-work"`,
    );
  }
  return { spec, panel: spec.panel as unknown as ResolvedPanel };
}
