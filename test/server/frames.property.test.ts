import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_FRAME_TYPES } from '../../src/contracts/index.js';
import { startTestServer, TestClient } from './ws-harness.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/** A message as sent: text (possibly not JSON), or raw bytes sent as a text or a binary message. */
type Message = { kind: 'text'; text: string } | { kind: 'bytes'; bytes: Uint8Array; binary: boolean };

const MAX_MESSAGE_BYTES = 64 * 1024;

/** Arrays or objects nested `depth` deep around a value, as JSON text. */
const nested = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1_000, max: 30_000 })),
    object: fc.boolean(),
  })
  .map(({ depth, object }) =>
    object ? `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`,
  );

/** Any JSON text a field could hold: small values, deep nesting, huge strings (some over the size limit). */
const fieldText = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value) ?? 'null'),
  nested,
  fc.integer({ min: 0, max: 100_000 }).map((length) => JSON.stringify('\u202e'.repeat(length))),
  fc.string({ unit: 'binary', maxLength: 40 }).map((text) => JSON.stringify(text)),
);

/** A frame with plausible and implausible fields: known and unknown types, wrong types for every field. */
const frameText = fc
  .record({
    v: fc.oneof({ arbitrary: fc.constant('1'), weight: 3 }, { arbitrary: fieldText, weight: 1 }),
    id: fc.oneof({ arbitrary: fc.constant('"r1"'), weight: 3 }, { arbitrary: fieldText, weight: 1 }),
    type: fc.oneof(
      fc.constantFrom(...CLIENT_FRAME_TYPES).map((type) => JSON.stringify(type)),
      fieldText,
    ),
    fields: fc.array(
      fc.tuple(
        fc.constantFrom(
          'prompt',
          'candidates',
          'run',
          'runDir',
          'debateId',
          'afterSeq',
          'afterLine',
          'sub',
          'panel',
          'kind',
          'x',
        ),
        fieldText,
      ),
      { maxLength: 4 },
    ),
  })
  .map(
    ({ v, id, type, fields }) =>
      `{"v":${v},"id":${id},"type":${type}${fields.map(([name, value]) => `,"${name}":${value}`).join('')}}`,
  );

const message: fc.Arbitrary<Message> = fc.oneof(
  { arbitrary: frameText.map((text): Message => ({ kind: 'text', text })), weight: 4 },
  nested.map((text): Message => ({ kind: 'text', text })),
  fc.string({ maxLength: 200 }).map((text): Message => ({ kind: 'text', text })),
  fc
    .record({ bytes: fc.uint8Array({ maxLength: 300 }), binary: fc.boolean() })
    .map(({ bytes, binary }): Message => ({ kind: 'bytes', bytes, binary })),
);

/** Close codes a connection may end with after hostile input: policy (1008), too big (1009), bad UTF-8 (1007). */
const EXPECTED_CLOSES = new Set([1007, 1008, 1009]);

describe('tribunal serve: generated frames (property)', () => {
  let server: TestServer;
  let cwd: string;
  beforeAll(async () => {
    cwd = mkdtempSync(path.join(tmpdir(), 'tribunal-frames-'));
    server = await startTestServer({
      cwd,
      model: 'fake:judge',
      limits: { maxMessageBytes: MAX_MESSAGE_BYTES, messagesPerSecond: 1000, messageBurst: 1000, maxStrikes: 6 },
    });
  });
  afterAll(async () => {
    await server.cleanup();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('no sequence of frames crashes the server, closes with 1011 or keeps the next client from being served', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), async (messages) => {
        const client = await TestClient.connect(server.streamUrl, { token: server.token });
        for (const sent of messages) {
          if (client.closeCode !== undefined) break;
          if (sent.kind === 'text') client.ws.send(sent.text);
          else client.ws.send(Buffer.from(sent.bytes), { binary: sent.binary });
        }
        // The connection answers a valid request after the generated ones, or has been closed for them.
        if (client.closeCode === undefined) client.send({ type: 'run.subscribe', run: 'live', id: 'sentinel' });
        await client.waitFor(
          () =>
            client.closeCode !== undefined ||
            client.frames.some((frame) => (frame.type === 'ack' || frame.type === 'error') && frame.id === 'sentinel'),
        );
        if (client.closeCode !== undefined) expect(EXPECTED_CLOSES).toContain(client.closeCode);
        for (const frame of client.errors()) {
          expect(frame.code).not.toBe('INTERNAL');
          expect(frame.message.length).toBeLessThanOrEqual(1000);
        }
        client.close();
        const next = await TestClient.connect(server.streamUrl, { token: server.token });
        expect(await next.request({ type: 'run.subscribe', run: 'live' })).toMatchObject({ type: 'ack' });
        next.close();
      }),
      { numRuns: 100 },
    );
    expect(server.logs.filter((line) => line.includes('internal error'))).toEqual([]);
  }, 120_000);
});
