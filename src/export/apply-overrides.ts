import type { LabelRow } from '../contracts/index.js';
import type { VerdictOverride } from '../store/index.js';

/** What an exported label row carries in `meta.humanOverride` when a human corrected its verdict (viewer, `verdict.override`). */
export interface HumanOverrideMeta {
  /** Always `human`: this label came from a person, not the panel. */
  source: 'human';
  kind: VerdictOverride['kind'];
  candidateId?: string;
  note?: string;
  createdAt: string;
  overrideId: number;
}

/**
 * Marks label rows with the latest human override of their debate (or item): `meta.humanOverride` records it, and
 * a `prefer` override also sets `meta.humanPreferred`, the gold label the dataset card compares the panel with, and
 * an escalated row's `review` becomes `answered`.
 * Rows without an override pass through unchanged. Streams: call it on the rows given to `exportDataset`.
 * @example
 * const rows = applyOverrides({ rows: labelRows, overrides: await store.listOverrides({ runId }) });
 * await exportDataset({ rows, directory: 'out' });
 */
export async function* applyOverrides(options: {
  rows: Iterable<LabelRow> | AsyncIterable<LabelRow>;
  overrides: readonly VerdictOverride[];
}): AsyncGenerator<LabelRow> {
  const byDebate = new Map<string, VerdictOverride>();
  const byItem = new Map<string, VerdictOverride>();
  for (const override of options.overrides) {
    if (override.debateId !== undefined && (byDebate.get(override.debateId)?.id ?? -1) < override.id) {
      byDebate.set(override.debateId, override);
    }
    if (override.itemId !== undefined && (byItem.get(override.itemId)?.id ?? -1) < override.id)
      byItem.set(override.itemId, override);
  }
  for await (const row of options.rows) {
    const fromDebate = row.debateId === undefined ? undefined : byDebate.get(row.debateId);
    const fromItem = byItem.get(row.id);
    const latest = fromDebate && fromItem ? (fromDebate.id > fromItem.id ? fromDebate : fromItem) : (fromDebate ?? fromItem);
    yield latest === undefined ? row : withOverride(row, latest);
  }
}

/** A copy of `row` carrying `override` in its meta (see `applyOverrides`). */
export function withOverride(row: LabelRow, override: VerdictOverride): LabelRow {
  const humanOverride: HumanOverrideMeta = {
    source: 'human',
    kind: override.kind,
    createdAt: override.createdAt,
    overrideId: override.id,
    ...(override.candidateId === undefined ? {} : { candidateId: override.candidateId }),
    ...(override.note === undefined ? {} : { note: override.note }),
  };
  const meta: Record<string, unknown> = { ...row.meta, humanOverride };
  if (override.kind === 'prefer' && override.candidateId !== undefined) meta.humanPreferred = override.candidateId;
  // A human verdict answers an escalated item's review (docs/labeling.md, Review queue).
  return row.review === undefined ? { ...row, meta } : { ...row, meta, review: { ...row.review, answered: true } };
}
