import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainerConfigSchema } from '../../src/contracts/index.js';
import { loopIteration, loopReport, writeLoopDir } from '../fakes/loop-report.js';
import { startTestServer } from '../server/ws-harness.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`test/web/viewer-loop.test.ts: skipped: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`);
}

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

const READ_TOKEN = 'viewer-loop-read-token-0123456789';
const HOSTILE = `<img src=x onerror="document.title='pwned'">`;

describe.skipIf(!hasChromium)('viewer: the Loop tab follows a running tribunal loop', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  /** The server's working directory: loops are listed from its runs/. */
  let cwd: string;
  const problems: string[] = [];

  beforeAll(async () => {
    cwd = mkdtempSync(path.join(tmpdir(), 'tribunal-viewer-loop-'));
    mkdirSync(path.join(cwd, 'runs'));
    server = await startTestServer({ cwd, readToken: READ_TOKEN });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // Requests the test makes the server refuse (a directory that is not a loop, a damaged report) are logged by the
      // browser as failed resources.
      const refused = /status of (400|404)/.test(message.text());
      if (message.type() === 'error' && !refused) problems.push(`console: ${message.text()}`);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.cleanup();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('shows the stage and curves of a running loop, updates as report.json is rewritten, and links to training', async () => {
    const loopDir = 'runs/loop';
    const absolute = path.join(cwd, loopDir);
    await writeLoopDir(
      absolute,
      loopReport({ status: 'running', stage: `iteration 1: label ${HOSTILE}`, iterations: 1, iterationsRequested: 2 }),
    );
    // Iteration 0's training run, as tribunal train leaves it when it starts.
    const trainDir = path.join(absolute, 'iter-0', 'train');
    mkdirSync(trainDir, { recursive: true });
    const config = TrainerConfigSchema.parse({ run_dir: trainDir, task: 'dpo', data: { train: '/data/pairs.jsonl' } });
    writeFileSync(path.join(trainDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);

    const pointsOf = (chart: string, series: string) =>
      page.locator(`#${chart} polyline[data-series="${series}"]`).getAttribute('data-points').then(Number);
    const field = (name: string) => page.locator(`#loop-stats dd[data-field="${name}"]`).textContent();

    // The read-only token may watch a loop.
    await page.goto(`${server.url}/#token=${encodeURIComponent(READ_TOKEN)}`);
    await page.locator('#connection[data-state="open"]').waitFor();
    await page.click('#tab-loop');
    await page.locator('#loop-view').waitFor();
    expect(await page.getAttribute('#tab-loop', 'aria-selected')).toBe('true');
    expect(await page.locator('#training-view').isHidden()).toBe(true);

    // A directory that is not a loop is refused with the server's code and message.
    await page.fill('#loop-dir', 'runs/nope');
    await page.click('#loop-watch');
    await page.locator('#loop-form-error:not([hidden])').waitFor();
    expect(await page.locator('#loop-form-error').textContent()).toMatch(/\[NOT_FOUND\].*runs\/nope/);

    // Picked from the server's list.
    const listed = page.locator(`#loop-runs li[data-loop-dir="${loopDir}"] button`);
    await listed.waitFor();
    await listed.click();
    await page.locator(`#loop-runs li[data-loop-dir="${loopDir}"].selected`).waitFor();
    await page.locator('#loop[data-state="running"]').waitFor();
    expect(await page.locator('#loop-form-error').isHidden()).toBe(true);
    expect(await page.locator('#loop-status').textContent()).toBe(`running · iteration 1: label ${HOSTILE}`);
    expect(await field('stage')).toBe(`iteration 1: label ${HOSTILE}`);
    expect(await field('iterations')).toBe('1 / 2');
    expect(await field('stop-rule')).toBe('none fired');
    expect(await page.locator('#loop-progress-text').textContent()).toBe('1 / 2 iterations');
    // One point per finished iteration on the win-rate curves, with its interval; KL, tokens and distinct-2 start at policy_0.
    expect(await pointsOf('loop-win-rate-chart', 'vs-previous')).toBe(1);
    expect(await pointsOf('loop-win-rate-chart', 'vs-initial')).toBe(1);
    expect(await pointsOf('loop-win-rate-chart', 'length-controlled')).toBe(1);
    expect(await page.locator('#loop-win-rate-chart line.interval').count()).toBe(2);
    expect(await pointsOf('loop-kl-chart', 'kl')).toBe(2);
    expect(await page.locator('#loop-kl-chart line.interval').count()).toBe(1);
    expect(await pointsOf('loop-tokens-chart', 'tokens')).toBe(2);
    expect(await pointsOf('loop-diversity-chart', 'distinct2')).toBe(2);
    expect(await page.locator('#loop-table tbody tr').count()).toBe(2);
    expect(await page.locator('#loop-table tr[data-iteration="0"] [data-field="win-rate"]').textContent()).toBe(
      '60.0% [50.0%, 70.0%]',
    );

    // The loop moves on: report.json is rewritten (atomically, by the loop's own writer) and the view follows.
    await writeLoopDir(absolute, loopReport({ status: 'done', stage: null, iterations: 2, iterationsRequested: 2 }));
    await page.locator('#loop[data-state="done"]').waitFor({ timeout: 20_000 });
    expect(await field('iterations')).toBe('2 / 2');
    expect(await page.locator('#loop-status').textContent()).toBe('done');
    expect(await pointsOf('loop-win-rate-chart', 'vs-previous')).toBe(2);
    expect(await pointsOf('loop-kl-chart', 'kl')).toBe(3);
    expect(await page.locator('#loop-table tbody tr').count()).toBe(3);
    expect(await page.locator('#loop-table tr[data-iteration="1"] [data-field="kl"]').textContent()).toBe('1.000 [0.500, 1.500]');

    // A damaged report (not the loop's doing, but possible) shows as a notice; what was read stays on screen.
    writeFileSync(path.join(absolute, 'report.json'), '{"version": 1, "status": ');
    await page.locator('#loop-notice:not([hidden])').waitFor({ timeout: 20_000 });
    expect(await page.locator('#loop-notice').textContent()).toMatch(/\[INPUT_INVALID\].*report\.json is not valid JSON/);
    expect(await pointsOf('loop-kl-chart', 'kl')).toBe(3);

    // A stop rule ends the loop: its message (untrusted text) is shown as text.
    const stop = { rule: 'max-kl' as const, value: 2, threshold: 1, message: `KL 2 > 1 ${HOSTILE}` };
    await writeLoopDir(
      absolute,
      loopReport({
        status: 'stopped',
        stage: null,
        iterations: 0,
        iterationsRequested: 3,
        overrides: { iterations: [loopIteration(0), loopIteration(1, { stopRule: stop })], stoppedBy: stop },
      }),
    );
    await page.locator('#loop[data-state="stopped"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#loop-notice').isHidden()).toBe(true);
    expect(await page.locator('#loop-stop').textContent()).toBe(`Stopped after iteration 1 by max-kl: KL 2 > 1 ${HOSTILE}`);
    expect(await field('stop-rule')).toBe('max-kl');
    expect(await field('iterations')).toBe('2 / 3');
    expect(await page.locator('#loop-view img').count()).toBe(0);
    expect(await page.title()).not.toBe('pwned');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'loop.png'), fullPage: true });

    // An iteration links to its training run in the Training tab.
    await page.click('#loop-table tr[data-iteration="0"] button.link');
    await page.locator('#training-view').waitFor();
    expect(await page.getAttribute('#tab-training', 'aria-selected')).toBe('true');
    expect(await page.locator('#train-title').textContent()).toBe(`Training run ${loopDir}/iter-0/train`);
    // The server acknowledged the subscription: the view shows the real path it follows.
    await expect.poll(() => page.locator('#train-dir-resolved').textContent(), { timeout: 20_000 }).toBe(realpathSync(trainDir));
    expect(await page.locator('#train-form-error').isHidden()).toBe(true);
    expect(problems).toEqual([]);
  });
});
