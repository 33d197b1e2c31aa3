import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { type LabelRow, TrainerConfigSchema, type TrainerEvent, TrainerEventSchema } from '../../src/contracts/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { trainerStartEvent } from '../fakes/trainer-events.js';
import { copyLibrary, nativeItem, readJsonl, writeInput } from '../runner/fixtures.js';
import { labelItems, openLabelRun } from '../server/label-run-fixture.js';
import { startTestServer } from '../server/ws-harness.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`test/web/viewer.test.ts: skipped: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`);
}

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/** Unix time of the fixture run's `start`; the worker logs a step every 2 s (the ETA comes from these times). */
const T0 = 1_767_225_600;
const HOSTILE = `<img src=x onerror="document.title='pwned'">`;

/** A DPO run's events as the worker writes them (src/contracts/trainer.ts); each is checked against the schema. */
const trainEvent = {
  start: (seq: number, extra: Record<string, unknown> = {}) => ({
    ...trainerStartEvent(),
    seq,
    time: T0,
    run_dir: '/runs/dpo-pairs',
    world_size: 2,
    device: 'cuda',
    model: { family: 'hf', parameters: 1_234_567, trainable: 1_234_567, lora: null },
    data: { train_pairs: 96, eval_pairs: 12, truncated: 3, tokenizer: 'hf' },
    efficiency: { bf16: true, compile: false, warmup_steps: 1, strategy: 'ddp' },
    config: {
      task: 'dpo',
      model: { kind: 'hf', path: '/models/tiny-llama' },
      training: { batch_size: 4, gradient_accumulation_steps: 2, learning_rate: 5e-7, lr_scheduler_type: 'cosine' },
      dpo: { beta: 0.1, loss_type: 'sigmoid' },
    },
    ...extra,
  }),
  metric: (step: number) => ({
    v: 1,
    type: 'metric',
    seq: step + 1,
    time: T0 + step * 2,
    step,
    epoch: step / 10,
    loss: 0.69 - step * 0.03,
    lr: 5e-7 * (1 - step / 20),
    grad_norm: 1.5,
    tokens_per_s: 5120,
    tokens: step * 4096,
    metrics: { 'rewards/accuracies': 0.5 + step * 0.03, 'rewards/margins': step * 0.05 },
  }),
  eval: (step: number) => ({
    v: 1,
    type: 'eval',
    seq: 100 + step,
    time: T0 + step * 2 + 1,
    step,
    epoch: step / 10,
    split: 'eval',
    metrics: { pairs: 12, loss: 0.7 - step * 0.02, accuracy: 0.5 + step * 0.02, ece: 0.1, brier: 0.24 },
  }),
  checkpoint: (step: number, checkpointPath = `/runs/dpo-pairs/checkpoints/step-${step}`) => ({
    v: 1,
    type: 'checkpoint',
    seq: 200 + step,
    time: T0 + step * 2 + 1,
    step,
    epoch: step / 10,
    path: checkpointPath,
  }),
  done: () => ({
    v: 1,
    type: 'done',
    seq: 300,
    time: T0 + 25,
    status: 'completed',
    step: 10,
    epoch: 1,
    checkpoint: '/runs/dpo-pairs/checkpoints/step-10',
    final_model: '/runs/dpo-pairs/final',
    eval: {
      pairs: 12,
      loss: 0.41,
      accuracy: 0.75,
      ece: 0.042,
      brier: 0.181,
      mean_margin: 0.93,
      'accuracy/chosen_longer': 0.875,
      'accuracy/chosen_shorter': 0.5,
      'accuracy/same_length': null,
      'count/chosen_longer': 8,
      'count/chosen_shorter': 4,
      'count/same_length': 0,
    },
  }),
};

