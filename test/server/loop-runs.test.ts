import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopReportSchema } from '../../src/contracts/index.js';
import { MAX_LOOP_REPORT_BYTES, RunsRoot, readLoopReport } from '../../src/server/index.js';
import { loopReport, writeLoopDir } from '../fakes/loop-report.js';
import { startTestServer } from './ws-harness.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

const READ_TOKEN = 'read-only-token-0123456789';

/** What the two endpoints answer (a test reads the fields it expects). */
interface Answer {
  loops?: unknown;
  loopDir?: string;
  resolvedDir?: string;
  updatedAt?: string;
  report?: unknown;
  error: { code: string; message: string };
}

describe('tribunal serve: loop directories (GET /v1/loop-runs, /v1/loop-report)', () => {
  /** The server's working directory; its runs/ is the runs directory. */
  let cwd: string;
  /** A directory beside cwd, outside the runs directory. */
  let outside: string;
  let server: TestServer;

  const get = async (pathAndQuery: string, token: string | null = server.token) => {
    const response = await fetch(`${server.url}${pathAndQuery}`, {
      headers: token === null ? {} : { Authorization: `Bearer ${token}` },
    });
    return { status: response.status, body: (await response.json()) as Answer };
  };
  const report = (dir: string, token: string | null = server.token) =>
    get(`/v1/loop-report?dir=${encodeURIComponent(dir)}`, token);
  const runs = (...parts: string[]) => path.join(cwd, 'runs', ...parts);

  beforeAll(async () => {
    cwd = mkdtempSync(path.join(tmpdir(), 'tribunal-loop-runs-'));
    outside = mkdtempSync(path.join(tmpdir(), 'tribunal-loop-outside-'));
    mkdirSync(runs(), { recursive: true });
    server = await startTestServer({ cwd, readToken: READ_TOKEN });
  });
  afterAll(async () => {
    await server?.cleanup();
    rmSync(cwd, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('lists the loop directories in runs/ and one level below, newest first, for either token, not their sub-runs or links', async () => {
    await writeLoopDir(runs('loop-a'), loopReport({ status: 'done', stage: null, iterations: 2 }));
    await writeLoopDir(runs('exp', 'loop-b'), loopReport({ status: 'running', stage: 'iteration 0: label', iterations: 0 }));
    // A loop's sub-runs are never searched, even one that looks like a loop.
    await writeLoopDir(runs('loop-a', 'iter-0'), loopReport({ status: 'done', stage: null, iterations: 1 }));
    // Too deep, a report without loop.json, a link to a loop: not listed.
    await writeLoopDir(runs('a', 'b', 'deep'), loopReport({ status: 'done', stage: null, iterations: 1 }));
    mkdirSync(runs('report-only'));
    writeFileSync(runs('report-only', 'report.json'), '{}\n');
    symlinkSync(runs('loop-a'), runs('linked'));
    utimesSync(runs('loop-a', 'report.json'), 1_700_000_000, 1_700_000_000);
    utimesSync(runs('exp', 'loop-b', 'report.json'), 1_700_000_100, 1_700_000_100);

    expect((await get('/v1/loop-runs', null)).status).toBe(401);
    for (const token of [server.token, READ_TOKEN]) {
      const { status, body } = await get('/v1/loop-runs', token);
      expect(status).toBe(200);
      expect(body).toEqual({
        loops: [
          { loopDir: 'runs/exp/loop-b', updatedAt: new Date(1_700_000_100_000).toISOString() },
          { loopDir: 'runs/loop-a', updatedAt: new Date(1_700_000_000_000).toISOString() },
        ],
      });
    }
  });

  it("serves a loop's report.json as the loop wrote it, to the read-only token too", async () => {
    const written = loopReport({ status: 'done', stage: null, iterations: 2 });
    await writeLoopDir(runs('served'), written);
    expect((await report('runs/served', null)).status).toBe(401);
    for (const token of [server.token, READ_TOKEN]) {
      const { status, body } = await report('runs/served', token);
      expect(status).toBe(200);
      expect(body.loopDir).toBe('runs/served');
      expect(body.resolvedDir).toBe(path.join(realCwd(), 'runs', 'served'));
      expect(body.report).toEqual(written);
      expect(body.report).toEqual(JSON.parse(readFileSync(runs('served', 'report.json'), 'utf8')));
      expect(Date.parse(body.updatedAt ?? '')).not.toBeNaN();
    }
    // An absolute path and a path with `..` that stays inside name the same loop.
    expect((await report(runs('served'))).body.loopDir).toBe('runs/served');
    expect((await report('runs/exp/../served')).body.loopDir).toBe('runs/served');
  });

  it('refuses a path outside the runs directory with one message whether it exists or not, links followed', async () => {
    await writeLoopDir(path.join(outside, 'loop'), loopReport({ status: 'done', stage: null, iterations: 1 }));
    symlinkSync(path.join(outside, 'loop'), runs('escape'));
    const refusals = await Promise.all(
      [
        path.join(outside, 'loop'), // exists, a real loop
        path.join(outside, 'nothing-here'), // does not exist
        'runs/../../',
        'runs/escape', // a link inside the runs directory to a loop outside it
        '/etc',
      ].map((dir) => report(dir)),
    );
    for (const [index, refusal] of refusals.entries()) {
      expect(refusal.status, `refusal ${index}`).toBe(404);
      expect(refusal.body.error.code).toBe('NOT_FOUND');
      expect(refusal.body.error.message).toMatch(/^no loop at ".*" inside the server's runs directory \(--runs-dir\)/);
    }
    // The messages differ only in the path they quote: nothing tells an existing outside path from a missing one.
    const shape = (message: string) => message.replace(/^no loop at ".*?" inside/, 'no loop at PATH inside');
    expect(new Set(refusals.map((refusal) => shape(refusal.body.error.message))).size).toBe(1);
  });

  it('names what is wrong inside the runs directory: missing, not a loop, report.json a link', async () => {
    const missing = await report('runs/nope');
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(missing.body.error.message).toContain('does not exist');
    mkdirSync(runs('not-a-loop'));
    expect((await report('runs/not-a-loop')).body.error.message).toMatch(/is not a loop directory: it has no loop\.json/);
    // report.json replaced by a link (to a valid report inside the root): the server does not follow it.
    mkdirSync(runs('linked-report'));
    writeFileSync(runs('linked-report', 'loop.json'), '{}\n');
    symlinkSync(runs('served', 'report.json'), runs('linked-report', 'report.json'));
    const linked = await report('runs/linked-report');
    expect(linked).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(linked.body.error.message).toMatch(/report\.json is missing or not a regular file/);
    expect((await get('/v1/loop-report')).body.error).toMatchObject({
      code: 'BAD_FRAME',
      message: expect.stringMatching(/"dir"/),
    });
  });

  it('refuses a malformed, schema-invalid or oversized report.json with a clear error, and keeps serving', async () => {
    const loop = (name: string, content: string) => {
      mkdirSync(runs(name));
      writeFileSync(runs(name, 'loop.json'), '{}\n');
      writeFileSync(runs(name, 'report.json'), content);
    };
    loop('torn', '{"version": 1, "status": "runn');
    const torn = await report('runs/torn');
    expect(torn).toMatchObject({ status: 400, body: { error: { code: 'INPUT_INVALID' } } });
    expect(torn.body.error.message).toContain(`${path.join(realCwd(), 'runs', 'torn', 'report.json')} is not valid JSON`);
    // The parser's message quotes the file's text: it is not passed on.
    loop('secretive', '{"version": 1, "status": SECRET-CONTENT}');
    expect((await report('runs/secretive')).body.error.message).not.toContain('SECRET');

    const valid = loopReport({ status: 'running', stage: 'iteration 0: train', iterations: 1 });
    const wrong = { ...valid, iterations: [{ ...valid.iterations[0], kl: 'a lot' }] };
    loop('wrong', JSON.stringify(wrong));
    const invalid = await report('runs/wrong');
    expect(invalid).toMatchObject({ status: 400, body: { error: { code: 'INPUT_INVALID' } } });
    expect(invalid.body.error.message).toMatch(/is not a tribunal loop report: field iterations\.0\.kl: /);
    loop('array', '[]');
    expect((await report('runs/array')).body.error.message).toMatch(/field \(top level\)/);

    // Valid JSON, valid shape, but larger than the limit (long padding in a field zod would otherwise accept).
    const padded = JSON.stringify({
      ...loopReport({ status: 'done', stage: null, iterations: 1 }),
      padding: 'x'.repeat(MAX_LOOP_REPORT_BYTES),
    });
    expect(LoopReportSchema.safeParse(JSON.parse(padded)).success).toBe(true);
    loop('huge', padded);
    const huge = await report('runs/huge');
    expect(huge).toMatchObject({ status: 400, body: { error: { code: 'INPUT_INVALID' } } });
    expect(huge.body.error.message).toMatch(
      new RegExp(`is ${Buffer.byteLength(padded)} bytes, more than the ${MAX_LOOP_REPORT_BYTES}`),
    );

    // A FIFO in place of report.json neither blocks nor crashes the server.
    mkdirSync(runs('fifo'));
    writeFileSync(runs('fifo', 'loop.json'), '{}\n');
    execFileSync('mkfifo', [runs('fifo', 'report.json')]);
    expect((await report('runs/fifo')).body.error.message).toMatch(/report\.json is not a regular file/);
    expect((await report('runs/served')).status).toBe(200);
    expect((await get('/v1/loop-runs')).status).toBe(200);
  });

  const realCwd = () => realpathSync(cwd);
});

describe('readLoopReport', () => {
  it('answers any report.json content with the report or a refusal, never an exception', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'tribunal-loop-fuzz-'));
    try {
      const dir = path.join(cwd, 'runs', 'loop');
      await writeLoopDir(dir, loopReport({ status: 'running', stage: 'iteration 0: label', iterations: 1 }));
      const root = new RunsRoot({ root: 'runs', cwd });
      const valid = JSON.stringify(loopReport({ status: 'done', stage: null, iterations: 2 }));
      // Arbitrary JSON, arbitrary text, and the valid report cut or with one character changed.
      const content = fc.oneof(
        fc.json(),
        fc.string(),
        fc.nat({ max: valid.length }).map((end) => valid.slice(0, end)),
        fc
          .tuple(fc.nat({ max: valid.length - 1 }), fc.string({ minLength: 1, maxLength: 1 }))
          .map(([at, char]) => `${valid.slice(0, at)}${char}${valid.slice(at + 1)}`),
      );
      await fc.assert(
        fc.asyncProperty(content, async (text) => {
          writeFileSync(path.join(dir, 'report.json'), text);
          const answer = await readLoopReport({ root, loopDir: 'runs/loop' });
          if (answer.success) expect(LoopReportSchema.parse(JSON.parse(text))).toEqual(answer.value.report);
          else expect(answer.error.code).toBe('INPUT_INVALID');
        }),
        { numRuns: 200 },
      );
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
