import type { InputFormat, ResolvedPanel } from '../contracts/index.js';
import type { RunConfig } from '../store/index.js';
import { criticModels } from './critic-models.js';
import type { ExportSettings } from './export-run.js';
import type { LabelingWorkerSpec } from './worker-spec.js';

/**
 * The run config of a labeling job: the input by content hash, the panel hash, every persona's and the
 * constitution's content hash, each critic's model and the label-changing options; `runtime` (concurrency, limit,
 * export settings, the resolved panel for workers) is recorded but not hashed. A rerun with an equal hash resumes; a changed hash requeues the
 * items labeled under the old one (the turn cache makes unchanged turns free).
 */
export function labelingRunConfig(options: {
  input: { file: string; sha256: string; format: InputFormat };
  panel: ResolvedPanel;
  defaultModel: string;
  modelOverride?: string | undefined;
  runtime: { concurrency: number; limit?: number | undefined; export: ExportSettings; worker?: LabelingWorkerSpec | undefined };
}): RunConfig {
  const { panel } = options;
  const models = criticModels(options);
  const personas = Object.fromEntries(panel.critics.map((critic) => [critic.id, critic.hash]));
  if (panel.chair) personas[panel.chair.id] = panel.chair.hash;
  return {
    input: { ...options.input },
    panel: { id: panel.panel.id, hash: panel.hash },
    personas,
    constitution: { id: panel.constitution.id, version: panel.constitution.version, hash: panel.constitution.hash },
    models: models.chair === undefined ? models.critics : { ...models.critics, [`chair:${panel.chair?.id}`]: models.chair },
    // The panel hash covers the file; these are the fields a command line may override after loading it.
    options: { protocol: panel.panel.protocol, maxRounds: panel.panel.maxRounds },
    runtime: {
      concurrency: options.runtime.concurrency,
      ...(options.runtime.limit === undefined ? {} : { limit: options.runtime.limit }),
      export: options.runtime.export,
      // What `tribunal worker` needs to join the run from another process or machine (see worker-spec.ts).
      ...(options.runtime.worker === undefined ? {} : { worker: options.runtime.worker }),
    },
  };
}
