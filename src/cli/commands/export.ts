import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TribunalError } from '../../contracts/index.js';
import { loadSettings } from '../../models/index.js';
import { exportRun, exportSettingsOf } from '../../runner/index.js';
import { lockRunDirectory, openStore, STORE_FILE_NAME, type Store } from '../../store/index.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { PAIR_OPTIONS, pairSettingsFrom } from '../pair-options.js';
import { styleFor } from '../terminal.js';

export const EXPORT_HELP = `Usage: tribunal export DIR [options]

Regenerates a run directory's outputs from its store (DIR/tribunal.sqlite, or the Postgres database of --store):
labels.jsonl, the preference pairs, the dataset card README.md with its figure, and rejected.jsonl. Each file is
replaced atomically. With --store, DIR is created if needed, on any machine that reaches the database.
Refused while a \`tribunal label\` session holds DIR (it exports when it ends).
Without flags it repeats the settings the run was labeled with, so the files come out identical.

Options:
  --run ID                  the run to export (default: the latest run in the store)
  --store URL               read runs from this Postgres database (postgres://…; default $TRIBUNAL_STORE)
  --pairs-format F          trl (pairs.jsonl) | openai (pairs.openai.jsonl)
  --strategy S              best-vs-worst | best-vs-random-lower | all-pairs
  --min-margin X            keep pairs whose score margin is at least X (panel scale units)
  --min-agreement X         keep pairs whose candidates' agreement is at least X (0..1)
  --min-consensus X         keep pairs whose critics' consensus probability is at least X (0..1)
  --uncertainty             add votes, consensus_probability, disagreement and label_smoothing columns to TRL pairs
  --length-control          pair on length-controlled scores (the run's score-on-length slope regressed out)
  --exclude-flagged         drop pairs with a candidate flagged as prompt injection (docs/prompt-injection.md)
  --exclude-escalated       drop the pairs of items escalated to a human review (panel escalate) that no human
                            verdict answered; by default they are kept, marked "review" (docs/labeling.md)
  --seed S                  seed of best-vs-random-lower
  --json                    print what was written as JSON
  -h, --help                show this help`;

/** `tribunal export DIR`: rewrite a run directory's output files from its store. */
export async function exportCommand(argv: string[], io: CliIo, _signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      run: { type: 'string' },
      store: { type: 'string' },
      ...PAIR_OPTIONS,
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${EXPORT_HELP}\n`);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new TribunalError('CONFIG_INVALID', 'give exactly one run directory: tribunal export DIR');
  const directory = path.resolve(io.cwd, positionals[0] ?? '');
  const overrides = pairSettingsFrom(values);
  const storeUrl = values.store ?? loadSettings().store;
  if (storeUrl !== undefined) mkdirSync(directory, { recursive: true });
  else if (!existsSync(path.join(directory, STORE_FILE_NAME))) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `${directory} holds no ${STORE_FILE_NAME}: give the --out directory of a "tribunal label" run`,
    );
  }
  // While a labeling session holds the directory it owns the outputs (it exports when it ends): refuse, don't race it.
  const lock = lockRunDirectory({ dir: directory, purpose: 'export' });
  let store: Store | undefined;
  try {
    store = openStore({ dir: directory, readonly: true, url: storeUrl });
    const run = values.run === undefined ? (await store.listRuns())[0] : await store.getRun({ runId: values.run });
    if (!run) {
      throw new TribunalError(
        'CONFIG_INVALID',
        values.run === undefined ? `${store.location} holds no run yet` : `${store.location} holds no run "${values.run}"`,
      );
    }
    if (run.config.kind === 'generation') {
      throw new TribunalError(
        'CONFIG_INVALID',
        `run ${run.id} in ${directory} is a "tribunal generate" run: its output is candidates.jsonl, rewritten by rerunning the same generate command`,
      );
    }
    const settings = { ...exportSettingsOf(run.config.runtime), ...overrides };
    const exported = await exportRun({ store, runId: run.id, directory, settings });
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify(
          {
            runId: run.id,
            settings: exported.settings,
            files: { ...exported.files, rejected: exported.rejectedFile ?? null },
            summary: exported.summary,
          },
          null,
          2,
        )}\n`,
      );
    } else {
      const style = styleFor(io.stdout);
      const { summary } = exported;
      io.stdout.write(
        `${style.bold(`Exported run ${run.id}`)}: ${summary.items} labels, ${summary.pairs} pairs (${exported.settings.strategy}, ` +
          `${exported.settings.pairFormat}), ${exported.rejectedLines} rejected lines to ${directory}\n`,
      );
      if (summary.review.escalated > 0) {
        io.stdout.write(
          `Review queue: ${summary.review.escalated} items escalated, ${summary.review.answered} answered by a human` +
            `${exported.settings.excludeEscalated === true ? `; ${summary.filteredOut.escalated} pairs of open items dropped` : ''}\n`,
        );
      }
    }
    return EXIT.ok;
  } finally {
    await store?.close();
    lock.release();
  }
}
