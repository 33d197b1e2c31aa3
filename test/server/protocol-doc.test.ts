import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderProtocolDoc } from '../../src/server/index.js';

describe('docs/protocol.md', () => {
  it('is generated from the zod schemas and up to date (rewrite it with: npx tsx scripts/gen-protocol-doc.ts)', () => {
    const file = path.resolve(import.meta.dirname, '../../docs/protocol.md');
    expect(readFileSync(file, 'utf8')).toBe(renderProtocolDoc());
  });

  it('documents every frame type', () => {
    const doc = renderProtocolDoc();
    for (const type of [
      'debate.start',
      'run.subscribe',
      'run.unsubscribe',
      'run.cancel',
      'verdict.override',
      'hello',
      'ack',
      'event',
      'subscription.live',
      'error',
    ]) {
      expect(doc).toContain(`### \`${type}\``);
    }
  });
});
