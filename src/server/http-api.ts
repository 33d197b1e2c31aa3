import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProtocolErrorCode } from '../contracts/index.js';
import { TribunalError } from '../contracts/index.js';
import { redactText } from '../models/index.js';
import type { DebateRecord, Store } from '../store/index.js';
import { httpStatusFor } from './close-codes.js';
import type { DebateHub } from './debate-hub.js';
import { boundMessage, QUOTED_PATH_CHARS, quoteUntrusted } from './frame-guard.js';
import type { LiveDebates } from './live-debates.js';
import { listLoopRuns, readLoopReport } from './loop-runs.js';
import type { PanelDirectory } from './panel-directory.js';
import type { RunCatalog } from './run-catalog.js';
import { noRunMessage, type RunsRoot } from './runs-root.js';
import { listTrainingRuns } from './training-runs.js';

/** What the JSON API reads. */
export interface HttpApiContext {
  catalog: RunCatalog;
  hub: DebateHub;
  live: LiveDebates;
  panels: PanelDirectory;
  defaults: { panel: string; model: string };
  /** The runs directory: training runs are listed in it, and `dir`/`run` paths must lie inside it. */
  root: RunsRoot;
  /** Scrubbed from every error message (the tokens, API keys). */
  secrets: readonly string[];
}

/** Query parameters longer than this are refused (a path or run id is far shorter). */
const MAX_PARAM_CHARS = 1024;

/** An API failure with a protocol code; the status comes from `httpStatusFor`. */
export class ApiError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Writes a JSON response. */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  response.end(text);
}

/** Writes `{ error: { code, message } }` with the status mapped from the code; `secrets` never appear in the message. */
export function sendApiError(
  response: ServerResponse,
  code: ProtocolErrorCode,
  message: string,
  secrets: readonly string[] = [],
): void {
  sendJson(
    response,
    httpStatusFor(code),
    { error: { code, message: boundMessage(redactText(message, secrets), 1000) } },
    code === 'UNAUTHORIZED' ? { 'WWW-Authenticate': 'Bearer' } : {},
  );
}

/** What the run view shows of an escalated debate: how sure the panel was, its threshold, and whether a human answered. */
interface DebateReviewBadge {
  consensusProbability: number;
  threshold: number;
  answered: boolean;
}

/**
 * The review state of finished debates (label rows with `review`, panel `escalate`), by debate id: answered once a
 * verdict override names the debate or its item.
 */
async function debateReviews(options: {
  store: Store;
  runId: string;
  debates: readonly DebateRecord[];
}): Promise<Map<string, DebateReviewBadge>> {
  const { store, runId } = options;
  const reviews = new Map<string, DebateReviewBadge>();
  let answered: { debates: Set<string>; items: Set<string> } | undefined;
  for (const debate of options.debates) {
    if (debate.status !== 'done' || debate.itemId === undefined) continue;
    const item = await store.getItem({ runId, itemId: debate.itemId });
    const review = item?.result?.debateId === debate.debateId ? item.result.review : undefined;
    if (review === undefined) continue;
    if (answered === undefined) {
      const overrides = await store.listOverrides({ runId });
      answered = {
        debates: new Set(overrides.flatMap((override) => (override.debateId === undefined ? [] : [override.debateId]))),
        items: new Set(overrides.flatMap((override) => (override.itemId === undefined ? [] : [override.itemId]))),
      };
    }
    reviews.set(debate.debateId, {
      consensusProbability: review.consensusProbability,
      threshold: review.threshold,
      answered: answered.debates.has(debate.debateId) || answered.items.has(debate.itemId),
    });
  }
  return reviews;
}

/**
 * The read-only JSON API under `/v1` (bearer token required) that the viewer lists with:
 * `GET /v1/runs[?dir=DIR]` (runs; `dir` opens a labeling run's directory), `GET /v1/debates?run=RUN[&limit=N][&review=1]`
 * (a debate the panel escalated carries `review`; `review=1` lists only those),
 * `GET /v1/overrides?run=RUN[&debateId=ID]`, `GET /v1/panels`, `GET /v1/training-runs` (training runs under `runs/`),
 * `GET /v1/loop-runs` (loop directories under `runs/`), `GET /v1/loop-report?dir=DIR` (a loop's validated report.json).
 */
