import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { type LoopReport, LoopReportSchema } from '../contracts/index.js';
import { QUOTED_PATH_CHARS, quoteUntrusted } from './frame-guard.js';
import type { RunsRoot } from './runs-root.js';

/** The two files that make a directory a `tribunal loop --out DIR` directory (src/loop writes both). */
export const LOOP_FILES = { settings: 'loop.json', report: 'report.json' } as const;

/** A report.json larger than this is refused unread (a loop of 1000 iterations writes well under it). */
export const MAX_LOOP_REPORT_BYTES = 1024 * 1024;

/** How deep below the runs directory loop directories are looked for (`runs/loop`, `runs/exp/loop`). */
const MAX_LIST_DEPTH = 2;
/** Directories the listing reads at most, so a runs directory with many entries costs a bounded walk. */
const MAX_LIST_VISITS = 2000;

/** A loop directory the viewer can offer. */
export interface LoopRunSummary {
  /** The directory as `GET /v1/loop-report?dir=` takes it: relative to the server's working directory when below it. */
  loopDir: string;
  /** Latest modification of its report.json. */
  updatedAt: string;
}

/** A loop's report as served: where it is, when it was last rewritten, and the validated report. */
export interface LoopReportAnswer {
  loopDir: string;
  /** The real path of the loop directory. */
  resolvedDir: string;
  updatedAt: string;
  report: LoopReport;
}

/** Why a loop report cannot be served: `NOT_FOUND` (no loop there) or `INPUT_INVALID` (its report.json is not valid). */
export type LoopReportRefusal = { code: 'NOT_FOUND' | 'INPUT_INVALID'; message: string };

/**
 * Lists the loop directories (holding `loop.json` and `report.json` as regular files) in the server's runs directory
 * and one level below it, newest report first. A loop directory's own sub-runs are not searched; links are not
 * followed; at most a bounded number of directories is read. Only names and modification times are read.
 * @example
 * const loops = await listLoopRuns({ root }); // [{ loopDir: 'runs/loop', updatedAt }]
 */
export async function listLoopRuns(options: { root: RunsRoot; limit?: number }): Promise<LoopRunSummary[]> {
  const loops: LoopRunSummary[] = [];
  let visits = 0;
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const name of await subdirectories(dir)) {
      if (++visits > MAX_LIST_VISITS) return;
      const candidate = path.join(dir, name);
      const report = await loopReportStats(candidate);
      if (report !== undefined) {
        loops.push({ loopDir: options.root.reference(candidate), updatedAt: new Date(report.mtimeMs).toISOString() });
      } else if (depth < MAX_LIST_DEPTH) {
        await walk(candidate, depth + 1);
      }
    }
  };
  await walk(options.root.dir, 1);
  loops.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt) || a.loopDir.localeCompare(b.loopDir));
  return loops.slice(0, options.limit ?? 200);
}

/**
 * Reads and validates the report.json of the loop directory `loopDir` names, confined to the server's runs
 * directory like every client path: a path outside it (links followed) is refused with one message whether it exists
 * or not. report.json must be a regular file (not a link) of at most `MAX_LOOP_REPORT_BYTES`, hold JSON, and match the
 * loop report schema; each refusal says which and where. The loop rewrites the file atomically, so a read sees one
 * whole version.
 * @example
 * const answer = await readLoopReport({ root, loopDir: 'runs/loop' });
 * if (answer.success) show(answer.value.report.iterations);
 */
export async function readLoopReport(options: {
  root: RunsRoot;
  loopDir: string;
}): Promise<{ success: true; value: LoopReportAnswer } | { success: false; error: LoopReportRefusal }> {
  const given = quoteUntrusted(options.loopDir, QUOTED_PATH_CHARS);
  const confined = await options.root.confine(options.loopDir);
  if (!confined.success && confined.reason === 'outside') {
    return notFound(
      `no loop at ${given} inside the server's runs directory (--runs-dir): give the --out directory of a tribunal loop under it`,
    );
  }
  if (!confined.success) {
    return notFound(`no loop directory at ${given}: it does not exist; give the --out directory of tribunal loop`);
  }
  const dir = confined.value;
  const settings = await lstat(path.join(dir, LOOP_FILES.settings)).catch(() => undefined);
  if (settings === undefined || !settings.isFile()) {
    return notFound(
      `${given} is not a loop directory: it has no ${LOOP_FILES.settings} (as a regular file); give the --out directory of tribunal loop`,
    );
  }
  const file = path.join(dir, LOOP_FILES.report);
  const read = await readBounded(file);
  if (!read.success) return read;
  let parsed: unknown;
  try {
    parsed = JSON.parse(read.value.text);
  } catch {
    // The parser's message quotes the file's text: only where it failed is said.
    return invalid(`${file} is not valid JSON (${read.value.text.length} characters); the loop rewrites it at its next stage`);
  }
  const report = LoopReportSchema.safeParse(parsed);
  if (!report.success) {
    const issue = report.error.issues[0];
    const field = issue === undefined || issue.path.length === 0 ? '(top level)' : issue.path.join('.');
    return invalid(
      `${file} is not a tribunal loop report: field ${field}: ${issue?.message ?? 'invalid'}; it is written by tribunal loop (docs/loop.md)`,
    );
  }
  return {
    success: true,
    value: {
      loopDir: options.root.reference(dir),
      resolvedDir: dir,
      updatedAt: new Date(read.value.mtimeMs).toISOString(),
      report: report.data,
    },
  };
}

/** Reads `file` (a regular file, never through a link) when it holds at most `MAX_LOOP_REPORT_BYTES`. */
async function readBounded(
  file: string,
): Promise<{ success: true; value: { text: string; mtimeMs: number } } | { success: false; error: LoopReportRefusal }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NOFOLLOW: a link put in place of report.json is refused, not followed out of the runs directory.
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return notFound(`${file} is missing or not a regular file: the loop has not written its report yet, or this is not a loop`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return notFound(`${file} is not a regular file; the server reads only a loop's own report.json`);
    if (stats.size > MAX_LOOP_REPORT_BYTES) {
      return invalid(`${file} is ${stats.size} bytes, more than the ${MAX_LOOP_REPORT_BYTES} a loop report may have`);
    }
    // Read one byte past the limit: a file that grew after the stat is still caught.
    const buffer = Buffer.alloc(MAX_LOOP_REPORT_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    if (length > MAX_LOOP_REPORT_BYTES) {
      return invalid(`${file} is more than the ${MAX_LOOP_REPORT_BYTES} bytes a loop report may have`);
    }
    return { success: true, value: { text: buffer.subarray(0, length).toString('utf8'), mtimeMs: stats.mtimeMs } };
  } finally {
    await handle.close();
  }
}

/** report.json's stats when `dir` is a loop directory (loop.json and report.json as regular files). */
async function loopReportStats(dir: string) {
  const [settings, report] = await Promise.all(
    [LOOP_FILES.settings, LOOP_FILES.report].map((name) =>
      lstat(path.join(dir, name)).then(
        (stats) => (stats.isFile() ? stats : undefined),
        () => undefined,
      ),
    ),
  );
  return settings !== undefined ? report : undefined;
}

/** Names of the directories (not links, not hidden) directly in `dir`; none when it cannot be read. */
async function subdirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}

function notFound(message: string): { success: false; error: LoopReportRefusal } {
  return { success: false, error: { code: 'NOT_FOUND', message } };
}

function invalid(message: string): { success: false; error: LoopReportRefusal } {
  return { success: false, error: { code: 'INPUT_INVALID', message } };
}
