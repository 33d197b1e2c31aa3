import { describe, expect, it } from 'vitest';
import {
  formatCost,
  formatCount,
  formatDuration,
  formatItemRate,
  ProgressBar,
  renderBarLine,
  renderPlainLine,
} from '../../src/cli/progress-bar.js';
import { styleFor } from '../../src/cli/terminal.js';
import type { LabelingProgress } from '../../src/runner/index.js';

const plain = styleFor({ isTTY: false } as NodeJS.WriteStream);

function snapshot(overrides: Partial<LabelingProgress> = {}): LabelingProgress {
  return {
    runId: 'run-1',
    total: 20,
    done: 12,
    failed: 1,
    rejected: 0,
    rejectedLines: 2,
    running: 4,
    pending: 3,
    sessionSettled: 13,
    elapsedMs: 4_000,
    itemsPerSecond: 3.25,
    etaSeconds: 2.2,
    usage: { inputTokens: 50_000, outputTokens: 2_100, calls: 144, costUsd: 0.0123 },
    ...overrides,
  };
}

function sink(tty: boolean) {
  let text = '';
  return { stream: { isTTY: tty, columns: 200, write: (chunk: string) => (text += chunk) }, text: () => text };
}

describe('progress bar', () => {
  it('renders bar, done/total, rate, ETA, calls, tokens and cost on one line', () => {
    const line = renderBarLine(snapshot(), plain, 10);
    expect(line).toBe('[███████░░░] 13/20 65% · 1 failed · 3.3 items/s · ETA 0:02 · 144 calls · 52.1k tok · $0.0123');
    expect(renderBarLine(snapshot({ etaSeconds: undefined, stopping: 'max-cost' }), plain, 4)).toContain('ETA --:-- ');
    expect(renderBarLine(snapshot({ stopping: 'max-cost' }), plain)).toMatch(/stopping \(max-cost\)$/);
  });

  it('renders a plain line for logs', () => {
    expect(renderPlainLine(snapshot())).toBe(
      'label: 13/20 items · 1 failed · 3.3 items/s · ETA 0:02 · 144 calls · 52100 tokens · $0.0123',
    );
  });

  it('redraws one terminal line in place, at most every redrawMs, with messages above it', () => {
    let now = 0;
    const out = sink(true);
    const bar = new ProgressBar({ stream: out.stream, style: plain, redrawMs: 100, now: () => now });
    bar.update(snapshot({ done: 1 }));
    now = 50;
    bar.update(snapshot({ done: 2 })); // too soon: not drawn
    now = 150;
    bar.update(snapshot({ done: 3 }));
    bar.log('item x failed');
    bar.finish();
    const frames = out.text().split('\r\u001b[2K').filter(Boolean);
    expect(frames.map((frame) => frame.match(/ (\d+)\/20 /)?.[1])).toEqual(['2', '4', undefined, '4', '4']);
    expect(frames[2]).toBe('item x failed\n');
    expect(frames.at(-1)?.endsWith('\n')).toBe(true);
  });

  it('fits a narrow terminal: a shorter bar, then a cut line', () => {
    const out = {
      isTTY: true,
      columns: 70,
      text: '',
      write(chunk: string) {
        this.text += chunk;
      },
    };
    new ProgressBar({ stream: out, style: plain }).update(snapshot());
    const line = out.text.replace('\r\u001b[2K', '');
    expect(line.length).toBeLessThanOrEqual(69);
    expect(line).toMatch(/^\[█+░+\] 13\/20 65% · 1 failed · 3\.3 items\/s/);
  });

  it('writes a plain line every lineMs off a terminal, and the last state once at the end', () => {
    let now = 0;
    const out = sink(false);
    const bar = new ProgressBar({ stream: out.stream, style: plain, lineMs: 10_000, now: () => now });
    bar.update(snapshot({ done: 1 }));
    now = 5_000;
    bar.update(snapshot({ done: 2 }));
    now = 10_001;
    bar.update(snapshot({ done: 3 }));
    now = 12_000;
    bar.update(snapshot({ done: 4 }));
    bar.finish();
    expect(out.text().split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^label: 2\/20 items/),
      expect.stringMatching(/^label: 4\/20 items/),
      expect.stringMatching(/^label: 5\/20 items/),
    ]);
    expect(out.text()).not.toContain('\u001b');
  });

  it('formats durations, counts and costs', () => {
    expect([formatDuration(7), formatDuration(723), formatDuration(3723)]).toEqual(['0:07', '12:03', '1:02:03']);
    expect([formatCount(950), formatCount(12_345), formatCount(4_500_000)]).toEqual(['950', '12.3k', '4.5M']);
    expect([formatCost(0.01234), formatCost(12.345)]).toEqual(['$0.0123', '$12.35']);
  });
});

describe('item rate', () => {
  it('switches to items per minute for slow runs', () => {
    expect(formatItemRate(3.25)).toBe('3.3 items/s');
    expect(formatItemRate(42)).toBe('42 items/s');
    expect(formatItemRate(0.02)).toBe('1.2 items/min');
    expect(formatItemRate(0)).toBe('0.0 items/s');
  });
});
