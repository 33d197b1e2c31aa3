/**
 * Endpoint-fleet benchmark: structured calls through the registry (reliability wrapper, OpenAI adapter, real SDK)
 * against loopback OpenAI wire servers (test/fakes) in child processes, each answering after a fixed latency, as a
 * model server with a fixed time per reply would. It compares one server through OPENAI_BASE_URL with fleets of 1 and
 * N servers (`--models` entries), and a fleet of N with one more endpoint that refuses every connection: calls per
 * second against the model-bound ideal (endpoints × per-endpoint concurrency / latency), and client CPU per call.
 *
 *   npx tsx bench/fleet.ts --endpoints 4 --latency-ms 100 --calls 2000
 *   npx tsx bench/fleet.ts --quick
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { assessmentSchema, type ModelEntries } from '../src/contracts/index.js';
import { createModelRegistry } from '../src/models/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    endpoints: { type: 'string', default: '4' },
    'latency-ms': { type: 'string', default: '100' },
    'endpoint-concurrency': { type: 'string', default: '8' },
    calls: { type: 'string', default: '2000' },
    out: { type: 'string', default: join(root, 'bench', 'results', 'fleet.json') },
    'no-write': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
});

const REPLY = JSON.stringify({ rationale: 'Adequate: it names the right steps.', principles: [], score: 6, confidence: 0.7 });
const MODEL = 'openai:served-model';

if (flags.serve) {
  // Child mode: one wire server that answers every request with REPLY after the latency; prints its base URL.
  const latencyMs = Number(flags['latency-ms']);
  const server = await (await import('../test/fakes/openai-wire-server.js')).startOpenAIWireServer();
  server.setScript(() => {
    // The server keeps every request for assertions; a bench sends thousands.
    server.requests.length = 0;
    return { text: REPLY, chunks: 4, hold: new Promise((resolve) => setTimeout(resolve, latencyMs)) };
  });
  process.stdout.write(`${server.baseURL}\n`);
} else {
  await main();
}

async function main(): Promise<void> {
  const count = Number(flags.endpoints);
  const latencyMs = Number(flags['latency-ms']);
  const perEndpoint = Number(flags['endpoint-concurrency']);
  const calls = flags.quick ? 400 : Number(flags.calls);
  const servers = await Promise.all(Array.from({ length: count }, () => serve(latencyMs)));
  const dead = `http://127.0.0.1:${await closedPort()}/v1`;
  const urls = servers.map((server) => server.url);
  const fleet = (baseURLs: string[]): ModelEntries => ({
    [MODEL]: { endpoints: baseURLs.map((baseURL) => ({ baseURL, concurrency: perEndpoint })) },
  });
  const scenarios: Array<{ name: string; endpoints: number; openaiBaseUrl?: string; entries?: ModelEntries }> = [
    { name: 'one server (OPENAI_BASE_URL)', endpoints: 1, openaiBaseUrl: urls[0] as string },
    { name: 'fleet of 1', endpoints: 1, entries: fleet(urls.slice(0, 1)) },
    { name: `fleet of ${count}`, endpoints: count, entries: fleet(urls) },
    { name: `fleet of ${count} + 1 refusing`, endpoints: count, entries: fleet([dead, ...urls]) },
  ];
  const messages = [
    new SystemMessage('You are a careful critic. Reply with a JSON object only.'),
    new HumanMessage(`Judge this answer.\n${'Grind fresh beans and brew for four minutes. '.repeat(20)}`),
  ];
  const schema = assessmentSchema({ min: 1, max: 10 });
  const results: Array<Record<string, unknown>> = [];
  try {
    for (const scenario of scenarios) {
      const registry = createModelRegistry({
        settings: { ...(scenario.openaiBaseUrl ? { openaiBaseUrl: scenario.openaiBaseUrl } : {}) },
        providers: { openai: { concurrency: perEndpoint } },
        ...(scenario.entries ? { endpoints: scenario.entries } : {}),
      });
      const model = await registry.resolve(MODEL);
      const inFlight = scenario.endpoints * perEndpoint;
      const run = async (total: number) => {
        let next = 0;
        let failed = 0;
        await Promise.all(
          Array.from({ length: inFlight }, async () => {
            while (next < total) {
              next++;
              const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
              if (!outcome.success) failed++;
            }
          }),
        );
        return failed;
      };
      await run(Math.min(100, calls));
      const cpu = process.cpuUsage();
      const start = performance.now();
      const failed = await run(calls);
      const wallMs = performance.now() - start;
      const used = process.cpuUsage(cpu);
      const callsPerSecond = (calls / wallMs) * 1000;
      const ideal = (scenario.endpoints * perEndpoint * 1000) / latencyMs;
      const result = {
        scenario: scenario.name,
        inFlight,
        callsPerSecond: round(callsPerSecond),
        idealCallsPerSecond: round(ideal),
        ofIdeal: round(callsPerSecond / ideal),
        cpuUsPerCall: round((used.user + used.system) / calls),
        failed,
        fleet: registry.fleets()[MODEL]?.map((endpoint) => ({ healthy: endpoint.healthy, inFlight: endpoint.inFlight })),
      };
      results.push(result);
      process.stderr.write(
        `${scenario.name.padEnd(28)} ${result.callsPerSecond} calls/s of ${result.idealCallsPerSecond} ideal ` +
          `(${Math.round(result.ofIdeal * 100)}%), ${result.cpuUsPerCall} µs CPU/call, ${failed} failed\n`,
      );
      await registry.close();
    }
  } finally {
    for (const server of servers) server.child.kill();
  }
  const report = {
    benchmark: 'fleet',
    command: ['node', ...process.execArgv, 'bench/fleet.ts', ...process.argv.slice(2)].join(' '),
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAverage: loadavg() },
    node: process.version,
    settings: { endpoints: count, latencyMs, perEndpoint, calls },
    results,
  };
  if (!flags['no-write']) writeFileSync(flags.out, `${JSON.stringify(report, null, 2)}\n`);
}

/** Starts a wire server in a child process and waits for its base URL. */
function serve(latencyMs: number): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', '--latency-ms', String(latencyMs)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (data: Buffer) => {
      buffer += data.toString();
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n') && line) resolve({ url: line.trim(), child });
    });
    child.once('exit', (code) => reject(new Error(`wire server exited with ${code}`)));
  });
}

/** A loopback port nothing listens on (taken, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
