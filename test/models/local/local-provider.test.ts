import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLocalAdapter, type LocalAdapter, loadedModelCount, toGrammarSchema } from '../../../src/models/local/index.js';
import { acquireLlama } from '../../../src/models/local/llama-runtime.js';
import { createCriticModel } from '../../../src/models/reliable-model.js';
import type { RawCallOptions } from '../../../src/models/types.js';

// The real 1.7 MB random-weight Llama model: its text is gibberish, but a grammar still forces valid JSON.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TINY_MODEL = path.resolve(repoRoot, '../shared/models/llama-2-tiny-random.gguf');
const SEQUENCES = 2;

const messages = [new SystemMessage('You are a careful critic.'), new HumanMessage('Assess candidate A: the sky is blue.')];
// Bounded strings and enums keep every generation short: a random model would never close an unbounded string.
const BoundedAssessment = z.object({
  score: z.number().min(1).max(10),
  stars: z.number().int().min(1).max(5),
  verdict: z.enum(['A', 'B', 'tie']),
  note: z.string().max(24),
});
const Verdict = z.object({ verdict: z.enum(['A', 'B', 'tie']), agree: z.boolean(), note: z.string().max(16) });
const jsonSchemaOf = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'draft-7' }) as Record<string, unknown>;

function call(options: Partial<RawCallOptions> = {}): RawCallOptions {
  return {
    jsonSchema: jsonSchemaOf(BoundedAssessment),
    schemaName: 'assessment',
    signal: new AbortController().signal,
    maxTokens: 300,
    ...options,
  };
}

