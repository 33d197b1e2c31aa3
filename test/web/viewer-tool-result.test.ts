import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TestClient } from '../server/ws-harness.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `test/web/viewer-tool-result.test.ts: skipped: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`,
  );
}

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

// Browser globals used inside page callbacks (the tests' tsconfig has no DOM lib).
declare const document: { body: { textContent: string | null } };
declare function getComputedStyle(element: unknown): { unicodeBidi: string };

describe.skipIf(!hasChromium)('viewer: execution results in a debate', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer({ model: 'fake:judge' });
    // A live debate of the code panel: the server runs each candidate's code in its sandbox (no tests: alone).
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const ack = await client.request({
      type: 'debate.start',
      panel: 'code',
      prompt: 'Print a file name.',
      candidates: ['```python\nprint("invoice\\u202egnp.exe")\n```', '```python\nraise ValueError("bad \\u202e input")\n```'],
    });
    if (ack.type !== 'ack' || !ack.debateId) throw new Error(`no ack: ${JSON.stringify(ack)}`);
    await server.live.settled(ack.debateId);
    client.close();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  it("shows each candidate's tool-result under its card, as isolated text with bidi controls made visible", async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(server.viewerUrl);
    await page.locator('#connection[data-state="open"]').waitFor();
    await page.locator('#debates li').first().click();
    await page.locator('#debate-status[data-state="done"]').waitFor();
    const executions = page.locator('.candidate .execution');
    await executions.nth(1).waitFor();
    expect(await executions.evaluateAll((elements) => elements.map((element) => element.getAttribute('data-status')))).toEqual([
      'passed',
      'error',
    ]);
    const summaries = await page.locator('.execution-summary').allTextContents();
    expect(summaries[0]).toMatch(/^run-python: passed · no tests · \d+ ms$/);
    expect(summaries[1]).toMatch(/^run-python: error · no tests/);
    const texts = await page.locator('.execution-text').evaluateAll((elements) =>
      elements.map((element) => ({
        text: element.textContent,
        dir: element.getAttribute('dir'),
        bidi: getComputedStyle(element).unicodeBidi,
      })),
    );
    // The first card's stdout, the second's first error: the override is a visible marker, never applied.
    expect(texts.map((entry) => [entry.dir, entry.bidi])).toEqual(texts.map(() => ['auto', 'isolate']));
    expect(texts.some((entry) => entry.text === 'invoice[U+202E]gnp.exe\n')).toBe(true);
    expect(texts.some((entry) => entry.text?.startsWith('ValueError: bad [U+202E] input'))).toBe(true);
    expect(await page.evaluate(() => document.body.textContent?.includes('\u202e'))).toBe(false);
    // The verifier took its turns beside the model critic.
    expect(await page.locator('.critic-column[data-critic="code-tests"] .turn').count()).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
