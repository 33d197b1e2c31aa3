import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe.skipIf(!hasChromium)('viewer in headless Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ model: 'fake:judge?latencyMs=60&chunks=12' });
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
    // (Strings run in the page: this file is type-checked without the DOM library.)
    await page.waitForFunction("[...document.querySelectorAll('.turn-text')].some((element) => element.textContent.length > 5)");

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

  it('watches a labeling run by its directory and shows its debates', async () => {
    const dir = path.join(server.dir, 'label-run');
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
});