export async function handleApi(options: {
  context: HttpApiContext;
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
}): Promise<void> {
  const { context, response, url } = options;
  const { catalog } = context;
  const param = (name: string) => {
    const value = url.searchParams.get(name) ?? undefined;
    if (value !== undefined && value.length > MAX_PARAM_CHARS) {
      throw new ApiError('BAD_FRAME', `the "${name}" query parameter is longer than ${MAX_PARAM_CHARS} characters`);
    }
    return value;
  };
  try {
    switch (url.pathname) {
      case '/v1/runs': {
        const dir = param('dir');
        if (dir !== undefined && (await catalog.openDir(dir)) === undefined) {
          throw new ApiError(
            'NOT_FOUND',
            `no labeling run at ${quoteUntrusted(dir, QUOTED_PATH_CHARS)} inside the server's runs directory (--runs-dir): give the --out directory of tribunal label`,
          );
        }
        sendJson(response, 200, { liveRunId: catalog.liveRunId, runs: await catalog.listRuns() });
        return;
      }
      case '/v1/debates': {
        const source = await requireRun(catalog, param('run'));
        const limit = clampInt(param('limit'), 500, 1, 5000);
        const all = await source.store.listDebates({ runId: source.runId });
        // `review=1`: only the review queue (debates a panel with `escalate` marked for a human), answered or not.
        const onlyReview = param('review') === '1';
        const reviews = await debateReviews({
          store: source.store,
          runId: source.runId,
          debates: onlyReview ? all : all.slice(-limit),
        });
        const stored = onlyReview ? all.filter((debate) => reviews.has(debate.debateId)) : all;
        const debates = stored.slice(-limit).map((debate) => {
          const review = reviews.get(debate.debateId);
          return {
            ...debate,
            running: source.live ? context.live.has(debate.debateId) : debate.status === 'running',
            ...(review === undefined ? {} : { review }),
          };
        });
        if (source.live) {
          // Debates so new that the store has not written their first events yet.
          const known = new Set(debates.map((debate) => debate.debateId));
          const now = new Date().toISOString();
          for (const debateId of runningLiveDebates(context)) {
            if (known.has(debateId)) continue;
            debates.push({
              runId: source.runId,
              debateId,
              itemId: debateId,
              status: 'running',
              lastSeq: (context.hub.liveEvents(debateId)?.length ?? 0) - 1,
              events: context.hub.liveEvents(debateId)?.length ?? 0,
              firstEventId: Number.MAX_SAFE_INTEGER,
              lastEventId: Number.MAX_SAFE_INTEGER,
              startedAt: now,
              updatedAt: now,
              running: true,
            });
          }
        }
        sendJson(response, 200, { runId: source.runId, live: source.live, debates });
        return;
      }
      case '/v1/overrides': {
        const source = await requireRun(catalog, param('run'));
        const debateId = param('debateId');
        const overrides = await source.store.listOverrides({
          runId: source.runId,
          ...(debateId === undefined ? {} : { debateId }),
        });
        sendJson(response, 200, { runId: source.runId, overrides });
        return;
      }
      case '/v1/panels':
        sendJson(response, 200, {
          default: context.defaults.panel,
          model: context.defaults.model,
          panels: await context.panels.names(),
        });
        return;
      case '/v1/training-runs':
        sendJson(response, 200, { runs: await listTrainingRuns({ root: context.root }) });
        return;
      case '/v1/loop-runs':
        sendJson(response, 200, { loops: await listLoopRuns({ root: context.root }) });
        return;
      case '/v1/loop-report': {
        const dir = param('dir');
        if (dir === undefined)
          throw new ApiError('BAD_FRAME', 'the "dir" query parameter is required (a tribunal loop --out directory)');
        const answer = await readLoopReport({ root: context.root, loopDir: dir });
        if (!answer.success) throw new ApiError(answer.error.code, answer.error.message);
        sendJson(response, 200, answer.value);
        return;
      }
      default:
        throw new ApiError('NOT_FOUND', `no API endpoint ${url.pathname}`);
    }
  } catch (error) {
    if (error instanceof ApiError || error instanceof TribunalError) {
      sendApiError(response, error.code, error.message, context.secrets);
      return;
    }
    if (!response.headersSent) sendApiError(response, 'INTERNAL', 'internal error; the server log has the details');
    throw error;
  }
}

async function requireRun(catalog: RunCatalog, reference: string | undefined) {
  if (reference === undefined) throw new ApiError('BAD_FRAME', 'the "run" query parameter is required (a run id or a directory)');
  const source = await catalog.resolve(reference);
  if (source === undefined) throw new ApiError('NOT_FOUND', noRunMessage(reference));
  return source;
}

function runningLiveDebates(context: HttpApiContext): string[] {
  return context.live.runningIds();
}

function clampInt(value: string | undefined, fallback: number, min: number, max: number): number {
  const parsed = value === undefined ? Number.NaN : Number(value);
  if (!Number.isInteger(parsed)) return fallback;
  return Math.min(max, Math.max(min, parsed));
}