describe.skipIf(!hasChromium)('viewer in headless Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  /** The server's working directory: training runs are listed from its runs/. */
  let cwd: string;
  const problems: string[] = [];

  beforeAll(async () => {
    cwd = mkdtempSync(path.join(tmpdir(), 'tribunal-viewer-'));
    server = await startTestServer({ model: 'fake:judge?latencyMs=60&chunks=12', cwd });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.cleanup();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('starts a debate on the fake model, streams it to a verdict, and stores a human override', async () => {
    await page.goto(server.viewerUrl);
    await page.locator('#connection[data-state="open"]').waitFor();
    expect(page.url()).not.toContain('token'); // the token leaves the address bar
    await page.locator('#panel option').first().waitFor({ state: 'attached' });

    await page.fill('#prompt', 'Why is the sky blue?');
    const inputs = page.locator('.candidate-input');
    await inputs.nth(0).fill('Rayleigh scattering: air scatters short wavelengths most.');
    await inputs.nth(1).fill('<img src=x onerror="document.title=\'pwned\'"> Because it reflects the ocean.');
    // Record whether critic text streamed in while the verdict was still hidden.
    await page.evaluate(`
      window.streamedBeforeVerdict = false;
      new MutationObserver(() => {
        const hidden = document.getElementById('verdict').hidden;
        const streaming = [...document.querySelectorAll('.turn-text')].some((element) => element.textContent.length > 5);
        if (hidden && streaming) window.streamedBeforeVerdict = true;
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    `);
    await page.click('#start-debate');

    // A column per critic, text streaming into the turns before the debate ends.
    await page.locator('.critic-column').nth(2).waitFor();
    expect(await page.locator('.critic-column').count()).toBe(3);
    // A locator, not waitForFunction with a string: Playwright polls a string predicate through eval, which the page's
    // CSP refuses (a page error whenever the first check did not already pass, so the test was flaky).
    await page
      .locator('.turn-text', { hasText: /[\s\S]{6}/ })
      .first()
      .waitFor();

    // The verdict, score chips per round and the chart.
    await page.locator('#debate-status[data-state="done"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('#ranking li').count()).toBe(2);
    expect(await page.locator('.round-row').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('.round-row .chip').count()).toBeGreaterThanOrEqual(6);
    expect(await page.locator('#chart polyline').count()).toBe(2);
    expect(await page.locator('.turn .chip.score').count()).toBeGreaterThanOrEqual(6);
    expect(await page.evaluate('window.streamedBeforeVerdict')).toBe(true);

    // Event text is data: the candidate's markup is shown, never parsed.
    expect(await page.locator('.candidate-text').nth(1).textContent()).toContain('<img src=x');
    expect(await page.locator('#debate-candidates img').count()).toBe(0);
    expect(await page.title()).not.toBe('pwned');

    // Override: prefer c2, stored as a human label.
    await page.fill('#override-note', 'the panel got this one wrong');
    await page.click('button[data-prefer="c2"]');
    await page.locator('#override-status[data-saved="true"]').waitFor();
    expect(await page.locator('#override-status').textContent()).toContain('prefers c2');
    const overrides = await server.store.listOverrides({ runId: 'live' });
    expect(overrides).toEqual([
      expect.objectContaining({
        kind: 'prefer',
        candidateId: 'c2',
        note: 'the panel got this one wrong',
        debateId: expect.any(String),
      }),
    ]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'viewer.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('lists the debate after a reload and replays it from the store with its override', async () => {
    await page.reload();
    await page.locator('#connection[data-state="open"]').waitFor();
    const item = page.locator('#debates li[data-status="done"]').first();
    await item.waitFor();
    await item.click();
    await page.locator('#debate-status[data-state="done"]').waitFor();
    await expect.poll(() => page.locator('#ranking li').count()).toBe(2);
    await page.locator('#override-status[data-saved="true"]').waitFor();
    await page.click('#replay');
    await page.locator('#debate-status[data-state="done"]').waitFor();
    await expect.poll(() => page.locator('#chart polyline').count()).toBe(2);
    expect(problems).toEqual([]);
  });

  it("starts a code debate with tests from the form and shows each candidate's execution", async () => {
    await page.goto(server.viewerUrl);
    await page.locator('#connection[data-state="open"]').waitFor();
    await page.locator('#panel option[value="code"]').waitFor({ state: 'attached' });
    await page.fill('#prompt', 'Write add(a, b).');
    const inputs = page.locator('.candidate-input');
    await inputs.nth(0).fill('```python\ndef add(a, b):\n    return a + b\n```');
    await inputs.nth(1).fill('def add(a, b):\n    return a * b\n');
    await page.selectOption('#panel', 'code');
    await page.click('#code-tests summary');
    await page.fill('#tests', 'def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n');
    await page.fill('#entry-point', 'add');
    await page.click('#start-debate');
    await page.locator('#debate-status[data-state="done"]').waitFor({ timeout: 30_000 });
    const executions = page.locator('.candidate .execution');
    await expect.poll(() => executions.count()).toBe(2);
    const summaries = await page.locator('.execution-summary').allTextContents();
    expect(summaries[0]).toMatch(/^run-python: passed · 2\/2 tests/);
    expect(summaries[1]).toMatch(/^run-python: failed · 1\/2 tests/);
    expect(problems).toEqual([]);
  });

  it('watches a labeling run by its directory and shows its debates', async () => {
    const dir = path.join(cwd, 'runs', 'label-run');
    const { store, runId } = await openLabelRun({ dir, items: 2 });
    try {
      await page.fill('#watch-dir', dir);
      await page.click('#watch-form button');
      await page.locator(`#runs li[data-run="${runId}"].selected`).waitFor();
      await labelItems({ store, runId, count: 2 });
      await expect.poll(() => page.locator('#debates li[data-status="done"]').count(), { timeout: 20_000 }).toBe(2);
      const first = page.locator('#debates li').first();
      const debateId = await first.getAttribute('data-debate');
      await first.click();
      // The previous debate stays on screen until the click is handled: wait for this debate's title first.
      await page.locator(`#debate-title[title$="/ ${debateId}"]`).waitFor();
      await page.locator('#debate-status[data-state="done"]').waitFor();
      await expect.poll(() => page.locator('#ranking li').count()).toBe(2);
      await expect.poll(() => page.locator('.critic-column').count()).toBe(3);
      expect(problems).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('badges the review queue of a labeling run, filters it, and shows an override answering it', async () => {
    const library = path.join(cwd, 'review-library');
    const { panelFile } = copyLibrary(library);
    const panel = path.join(path.dirname(panelFile), 'escalating.yaml');
    writeFileSync(
      panel,
      `${readFileSync(panelFile, 'utf8').replace('id: default', 'id: escalating')}escalate: { belowConsensusProbability: 1 }\n`,
    );
    const input = writeInput(
      library,
      Array.from({ length: 6 }, (_, index) => nativeItem(index + 1)),
    );
    const dir = path.join(cwd, 'runs', 'review-run');
    const io = captureIo(library);
    const code = await main(['label', input, '--out', dir, '--panel', panel, '--model', 'fake:judge', '--max-rounds', '0'], io);
    expect(code, io.err()).toBe(0);
    const rows = readJsonl<LabelRow>(path.join(dir, 'labels.jsonl'));
    const escalated = rows.filter((row) => row.review !== undefined);
    expect(escalated.length).toBeGreaterThan(0);
    expect(escalated.length).toBeLessThan(rows.length);

    await page.fill('#watch-dir', dir);
    await page.click('#watch-form button');
    await expect.poll(() => page.locator('#debates li[data-status="done"]').count(), { timeout: 20_000 }).toBe(rows.length);
    await expect.poll(() => page.locator('#debates .badge.review.open').count()).toBe(escalated.length);
    await page.check('#review-only');
    await expect.poll(() => page.locator('#debates li').count()).toBe(escalated.length);

    // Answer one review with the override buttons: its badge turns "reviewed".
    const target = escalated[0] as LabelRow;
    await page.locator(`#debates li[data-debate="${target.debateId}"]`).click();
    await page.locator('#debate-status[data-state="done"]').waitFor();
    await page.locator(`#override-buttons button[data-prefer="${target.ranking[1]}"]`).click();
    await page.locator('#override-status[data-saved="true"]').waitFor();
    await expect.poll(() => page.locator(`#debates li[data-debate="${target.debateId}"] .badge.review.answered`).count()).toBe(1);
    await expect.poll(() => page.locator('#debates .badge.review.open').count()).toBe(escalated.length - 1);
    await page.uncheck('#review-only');
    await expect.poll(() => page.locator('#debates li').count()).toBe(rows.length);
    expect(problems).toEqual([]);
  });

  it('marks a refused turn "refused" and shows what the model said instead', async () => {
    const dir = path.join(cwd, 'runs', 'refusing-run');
    const { store, runId } = await openLabelRun({ dir, items: 1 });
    try {
      await page.fill('#watch-dir', dir);
      await page.click('#watch-form button');
      await page.locator(`#runs li[data-run="${runId}"].selected`).waitFor();
      await labelItems({ store, runId, count: 1, model: 'fake:judge?latencyMs=5&refuseEvery=4' });
      await expect.poll(() => page.locator('#debates li[data-status="done"]').count(), { timeout: 20_000 }).toBe(1);
      const first = page.locator('#debates li').first();
      const debateId = await first.getAttribute('data-debate');
      await first.click();
      await page.locator(`#debate-title[title$="/ ${debateId}"]`).waitFor();
      await page.locator('#debate-status[data-state="done"]').waitFor();
      const refused = page.locator('.turn .chip.refused');
      await expect.poll(() => refused.count()).toBeGreaterThanOrEqual(1);
      expect(await refused.first().textContent()).toBe('refused');
      expect(await refused.first().getAttribute('title')).toContain('stop reason refusal');
      const card = page.locator('.turn', { has: page.locator('.chip.refused') }).first();
      expect(await card.locator('.turn-text .refusal').textContent()).toBe('I will not judge this answer.');
      expect(problems).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('follows a training run live: run info, curves, checkpoints, final metrics, errors as text, resume after a drop', async () => {
    // Where `tribunal train` puts a run without --out: the server lists it.
    const runDir = 'runs/dpo-pairs';
    const absoluteRunDir = path.join(cwd, runDir);
    mkdirSync(absoluteRunDir, { recursive: true });
    const config = TrainerConfigSchema.parse({ run_dir: absoluteRunDir, task: 'dpo', data: { train: '/data/pairs.jsonl' } });
    writeFileSync(path.join(absoluteRunDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    let lines = 0;
    /** Appends events to events.jsonl (as the worker does); returns the last line written. */
    const append = (...events: unknown[]) => {
      const parsed: TrainerEvent[] = events.map((event) => TrainerEventSchema.parse(event));
      appendFileSync(path.join(absoluteRunDir, 'events.jsonl'), parsed.map((event) => `${JSON.stringify(event)}\n`).join(''));
      lines += parsed.length;
      return lines;
    };
    append(trainEvent.start(1), ...[1, 2, 3, 4].map(trainEvent.metric), trainEvent.eval(4), trainEvent.checkpoint(4));
    append(trainEvent.metric(5));

    // Every frame the page sends, to check the resume points it asks for.
    const sent: Array<Record<string, unknown>> = [];
    page.on('websocket', (socket) => socket.on('framesent', ({ payload }) => sent.push(JSON.parse(String(payload)))));
    const subscribes = () => sent.filter((frame) => frame.type === 'train.subscribe');
    const pointsOf = (chart: string, series: string) =>
      page.locator(`#${chart} polyline[data-series="${series}"]`).getAttribute('data-points').then(Number);
    const field = (list: string, name: string) => page.locator(`#${list} dd[data-field="${name}"]`).textContent();

    await page.reload();
    await page.locator('#connection[data-state="open"]').waitFor();
    await page.click('#tab-training');
    await page.locator('#training-view').waitFor();
    expect(await page.locator('#debates-view').isHidden()).toBe(true);
    expect(await page.getAttribute('#tab-training', 'aria-selected')).toBe('true');

    // A directory that is not a run is refused with the server's code and message.
    await page.fill('#train-dir', 'runs/nope');
    await page.click('#train-watch');
    await page.locator('#train-form-error:not([hidden])').waitFor();
    expect(await page.locator('#train-form-error').textContent()).toMatch(/\[NOT_FOUND\].*runs\/nope/);

    // Picked from the server's list of runs.
    const listed = page.locator(`#train-runs li[data-run-dir="${runDir}"] button`);
    await listed.waitFor();
    await listed.click();
    await page.locator(`#train-runs li[data-run-dir="${runDir}"].selected`).waitFor();
    await page.locator('#train-status[data-state="running"]').waitFor();
    await expect.poll(() => pointsOf('train-loss-chart', 'train'), { timeout: 20_000 }).toBe(5);
    expect(await page.locator('#train-form-error').isHidden()).toBe(true);
    expect(await page.locator('#train-dir-resolved').textContent()).toBe(realpathSync(absoluteRunDir));
    expect(await field('train-info', 'task')).toContain('DPO');
    expect(await field('train-info', 'model')).toBe('hf · /models/tiny-llama');
    expect(await field('train-info', 'params')).toBe('1.2M (1.2M trainable)');
    expect(await field('train-info', 'world-size')).toBe('2');
    expect(await field('train-info', 'pairs')).toBe('96 train · 12 held out · 3 truncated');
    expect(await field('train-info', 'hyperparameters')).toContain('β 0.1');
    expect(await field('train-stats', 'step')).toBe('5 / 10');
    expect(await field('train-stats', 'loss')).toBe('0.5400');
    expect(await field('train-stats', 'accuracy')).toBe('65.0%');
    expect(await field('train-stats', 'tokens-per-s')).toBe('5.1k');
    // 2 s per step (from the events' own times), 5 steps to go.
    expect(await page.locator('#train-progress-text').textContent()).toContain('ETA 0:10');
    expect(await pointsOf('train-accuracy-chart', 'train')).toBe(5);
    expect(await pointsOf('train-lr-chart', 'train')).toBe(5);
    expect(await pointsOf('train-loss-chart', 'eval')).toBe(1);
    const polyline = await page.locator('#train-loss-chart polyline[data-series="train"]').getAttribute('points');
    expect(polyline?.split(' ')).toHaveLength(5);
    expect(await page.locator('#train-evals tbody tr').count()).toBe(1);
    expect(await page.locator('#train-checkpoints li[data-step]').count()).toBe(1);
    expect(await page.locator('#train-done').isHidden()).toBe(true);

    // Lines the worker appends show up live.
    append(trainEvent.metric(6), trainEvent.checkpoint(6, `/runs/dpo-pairs/checkpoints/${HOSTILE}`));
    await expect.poll(() => pointsOf('train-loss-chart', 'train'), { timeout: 20_000 }).toBe(6);
    await expect.poll(() => page.locator('#train-checkpoints li[data-step]').count()).toBe(2);
    expect(await page.locator('#train-checkpoints li').nth(1).textContent()).toContain(HOSTILE);

    // The connection drops: the page reconnects and resumes after the last line it has; nothing twice, nothing lost.
    const before = lines;
    expect(subscribes().at(-1)).toMatchObject({ runDir, afterLine: 0 });
    for (const connection of server.connections) connection.closeWith('SHUTTING_DOWN', 'test: connection dropped');
    append(trainEvent.metric(7), trainEvent.eval(7));
    await expect.poll(() => subscribes().length, { timeout: 20_000 }).toBe(3);
    expect(subscribes().at(-1)).toMatchObject({ runDir, afterLine: before });
    await expect.poll(() => pointsOf('train-loss-chart', 'train'), { timeout: 20_000 }).toBe(7);
    await expect.poll(() => pointsOf('train-loss-chart', 'eval')).toBe(2);
    await page.locator('#connection[data-state="open"]').waitFor();

    // Leaving the view unsubscribes; coming back resumes after the last line shown.
    await page.click('#tab-debates');
    await expect.poll(() => sent.filter((frame) => frame.type === 'train.unsubscribe').length).toBe(1);
    const shown = lines;
    append(trainEvent.metric(8));
    await page.click('#tab-training');
    await expect.poll(() => subscribes().length).toBe(4);
    expect(subscribes().at(-1)).toMatchObject({ runDir, afterLine: shown });
    await expect.poll(() => pointsOf('train-loss-chart', 'train'), { timeout: 20_000 }).toBe(8);

    // The run completes: the final held-out metrics, with the length split.
    append(trainEvent.metric(9), trainEvent.metric(10), trainEvent.done());
    await page.locator('#train-status[data-state="completed"]').waitFor({ timeout: 20_000 });
    await page.locator('#train-done:not([hidden])').waitFor();
    expect(await pointsOf('train-loss-chart', 'train')).toBe(10);
    expect(await page.getAttribute('#train-progress', 'value')).toBe('1');
    expect(await page.getAttribute('#train-progress', 'aria-valuetext')).toBe('step 10 of 10');
    expect(await field('train-final', 'accuracy')).toBe('75.0%');
    expect(await field('train-final', 'ece')).toBe('0.042');
    expect(await field('train-final', 'brier')).toBe('0.181');
    expect(await field('train-final', 'pairs')).toBe('12');
    expect(await page.locator('#train-length tr[data-split]').count()).toBe(3);
    expect(await page.locator('#train-length tr[data-split="chosen_longer"]').textContent()).toContain('87.5%');
    expect(await page.locator('#train-length [data-field="length-gap"]').textContent()).toContain('+37.5 points');
    expect(await page.locator('#train-done-summary').textContent()).toContain('Completed at step 10');

    // An eval of a checkpoint fails: its error shows with code and message, the message as text.
    append(
      {
        ...trainEvent.start(1),
        command: 'eval',
        checkpoint: '/runs/dpo-pairs/checkpoints/step-10',
        data: { eval_pairs: 12, tokenizer: 'hf' },
      },
      {
        v: 1,
        type: 'error',
        seq: 2,
        time: T0 + 40,
        code: 'DATA_INVALID',
        message: `row 3 has no "chosen": ${HOSTILE}`,
        file: '/data/pairs.jsonl',
        line: 3,
      },
    );
    await page.locator('#train-status[data-state="failed"]').waitFor({ timeout: 20_000 });
    const error = page.locator('#train-errors .train-error[data-code="DATA_INVALID"]');
    await error.waitFor();
    expect(await error.locator('.train-error-message').textContent()).toBe(`row 3 has no "chosen": ${HOSTILE}`);
    expect(await error.textContent()).toContain('/data/pairs.jsonl:3');
    expect(await page.locator('#training-view img').count()).toBe(0);
    expect(await page.title()).not.toBe('pwned');
    // The completed run's final metrics stay on screen.
    expect(await field('train-final', 'accuracy')).toBe('75.0%');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'training.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
