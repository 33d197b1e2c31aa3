import { HumanMessage } from '@langchain/core/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ModelEntry } from '../../src/contracts/index.js';
import type { FleetScheduler } from '../../src/models/endpoint-fleet.js';
import { modelEntryFor } from '../../src/models/model-entry.js';
import { priceOf } from '../../src/models/pricing.js';
import { createModelRegistry, type ModelRegistry } from '../../src/models/registry.js';
import type { CriticModel } from '../../src/models/types.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { WireReply, WireServer } from '../fakes/scripted-wire-server.js';
import { recordingSleep } from './provider-harness.js';

/**
 * Endpoint fleets through the real OpenAI SDK against several local servers that speak its wire format: calls spread
 * over the endpoints within their concurrency, fail over from a dead endpoint within the same attempt, the dead one is
 * probed (GET /v1/models) and rejoins, the request's own 4xx goes nowhere else, and a fleet with no endpoint left
 * fails with each endpoint's last error.
 */

const schema = z.object({ score: z.number() });
const messages = [new HumanMessage('Score it.')];
const valid = '{"score":3}';
const API_KEY = 'sk-test-fleet-0123456789abcdef';
const ID = 'openai:served-model';

type Server = WireServer & { baseURL: string };

/** Probes run when the test says, not on timers: `runAll` runs every scheduled probe and waits for them. */
function manualScheduler(): { schedule: FleetScheduler; delays: () => number[]; runAll: () => Promise<void> } {
  let tasks: Array<{ task: () => Promise<void>; ms: number }> = [];
  return {
    schedule: (task, ms) => {
      const entry = { task, ms };
      tasks.push(entry);
      return () => {
        tasks = tasks.filter((other) => other !== entry);
      };
    },
    delays: () => tasks.map((entry) => entry.ms),
    runAll: async () => {
      const due = tasks;
      tasks = [];
      await Promise.all(due.map((entry) => entry.task()));
    },
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((ok) => {
    resolve = ok;
  });
  return { promise, resolve };
}

/** Lets the event loop (and loopback I/O) run until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 100_000 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

const chatRequests = (server: Server) => server.requests.filter((request) => request.path.endsWith('/chat/completions'));
const probes = (server: Server) => server.requests.filter((request) => request.path.endsWith('/models'));

describe('endpoint fleets', () => {
  const servers: Server[] = [];
  const registries: ModelRegistry[] = [];
  afterEach(async () => {
    await Promise.all(registries.splice(0).map((registry) => registry.close()));
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  async function fleet(options: {
    count: number;
    entry?: Partial<ModelEntry>;
    endpoint?: (index: number) => { concurrency?: number; weight?: number };
    maxRetries?: number;
    idleTimeoutMs?: number;
  }) {
    const started = await Promise.all(Array.from({ length: options.count }, () => startOpenAIWireServer()));
    servers.push(...started);
    const scheduler = manualScheduler();
    const recorder = recordingSleep();
    const entry: ModelEntry = {
      ...options.entry,
      endpoints: started.map((server, index) => ({ baseURL: server.baseURL, ...options.endpoint?.(index) })),
    };
    const registry = createModelRegistry({
      settings: {
        openaiApiKey: API_KEY,
        maxRetries: options.maxRetries ?? 4,
        ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
      },
      reliability: { sleep: recorder.sleep, baseBackoffMs: 10 },
      endpoints: { [ID]: entry },
      fleet: { schedule: scheduler.schedule },
    });
    registries.push(registry);
    const model = await registry.resolve(ID);
    return { servers: started, registry, model, scheduler, recorder };
  }

  const call = (model: CriticModel, onToken?: (text: string) => void) =>
    model.structured({ messages, schema, schemaName: 's', ...(onToken ? { onToken } : {}) });

  it('spreads calls over every endpoint and keeps each within its concurrency (counted server-side)', async () => {
    const { servers: fleetServers, model, registry } = await fleet({ count: 2, endpoint: () => ({ concurrency: 2 }) });
    const gate = deferred();
    for (const server of fleetServers) server.setScript(() => ({ text: valid, hold: gate.promise }));
    const calls = Array.from({ length: 8 }, () => call(model));
    await until(() => fleetServers.every((server) => server.active === 2));
    expect(registry.fleets()[ID]?.map((endpoint) => endpoint.inFlight)).toEqual([2, 2]);
    gate.resolve();
    const outcomes = await Promise.all(calls);
    expect(outcomes.every((outcome) => outcome.success)).toBe(true);
    for (const server of fleetServers) {
      expect(server.peakActive).toBe(2);
      expect(chatRequests(server).length).toBeGreaterThan(0);
    }
    expect(fleetServers.reduce((sum, server) => sum + chatRequests(server).length, 0)).toBe(8);
    // Accounting does not care which endpoint answered: one call, the server's tokens, for every outcome.
    for (const outcome of outcomes) expect(outcome.usage).toMatchObject({ calls: 1, inputTokens: 11, outputTokens: 7 });
  });

  it("keeps the entry's own concurrency over all endpoints, and gives each endpoint its weight's share", async () => {
    const capped = await fleet({ count: 2, entry: { concurrency: 3 }, endpoint: () => ({ concurrency: 4 }) });
    const gate = deferred();
    for (const server of capped.servers) server.setScript(() => ({ text: valid, hold: gate.promise }));
    const calls = Array.from({ length: 6 }, () => call(capped.model));
    await until(() => capped.servers.reduce((sum, server) => sum + server.active, 0) === 3);
    gate.resolve();
    expect((await Promise.all(calls)).every((outcome) => outcome.success)).toBe(true);
    expect(capped.servers.reduce((sum, server) => sum + server.peakActive, 0)).toBeLessThanOrEqual(3);

    const weighted = await fleet({ count: 2, endpoint: (index) => ({ concurrency: 8, weight: index === 0 ? 3 : 1 }) });
    const hold = deferred();
    for (const server of weighted.servers) server.setScript(() => ({ text: valid, hold: hold.promise }));
    const spread = Array.from({ length: 8 }, () => call(weighted.model));
    await until(() => weighted.servers.reduce((sum, server) => sum + server.active, 0) === 8);
    expect(weighted.servers.map((server) => server.active)).toEqual([6, 2]);
    hold.resolve();
    expect((await Promise.all(spread)).every((outcome) => outcome.success)).toBe(true);
  });

  it.each<[string, WireReply]>([
    ['closes connections', { reset: true }],
    ['answers 503', { status: 503, message: 'the engine is restarting' }],
  ])('fails over from an endpoint that %s, probes it, and takes it back when it recovers', async (_, failure) => {
    const {
      servers: fleetServers,
      model,
      registry,
      scheduler,
      recorder,
    } = await fleet({
      count: 2,
      entry: { failureThreshold: 2, probeIntervalMs: 500, maxProbeIntervalMs: 1500 },
      endpoint: () => ({ concurrency: 1 }),
    });
    const [dead, live] = fleetServers as [Server, Server];
    dead.setScript(() => failure);
    dead.setModelsReply('reset' in failure ? { reset: true } : { status: 503 });
    live.setScript(() => ({ text: valid }));

    // Two calls at a time, one slot per endpoint: one lands on each, and the one at the dead endpoint waits for the
    // live one's slot. A failover is no model failure: one attempt, no backoff, one call's usage.
    for (let round = 0; round < 3; round++) {
      for (const outcome of await Promise.all([call(model), call(model)])) {
        expect(outcome).toMatchObject({ success: true, attempts: 1, usage: { calls: 1 } });
      }
    }
    expect(recorder.delays).toEqual([]);
    expect(chatRequests(dead)).toHaveLength(2);
    expect(chatRequests(live)).toHaveLength(6);
    const status = registry.fleets()[ID];
    expect(status?.[0]).toMatchObject({ healthy: false, consecutiveFailures: 2 });
    expect(status?.[0]?.lastError).toContain(dead.baseURL);
    expect(status?.[1]).toMatchObject({ healthy: true, consecutiveFailures: 0 });

    // Still down: the probe fails and the next one waits twice as long.
    expect(scheduler.delays()).toEqual([500]);
    await scheduler.runAll();
    expect(probes(dead)).toHaveLength(1);
    expect(probes(dead)[0]?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(registry.fleets()[ID]?.[0]?.healthy).toBe(false);
    expect(registry.fleets()[ID]?.[0]?.lastError).toMatch(/health probe failed/);
    expect(scheduler.delays()).toEqual([1000]);
    await call(model);
    expect(chatRequests(dead)).toHaveLength(2);

    // Recovered: the probe answers, the endpoint rejoins and takes calls again.
    dead.setScript(() => ({ text: valid }));
    dead.setModelsReply(undefined);
    await scheduler.runAll();
    expect(registry.fleets()[ID]?.[0]).toMatchObject({ healthy: true, consecutiveFailures: 0 });
    expect(scheduler.delays()).toEqual([]);
    for (let index = 0; index < 4; index++) expect((await call(model)).success).toBe(true);
    expect(chatRequests(dead).length).toBeGreaterThanOrEqual(4);
  });

  it.each<[number, string]>([
    [400, 'PROVIDER_FAILED'],
    [401, 'MODEL_CREDENTIALS_MISSING'],
    [404, 'MODEL_NOT_FOUND'],
  ])('does not fail over a request the server rejects with HTTP %i', async (status, code) => {
    const { servers: fleetServers, model, registry, recorder } = await fleet({ count: 2 });
    const [first, second] = fleetServers as [Server, Server];
    first.setScript(() => ({ status, message: `rejected; the key was ${API_KEY}` }));
    second.setScript(() => ({ text: valid }));
    const outcome = await call(model);
    expect(outcome).toMatchObject({ success: false, error: { code }, attempts: 1 });
    expect(chatRequests(first)).toHaveLength(1);
    expect(chatRequests(second)).toHaveLength(0);
    expect(recorder.delays).toEqual([]);
    if (!outcome.success) expect(outcome.error.message).not.toContain(API_KEY);
    // The server answered: it stays in, with no failure counted.
    expect(registry.fleets()[ID]?.[0]).toMatchObject({ healthy: true, consecutiveFailures: 0 });
  });

  it('sends a call another endpoint answers when one is busy (429), without counting it against the busy one', async () => {
    const { servers: fleetServers, model, registry, recorder } = await fleet({ count: 2, maxRetries: 1 });
    const [busy, free] = fleetServers as [Server, Server];
    busy.setScript(() => ({ status: 429, headers: { 'retry-after': '7' } }));
    free.setScript(() => ({ text: valid }));
    expect(await call(model)).toMatchObject({ success: true, attempts: 1 });
    expect(registry.fleets()[ID]?.[0]).toMatchObject({ healthy: true, consecutiveFailures: 0 });
    expect(recorder.delays).toEqual([]);

    // Every endpoint busy: rate limited as without a fleet, waiting as the server asked.
    free.setScript(() => ({ status: 429, headers: { 'retry-after': '7' } }));
    const outcome = await call(model);
    expect(outcome).toMatchObject({ success: false, error: { code: 'RATE_LIMITED' }, attempts: 2 });
    expect(recorder.delays).toEqual([7000]);
    expect(registry.fleets()[ID]?.every((endpoint) => endpoint.healthy && endpoint.consecutiveFailures === 0)).toBe(true);
  });

  it('counts a timeout against the endpoint and retries the call at another one', async () => {
    const { servers: fleetServers, model, registry, recorder } = await fleet({ count: 2, idleTimeoutMs: 300 });
    const [silent, live] = fleetServers as [Server, Server];
    silent.setScript(() => ({ hang: true }));
    live.setScript(() => ({ text: valid }));
    const outcome = await call(model);
    expect(outcome).toMatchObject({ success: true, attempts: 2 });
    expect(recorder.delays).toHaveLength(1);
    expect(chatRequests(silent)).toHaveLength(1);
    expect(chatRequests(live)).toHaveLength(1);
    expect(registry.fleets()[ID]?.[0]).toMatchObject({ healthy: true, consecutiveFailures: 1 });
    expect(registry.fleets()[ID]?.[0]?.lastError).toContain('timed out');
  });

  it('fails with PROVIDER_FAILED naming every endpoint and its last error when all are down', async () => {
    const {
      servers: fleetServers,
      model,
      registry,
      recorder,
    } = await fleet({
      count: 2,
      entry: { failureThreshold: 1 },
      maxRetries: 2,
    });
    const [reset, unavailable] = fleetServers as [Server, Server];
    reset.setScript(() => ({ reset: true }));
    unavailable.setScript(() => ({ status: 503, message: `overloaded (key ${API_KEY})` }));
    const outcome = await call(model);
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('PROVIDER_FAILED');
    const message = outcome.error.message;
    expect(message).toContain(`all 2 endpoints of ${ID} are out`);
    expect(message).toContain(`${reset.baseURL} (out, being probed): ${reset.baseURL} is unreachable`);
    expect(message).toContain(`${unavailable.baseURL} (out, being probed): ${unavailable.baseURL} failed (HTTP 503)`);
    expect(message).toContain('(after 3 attempts)');
    expect(message).not.toContain(API_KEY);
    // The first attempt reached both; later ones found none left and were retried with the wrapper's backoff.
    expect(chatRequests(reset)).toHaveLength(1);
    expect(chatRequests(unavailable)).toHaveLength(1);
    expect(recorder.delays).toHaveLength(2);
    expect(registry.fleets()[ID]?.every((endpoint) => !endpoint.healthy)).toBe(true);
  });

  it.each<[string, WireReply]>([
    ['an error event', { text: '', streamError: { type: 'server_error', message: 'engine died' } }],
    ['a dropped connection', { text: '', cut: 'drop' }],
  ])('fails over a stream that ends with %s before its first token', async (_, failure) => {
    const { servers: fleetServers, model, recorder } = await fleet({ count: 2 });
    const [broken, live] = fleetServers as [Server, Server];
    broken.enqueue(failure);
    live.setScript(() => ({ text: valid, chunks: 3 }));
    const tokens: string[] = [];
    const outcome = await call(model, (text) => tokens.push(text));
    expect(outcome).toMatchObject({ success: true, attempts: 1, usage: { calls: 1 } });
    expect(chatRequests(broken)).toHaveLength(1);
    expect(tokens.join('')).toBe(valid);
    expect(recorder.delays).toEqual([]);
  });

  it('follows the mid-stream rules for a stream cut after tokens: the same request again, on another endpoint', async () => {
    const { servers: fleetServers, model, registry, recorder } = await fleet({ count: 2 });
    const [broken, live] = fleetServers as [Server, Server];
    // Ends cleanly after the content but without its end frames (a dropped socket may lose the content in flight).
    broken.enqueue({ text: valid, chunks: 4, cut: 'close' });
    live.setScript(() => ({ text: valid, chunks: 2 }));
    const tokens: string[] = [];
    const outcome = await call(model, (text) => tokens.push(text));
    expect(outcome).toMatchObject({ success: true, attempts: 2, usage: { calls: 2 } });
    expect(recorder.delays).toHaveLength(1);
    expect(chatRequests(broken)).toHaveLength(1);
    expect(chatRequests(live)).toHaveLength(1);
    // What streamed before the cut reached the caller, then the whole retried reply (as without a fleet).
    expect(tokens.join('').endsWith(valid)).toBe(true);
    expect(tokens.join('').length).toBeGreaterThan(valid.length);
    expect(registry.fleets()[ID]?.[0]).toMatchObject({ healthy: true, consecutiveFailures: 1 });
  });

  it('matches model ids exactly or by the longest prefix, and prices them whichever endpoint answers', async () => {
    const entry = (baseURL: string): ModelEntry => ({ endpoints: [{ baseURL }] });
    const entries = {
      'openai:*': entry('http://a/v1'),
      'openai:qwen*': entry('http://b/v1'),
      'openai:qwen-7b': entry('http://c/v1'),
    };
    expect(modelEntryFor('openai:qwen-7b', entries)?.key).toBe('openai:qwen-7b');
    expect(modelEntryFor('openai:qwen-72b', entries)?.key).toBe('openai:qwen*');
    expect(modelEntryFor('openai:llama', entries)?.key).toBe('openai:*');
    expect(modelEntryFor('openai:llama', { 'openai:qwen*': entry('http://b/v1') })).toBeUndefined();

    const [one, two] = await Promise.all([startOpenAIWireServer(), startOpenAIWireServer()]);
    servers.push(one, two);
    const endpoints = { 'openai:gpt-4.1-mini': { endpoints: [{ baseURL: one.baseURL }, { baseURL: two.baseURL }] } };
    // A compatible server serving an OpenAI name gets no list price (as with OPENAI_BASE_URL); a given price applies.
    const unpriced = createModelRegistry({ settings: { openaiApiKey: API_KEY }, endpoints });
    const priced = createModelRegistry({
      settings: { openaiApiKey: API_KEY },
      endpoints,
      pricing: { 'openai:gpt-4.1-mini': { inputPerMillion: 1, outputPerMillion: 2 } },
    });
    registries.push(unpriced, priced);
    expect((await unpriced.resolve('openai:gpt-4.1-mini')).pricing).toBeUndefined();
    // The CLI's warnings and estimates price it the same way (without the fleet, list prices would apply).
    expect(priceOf('openai:gpt-4.1-mini', { endpoints })).toBeUndefined();
    expect(priceOf('openai:gpt-4.1-mini', {})).toBeDefined();
    const official = { 'openai:*': { endpoints: [{ baseURL: 'https://api.openai.com/v1' }] } };
    expect(priceOf('openai:gpt-4.1-mini', { endpoints: official })).toBeDefined();
    const model = await priced.resolve('openai:gpt-4.1-mini');
    for (const server of [one, two]) server.setScript(() => ({ text: valid, inputTokens: 1_000_000, outputTokens: 1_000_000 }));
    const costs = [];
    for (let index = 0; index < 2; index++) costs.push((await call(model)).usage.costUsd);
    expect(costs).toEqual([3, 3]);
    expect(chatRequests(one)).toHaveLength(1);
    expect(chatRequests(two)).toHaveLength(1);
  });
});