describe('local provider on the tiny GGUF model', () => {
  let adapter: LocalAdapter;
  beforeAll(async () => {
    adapter = await createLocalAdapter(TINY_MODEL, { sequences: SEQUENCES, contextSize: 1024, gpu: false, threads: 1 });
  });
  afterAll(async () => {
    await adapter?.close();
  });

  it('loads the file once with a pool of free sequences and a fallback chat template', async () => {
    expect(adapter.provider).toBe('local');
    expect(adapter.modelPath).toBe(await realpath(TINY_MODEL));
    expect(adapter.stats()).toMatchObject({
      sequences: SEQUENCES,
      available: SEQUENCES,
      waiting: 0,
      chatWrapper: 'General',
      gpu: false,
    });
    expect(loadedModelCount()).toBe(1);
  });

  it('returns raw JSON shaped like the sanitised schema, with token counts', async () => {
    const completion = await adapter.complete(messages, call());
    const value = JSON.parse(completion.text) as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['score', 'stars', 'verdict', 'note']);
    expect(typeof value.score).toBe('number');
    expect([1, 2, 3, 4, 5]).toContain(value.stars);
    expect(['A', 'B', 'tie']).toContain(value.verdict);
    expect(typeof value.note).toBe('string');
    expect((value.note as string).length).toBeLessThanOrEqual(24);
    expect(completion.inputTokens).toBeGreaterThan(10);
    expect(completion.outputTokens).toBeGreaterThan(0);
    expect(completion.outputTokens).toBeLessThanOrEqual(300);
  });

  it('succeeds through the reliability wrapper for a schema without numeric bounds', async () => {
    const model = createCriticModel({ id: `local:${TINY_MODEL}`, adapter });
    const outcome = await model.structured({ messages, schema: Verdict, schemaName: 'verdict', maxTokens: 200 });
    expect(outcome.success).toBe(true);
    if (!outcome.success) return;
    expect(outcome.attempts).toBe(1);
    expect(Verdict.parse(JSON.parse(outcome.text))).toEqual(outcome.value);
    expect(outcome.usage.inputTokens).toBeGreaterThan(0);
    expect(outcome.usage.outputTokens).toBeGreaterThan(0);
    expect(outcome.usage.costUsd).toBe(0);
  });

  it('leaves numeric bounds to the wrapper, whose reply is parsable JSON either way', async () => {
    const model = createCriticModel({ id: `local:${TINY_MODEL}`, adapter });
    const outcome = await model.structured({ messages, schema: BoundedAssessment, schemaName: 'assessment', maxTokens: 300 });
    expect(() => JSON.parse(outcome.text)).not.toThrow();
    if (!outcome.success) {
      expect(outcome.error.code).toBe('OUTPUT_INVALID');
      expect(outcome.attempts).toBe(2);
    }
  });

  it('streams text chunks through onToken that concatenate to the text', async () => {
    const chunks: string[] = [];
    const completion = await adapter.complete(messages, call({ onToken: (text) => chunks.push(text) }));
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.join('')).toBe(completion.text);
  });

  it('honours maxTokens when streaming, with and without a grammar', async () => {
    const essay = jsonSchemaOf(z.object({ essay: z.string() }));
    const chunks: string[] = [];
    const completion = await adapter.complete(
      messages,
      call({ jsonSchema: essay, maxTokens: 16, onToken: (text) => chunks.push(text) }),
    );
    expect(completion.outputTokens).toBeGreaterThan(0);
    expect(completion.outputTokens).toBeLessThanOrEqual(16);
    expect(chunks.join('')).toBe(completion.text);

    const parts: string[] = [];
    let usage: { output_tokens: number } | undefined;
    for await (const chunk of await adapter.chat.stream(messages, { maxTokens: 12 })) {
      parts.push(chunk.text);
      usage = chunk.usage_metadata ?? usage;
    }
    expect(parts.length).toBeGreaterThan(1);
    expect(usage?.output_tokens).toBeGreaterThan(0);
    expect(usage?.output_tokens).toBeLessThanOrEqual(12);
  });

  it('answers LangChain invoke with usage metadata', async () => {
    const reply = await adapter.chat.invoke(messages, { maxTokens: 8 });
    expect(reply.text.length).toBeGreaterThan(0);
    // The generic message types resolve `usage_metadata` to never here.
    const usage = reply.usage_metadata as { input_tokens: number; output_tokens: number } | undefined;
    expect(usage?.output_tokens).toBeLessThanOrEqual(8);
    expect(usage?.input_tokens).toBeGreaterThan(0);
  });

  it('serves more concurrent calls than it has sequences and gives every sequence back', async () => {
    let peakBusy = 0;
    const completions = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        adapter.complete([new HumanMessage(`Assess candidate ${index}.`)], {
          ...call({ maxTokens: 120, temperature: 0.9 }),
          onToken: () => {
            peakBusy = Math.max(peakBusy, SEQUENCES - adapter.stats().available);
          },
        }),
      ),
    );
    expect(completions).toHaveLength(8);
    for (const completion of completions) expect(completion.outputTokens).toBeGreaterThan(0);
    expect(peakBusy).toBeLessThanOrEqual(SEQUENCES);
    expect(adapter.stats()).toMatchObject({ available: SEQUENCES, waiting: 0 });
  });

  it('gives the sequence back when a call is aborted mid-generation, and stays usable', async () => {
    const controller = new AbortController();
    const chunks: string[] = [];
    const running = adapter.complete(
      messages,
      call({
        jsonSchema: jsonSchemaOf(z.object({ essay: z.string() })),
        maxTokens: 400,
        signal: controller.signal,
        onToken: (text) => {
          chunks.push(text);
          if (chunks.length === 3) controller.abort(new Error('critic cancelled'));
        },
      }),
    );
    await expect(running).rejects.toThrow('critic cancelled');
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(adapter.stats()).toMatchObject({ available: SEQUENCES, waiting: 0 });
    const after = await adapter.complete(messages, call());
    expect(() => JSON.parse(after.text)).not.toThrow();
  });

  it('drops a queued call that is aborted while it waits for a sequence', async () => {
    const controller = new AbortController();
    let abortedWhileQueued = false;
    const onToken = () => {
      if (controller.signal.aborted || adapter.stats().waiting === 0) return;
      abortedWhileQueued = true;
      controller.abort(new Error('not needed'));
    };
    const busy = Array.from({ length: SEQUENCES }, () => adapter.complete(messages, call({ maxTokens: 60, onToken })));
    const queued = adapter.complete(messages, call({ signal: controller.signal }));
    await expect(queued).rejects.toThrow('not needed');
    await Promise.all(busy);
    expect(abortedWhileQueued).toBe(true);
    expect(adapter.stats()).toMatchObject({ available: SEQUENCES, waiting: 0 });
  });

  it('gives the sequence back when a stream is closed early', async () => {
    let received = 0;
    for await (const _chunk of await adapter.chat.stream(messages, { maxTokens: 200 })) {
      received++;
      if (received === 2) break;
    }
    expect(received).toBe(2);
    expect(adapter.stats()).toMatchObject({ available: SEQUENCES, waiting: 0 });
  });

  it('refuses a prompt longer than a sequence instead of silently truncating it', async () => {
    const long = new HumanMessage(Array.from({ length: 1500 }, (_, index) => `word${index}`).join(' '));
    await expect(adapter.complete([long], call())).rejects.toThrow(/tokens but each context sequence .* holds 1024/);
    expect(adapter.stats()).toMatchObject({ available: SEQUENCES, waiting: 0 });
  });

  it('compiles grammars for schemas with anyOf, records, tuples and recursion', async () => {
    interface Tree {
      name: string;
      children: Tree[];
    }
    const Tree: z.ZodType<Tree> = z.lazy(() => z.object({ name: z.string().max(8), children: z.array(Tree).max(2) }));
    const Complex = z.object({
      choice: z.union([z.string().min(3), z.number().min(0).max(1)]),
      maybe: z.number().nullable(),
      scores: z.record(z.string(), z.number().int().min(0).max(3)),
      pair: z.tuple([z.string().max(4), z.boolean()]),
      tree: Tree,
      rationale: z.string().max(5000),
    });
    const lease = await acquireLlama(false);
    try {
      for (const schema of [Complex, Tree, BoundedAssessment]) {
        await expect(
          lease.llama.createGrammarForJsonSchema(toGrammarSchema(jsonSchemaOf(schema)) as never),
        ).resolves.toBeDefined();
      }
    } finally {
      await lease.release();
    }
  });

  it('shares the loaded model between adapters for one file and frees it when the last one closes', async () => {
    const second = await createLocalAdapter(path.relative(process.cwd(), TINY_MODEL), { gpu: false, sequences: 8 });
    expect(loadedModelCount()).toBe(1);
    expect(second.stats().sequences).toBe(SEQUENCES);
    await second.close();
    await second.close();
    expect(loadedModelCount()).toBe(1);
    const stillServing = await adapter.complete(messages, call());
    expect(() => JSON.parse(stillServing.text)).not.toThrow();
    await adapter.close();
    expect(loadedModelCount()).toBe(0);
    await expect(adapter.complete(messages, call())).rejects.toThrow('closed');
  });
});
