/**
 * Model-call benchmark: the client-side CPU of one structured call through the real OpenAI and Anthropic adapters
 * (LangChain chat model, official SDK, streamed reply) against loopback wire servers, the ones the provider tests use
 * (test/fakes). The servers run in child processes, so the CPU measured (`process.cpuUsage` of this process) is the
 * adapter's, LangChain's, the SDK's and the HTTP client's only.
 *
 * Each provider is measured with this tree's adapter and, with `--before-tree DIR`, with the adapter of another checkout
 * (e.g. the commit before a change), interleaved within each repeat; medians over repeats.
 *
 *   npx tsx bench/model-calls.ts --before-tree /tmp/before --repeats 5 --calls 2000
 *   npx tsx bench/model-calls.ts --quick
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { assessmentSchema } from '../src/contracts/index.js';
import type { ProviderAdapter, RawCallOptions } from '../src/models/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    serve: { type: 'string' },
    calls: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    repeats: { type: 'string', default: '5' },
    chunks: { type: 'string', default: '8' },
    'before-tree': { type: 'string' },
    out: { type: 'string', default: join(root, 'bench', 'results', 'model-calls.json') },
    'no-write': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
});

const REPLY = JSON.stringify({
  rationale: 'The answer is adequate: it names the right steps, but it could say more about the grind and the ratio.',
  principles: [],
  score: 6,
  confidence: 0.7,
});

if (flags.serve !== undefined) {
  // Child mode: one wire server that answers every request with REPLY in `--chunks` pieces; prints its base URL.
  const chunks = Number(flags.chunks);
  const server =
    flags.serve === 'openai'
      ? await (await import('../test/fakes/openai-wire-server.js')).startOpenAIWireServer()
      : await (await import('../test/fakes/anthropic-wire-server.js')).startAnthropicWireServer();
  server.setScript(() => {
    // The server keeps every request for assertions; a bench sends thousands.
    server.requests.length = 0;
    return { text: REPLY, chunks, inputTokens: 300, outputTokens: 40 };
  });
  process.stdout.write(`${server.baseURL}\n`);
} else {
  await main();
}

async function main(): Promise<void> {
  const calls = flags.quick ? 200 : Number(flags.calls);
  const repeats = flags.quick ? 1 : Number(flags.repeats);
  const concurrency = Number(flags.concurrency);
  const servers = { openai: await serve('openai'), anthropic: await serve('anthropic') };
  try {
    const trees: Record<string, string> = { now: root };
    if (flags['before-tree'] !== undefined) trees.before = flags['before-tree'];
    const adapters: Array<{ provider: string; tree: string; adapter: ProviderAdapter }> = [];
    for (const [tree, dir] of Object.entries(trees)) {
      const openai = (await import(
        join(dir, 'src/models/openai-provider.ts')
      )) as typeof import('../src/models/openai-provider.js');
      const anthropic = (await import(
        join(dir, 'src/models/anthropic-provider.ts')
      )) as typeof import('../src/models/anthropic-provider.js');
      adapters.push({
        provider: 'openai',
        tree,
        adapter: await openai.createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: 'sk-bench', baseURL: servers.openai.url }),
      });
      adapters.push({
        provider: 'anthropic',
        tree,
        adapter: await anthropic.createAnthropicAdapter({
          model: 'claude-sonnet-4-5',
          apiKey: 'sk-ant-bench',
          baseURL: servers.anthropic.url,
        }),
      });
    }
    const messages = [
      new SystemMessage('You are a careful critic. Reply with a JSON object only.'),
      new HumanMessage(`Judge this answer.\n${'Grind fresh beans and brew for four minutes. '.repeat(20)}`),
    ];
    const jsonSchema = (await import('zod')).z.toJSONSchema(assessmentSchema({ min: 1, max: 10 }), {
      target: 'draft-7',
    }) as Record<string, unknown>;
    const callOnce = async (adapter: ProviderAdapter) => {
      let deltas = 0;
      const options: RawCallOptions = {
        jsonSchema,
        schemaName: 'assessment',
        signal: new AbortController().signal,
        temperature: 0.3,
        maxTokens: 400,
        onToken: () => {
          deltas++;
        },
      };
      const completion = await adapter.complete(messages, options);
      if (completion.text !== REPLY) throw new Error(`unexpected reply: ${completion.text.slice(0, 80)}`);
      return deltas;
    };
    const run = async (adapter: ProviderAdapter, count: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < count) {
            next++;
            await callOnce(adapter);
          }
        }),
      );
    };
    for (const { adapter } of adapters) await run(adapter, Math.min(200, calls));
    const samples = new Map<string, Array<{ cpuUsPerCall: number; wallUsPerCall: number }>>();
    for (let repeat = 0; repeat < repeats; repeat++) {
      // Alternate the order, so neither tree always runs right after the other's garbage.
      for (const { provider, tree, adapter } of repeat % 2 === 0 ? adapters : [...adapters].reverse()) {
        const cpu = process.cpuUsage();
        const start = performance.now();
        await run(adapter, calls);
        const wall = performance.now() - start;
        const used = process.cpuUsage(cpu);
        const sample = { cpuUsPerCall: (used.user + used.system) / calls, wallUsPerCall: (wall * 1000) / calls };
        const key = `${provider}/${tree}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
        process.stderr.write(
          `${key.padEnd(16)} #${repeat + 1}: ${sample.cpuUsPerCall.toFixed(1)} µs CPU/call, ${sample.wallUsPerCall.toFixed(1)} µs wall/call\n`,
        );
      }
    }
    const medians = Object.fromEntries(
      [...samples].map(([key, list]) => [
        key,
        {
          cpuUsPerCall: round(median(list.map((sample) => sample.cpuUsPerCall))),
          wallUsPerCall: round(median(list.map((sample) => sample.wallUsPerCall))),
        },
      ]),
    );
    for (const [key, value] of Object.entries(medians)) {
      process.stderr.write(`median ${key.padEnd(16)} ${value.cpuUsPerCall} µs CPU/call, ${value.wallUsPerCall} µs wall/call\n`);
    }
    const report = {
      benchmark: 'model-calls',
      command: ['node', ...process.execArgv, 'bench/model-calls.ts', ...process.argv.slice(2)].join(' '),
      date: new Date().toISOString(),
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAverage: loadavg() },
      node: process.version,
      settings: { calls, repeats, concurrency, chunks: Number(flags.chunks), trees },
      medians,
      runs: Object.fromEntries(samples),
    };
    if (!flags['no-write']) writeFileSync(flags.out, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    for (const server of Object.values(servers)) server.child.kill();
  }
}

/** Starts a wire server in a child process and waits for its base URL. */
function serve(provider: 'openai' | 'anthropic'): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', provider, '--chunks', String(flags.chunks)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (data: Buffer) => {
      buffer += data.toString();
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n') && line) resolve({ url: line.trim(), child });
    });
    child.once('exit', (code) => reject(new Error(`${provider} wire server exited with ${code}`)));
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
