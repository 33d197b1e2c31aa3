import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TestClient } from '../server/ws-harness.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `test/web/viewer-untrusted.test.ts: skipped: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`,
  );
}

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

// Browser globals used inside page callbacks (the tests' tsconfig has no DOM lib).
declare const document: {
  documentElement: { scrollWidth: number; clientWidth: number };
  body: { textContent: string | null };
};
declare function getComputedStyle(element: unknown): { unicodeBidi: string };

const VIEWPORT = { width: 1200, height: 900 };
const READ_TOKEN = 'viewer-read-only-token-0123456789';
/** A 20,000-character candidate without a single break opportunity. */
const UNBROKEN = 'A'.repeat(20_000);
/** `invoice‮gnp.exe`: with U+202E (right-to-left override) the file name reads "invoiceexe.png". */
const SPOOF = 'invoice\u202egnp.exe';

describe.skipIf(!hasChromium)('viewer: untrusted text stays in its box and its direction', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ model: 'fake:judge', readToken: READ_TOKEN });
    // The debate is started over the socket like any client's, with hostile text in the prompt and candidates.
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const ack = await client.request({
      type: 'debate.start',
      prompt: `Which file? ${UNBROKEN}`,
      candidates: [UNBROKEN, SPOOF, 'A short, ordinary answer.'],
    });
    if (ack.type !== 'ack' || !ack.debateId) throw new Error(`no ack: ${JSON.stringify(ack)}`);
    await server.live.settled(ack.debateId);
    client.close();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: VIEWPORT });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  it('wraps a 20,000-character candidate inside its card and isolates bidi controls', async () => {
    await page.goto(server.viewerUrl);
    await page.locator('#connection[data-state="open"]').waitFor();
    await page.locator('#debates li').first().click();
    await page.locator('#debate-status[data-state="done"]').waitFor();
    await page.locator('.candidate-text').nth(2).waitFor();

    // The page is no wider than the window, and each candidate card stays inside the candidates box.
    const width = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    expect(width.scroll).toBeLessThanOrEqual(width.client + 1);
    const boxes = await page.locator('.candidate').evaluateAll((cards) =>
      cards.map((card) => {
        const box = card.getBoundingClientRect();
        return { left: box.left, right: box.right, top: box.top, bottom: box.bottom };
      }),
    );
    const container = await page.locator('#debate-candidates').boundingBox();
    for (const box of boxes) expect(box.right).toBeLessThanOrEqual((container?.x ?? 0) + (container?.width ?? 0) + 1);
    // No card overlaps another.
    for (const [index, a] of boxes.entries()) {
      for (const b of boxes.slice(index + 1)) {
        const overlap = a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
        expect(overlap).toBe(false);
      }
    }

    // Bidi: the spoofing control is shown as a visible marker, and the text is isolated with its own direction.
    const spoof = page.locator('.candidate-text').nth(1);
    const shown = await spoof.evaluate((element) => ({
      text: element.textContent,
      dir: element.getAttribute('dir'),
      unicodeBidi: getComputedStyle(element).unicodeBidi,
    }));
    expect(shown).toEqual({ text: 'invoice[U+202E]gnp.exe', dir: 'auto', unicodeBidi: 'isolate' });
    for (const selector of ['.prompt-text', '.turn-text', '#rationale']) {
      const style = await page
        .locator(selector)
        .first()
        .evaluate((element) => [element.getAttribute('dir'), getComputedStyle(element).unicodeBidi]);
      expect(style, selector).toEqual(['auto', 'isolate']);
    }
    expect(await page.evaluate(() => document.body.textContent?.includes('\u202e'))).toBe(false);
    expect(problems).toEqual([]);
  });

  it('hides start, cancel and override from a read-only token', async () => {
    const reader = await browser.newPage({ viewport: VIEWPORT });
    try {
      await reader.goto(`${server.url}/#token=${encodeURIComponent(READ_TOKEN)}`);
      await reader.locator('#connection[data-state="open"]').waitFor();
      await reader.locator('body[data-access="read"]').waitFor({ state: 'attached' });
      expect(await reader.locator('#new-debate').isVisible()).toBe(false);
      await reader.locator('#debates li').first().click();
      await reader.locator('#debate-status[data-state="done"]').waitFor();
      expect(await reader.locator('#override').isVisible()).toBe(false);
      expect(await reader.locator('#ranking li').count()).toBe(3);
      // The operator's page keeps them.
      expect(await page.locator('#new-debate').isVisible()).toBe(true);
    } finally {
      await reader.close();
    }
  });
});
