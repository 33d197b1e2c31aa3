import type { LabelPanel, ResolvedPanel } from '../contracts/index.js';
import { VERIFIER_MODEL } from '../engine/index.js';

/** Which model each critic (and the chair) speaks through, exactly as the engine picks it: override, own, default. */
export function criticModels(options: { panel: ResolvedPanel; defaultModel: string; modelOverride?: string | undefined }): {
  critics: Record<string, string>;
  chair?: string;
} {
  const modelFor = (own: string | undefined) => options.modelOverride ?? own ?? options.defaultModel;
  const critics = Object.fromEntries(options.panel.critics.map((critic) => [critic.id, modelFor(critic.model)]));
  return options.panel.chair ? { critics, chair: modelFor(options.panel.chair.model) } : { critics };
}

/** The panel provenance of a label row, from the resolved panel and the critics' models (what `debate-start` carries). */
export function labelPanelOf(options: { panel: ResolvedPanel; models: Record<string, string> }): LabelPanel {
  const { panel, critics, constitution, hash } = options.panel;
  return {
    id: panel.id,
    hash,
    protocol: panel.protocol,
    aggregation: panel.aggregation,
    scale: { min: panel.scale.min, max: panel.scale.max },
    constitution: { id: constitution.id, version: constitution.version, hash: constitution.hash },
    critics: critics.map((critic) => ({
      id: critic.id,
      // As debate-start names it: a verifier makes no model call.
      model: critic.kind === 'verifier' ? VERIFIER_MODEL : (options.models[critic.id] ?? ''),
      weight: critic.weight,
    })),
  };
}
