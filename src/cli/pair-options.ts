import type { ExportSettings } from '../runner/index.js';
import { parseExportFlags } from '../runner/index.js';

/** The flags `tribunal label` and `tribunal export` share for binarizing and writing preference pairs. */
export const PAIR_OPTIONS = {
  'pairs-format': { type: 'string' },
  strategy: { type: 'string' },
  'min-margin': { type: 'string' },
  'min-agreement': { type: 'string' },
  'min-consensus': { type: 'string' },
  uncertainty: { type: 'boolean' },
  'length-control': { type: 'boolean' },
  'exclude-flagged': { type: 'boolean' },
  'exclude-escalated': { type: 'boolean' },
  seed: { type: 'string' },
} as const;

/** The export settings those flags override, checked (unknown strategies, bounds) with clear errors. */
export function pairSettingsFrom(values: {
  'pairs-format'?: string | undefined;
  strategy?: string | undefined;
  'min-margin'?: string | undefined;
  'min-agreement'?: string | undefined;
  'min-consensus'?: string | undefined;
  uncertainty?: boolean | undefined;
  'length-control'?: boolean | undefined;
  'exclude-flagged'?: boolean | undefined;
  'exclude-escalated'?: boolean | undefined;
  seed?: string | undefined;
}): Partial<ExportSettings> {
  return parseExportFlags({
    pairsFormat: values['pairs-format'],
    strategy: values.strategy,
    minMargin: values['min-margin'],
    minAgreement: values['min-agreement'],
    minConsensus: values['min-consensus'],
    uncertainty: values.uncertainty,
    lengthControl: values['length-control'],
    excludeFlagged: values['exclude-flagged'],
    excludeEscalated: values['exclude-escalated'],
    seed: values.seed,
  });
}
