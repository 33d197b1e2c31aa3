import { z } from 'zod';
import {
  ClientFrameSchema,
  DebateEventSchema,
  PROTOCOL_ERROR_CODES,
  PROTOCOL_NAME,
  PROTOCOL_VERSION,
  type ProtocolErrorCode,
  ServerFrameSchema,
  TrainerEventSchema,
} from '../contracts/index.js';
import { DEFAULT_FLUSH_EVENTS, DEFAULT_FLUSH_MS } from '../store/index.js';
import { CLOSE, CLOSING_CODES, closeCodeFor, httpStatusFor } from './close-codes.js';
import { DEFAULT_LIMITS } from './server-limits.js';
import { STREAM_PATH } from './tribunal-server.js';

/** What each protocol-specific error code means (library codes are described in src/contracts/errors.ts). */
const CODE_MEANINGS: Partial<Record<ProtocolErrorCode, string>> = {
  BAD_JSON: 'The message is not JSON.',
  BAD_FRAME: `The frame does not match its schema (the message lists the fields), nests arrays and objects deeper than ${DEFAULT_LIMITS.maxFrameDepth} levels, or is binary.`,
  UNKNOWN_TYPE: 'No client frame has this `type`.',
  UNSUPPORTED_VERSION: `\`v\` is not ${PROTOCOL_VERSION}.`,
  UNAUTHORIZED: 'No token, or the wrong one (HTTP 401 on the upgrade and the API).',
  FORBIDDEN_ORIGIN: 'A browser page from an origin not on the allowlist (HTTP 403 on the upgrade).',
  FORBIDDEN:
    'The read-only token (`--read-token`) sent `debate.start`, `run.cancel` or `verdict.override`; only the operator token may.',
  RATE_LIMITED:
    'Over the message rate (the frame was dropped; the error repeats its `id` when it had one), or the server already runs its maximum of debates.',
  PANEL_INVALID: '`debate.start` named a panel the server does not offer, or the panel failed to load.',
  INPUT_INVALID: 'The candidates of `debate.start` repeat an id.',
  ABORTED: 'The server is shutting down and starts no debate.',
  STORE_FAILED:
    "The store could not be read or written, or a followed training run's events.jsonl became unreadable (the message names the file and what to do).",
  INTERNAL:
    'A bug; the server log has the details. A request that fails this way gets this error; an exception outside a request closes that connection with 1011, never the server.',
  LIMIT_EXCEEDED:
    'Too many debates running or subscriptions open on this connection (a one-debate subscription stops counting once its debate has ended).',
  NOT_FOUND:
    "No such run, debate or subscription; a path outside the server's runs directory (`--runs-dir`, links followed) gets one message whether it exists or not. Inside it, `train.subscribe` names a path that is missing or holds neither events.jsonl nor config.json.",
  NOT_CANCELLABLE: 'The debate has ended, or belongs to a labeling run in another process.',
  SLOW_CONSUMER: 'The client fell too far behind; the connection is closed. Reconnect with `afterSeq`.',
  POLICY_VIOLATION: 'Too many bad or excess frames in a burst; the connection is closed.',
  SHUTTING_DOWN: 'The server is stopping.',
};

const LIBRARY_MEANING =
  'From the library (src/contracts/errors.ts); mostly seen in `debate-error` events rather than error frames.';

/** Example frames, one per type, shown in the reference. */
const EXAMPLES: Record<string, unknown> = {
  'debate.start': {
    v: 1,
    type: 'debate.start',
    id: 'r1',
    prompt: 'Why is the sky blue?',
    candidates: ['Rayleigh scattering.', 'It reflects the sea.'],
  },
  'run.subscribe': { v: 1, type: 'run.subscribe', id: 'r2', run: 'live', debateId: '5aa5…', afterSeq: 41 },
  'run.unsubscribe': { v: 1, type: 'run.unsubscribe', id: 'r3', sub: 's2' },
  'run.cancel': { v: 1, type: 'run.cancel', id: 'r4', debateId: '5aa5…' },
  'verdict.override': {
    v: 1,
    type: 'verdict.override',
    id: 'r5',
    run: 'live',
    debateId: '5aa5…',
    kind: 'prefer',
    candidateId: 'c2',
  },
  hello: {
    v: 1,
    type: 'hello',
    server: 'tribunal',
    liveRunId: 'live',
    defaults: { panel: 'default', model: 'openai:gpt-4.1-mini' },
    panels: ['default', 'full', 'jury'],
    limits: {
      maxMessageBytes: 262144,
      maxConcurrentDebates: 4,
      maxSubscriptions: 64,
      messagesPerSecond: 20,
      messageBurst: 40,
      heartbeatMs: 30000,
    },
    access: 'operator',
  },
  ack: { v: 1, type: 'ack', id: 'r1', for: 'debate.start', runId: 'live', debateId: '5aa5…', sub: 's1' },
  event: {
    v: 1,
    type: 'event',
    sub: 's1',
    event: {
      type: 'turn-delta',
      runId: 'live',
      debateId: '5aa5…',
      seq: 42,
      at: '2025-01-01T12:00:00.000Z',
      round: 1,
      criticId: 'safety',
      candidateId: 'c1',
      turnId: '1/safety/c1',
      text: 'The answer',
    },
  },
  'subscription.live': { v: 1, type: 'subscription.live', sub: 's2', replayed: 73 },
  'train.subscribe': { v: 1, type: 'train.subscribe', id: 'r6', runDir: 'runs/dpo-pairs', afterLine: 12 },
  'train.unsubscribe': { v: 1, type: 'train.unsubscribe', id: 'r7', sub: 's3' },
  'train.event': {
    v: 1,
    type: 'train.event',
    sub: 's3',
    line: 13,
    event: {
      v: 1,
      type: 'metric',
      seq: 13,
      time: 1735732800.5,
      step: 110,
      epoch: 0.92,
      loss: 0.412,
      lr: 8.1e-7,
      grad_norm: 1.7,
      tokens_per_s: 5120,
      tokens: 901120,
      metrics: { 'rewards/accuracies': 0.81, 'rewards/margins': 0.94 },
    },
  },
  error: {
    v: 1,
    type: 'error',
    id: 'r9',
    code: 'BAD_FRAME',
    message: 'invalid debate.start frame: candidates: Invalid input: expected array, received undefined',
  },
};

type JsonSchema = Record<string, unknown>;

function typeOf(schema: JsonSchema): string {
  if ('const' in schema) return `\`${JSON.stringify(schema.const)}\``;
  if (Array.isArray(schema.enum)) return schema.enum.map((value) => `\`${JSON.stringify(value)}\``).join(' | ');
  const union = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (union) return union.map(typeOf).join(' | ');
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer': {
      const min = schema.minimum;
      return typeof min === 'number' && min > Number.MIN_SAFE_INTEGER ? `integer ≥ ${min}` : 'integer';
    }
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      return `${typeOf((schema.items ?? {}) as JsonSchema)}[]`;
    case 'object': {
      const properties = schema.properties as Record<string, JsonSchema> | undefined;
      if (properties) return `{ ${Object.keys(properties).join(', ')} }`;
      const values = schema.additionalProperties as JsonSchema | undefined;
      return values ? `{ [debateId]: ${typeOf(values)} }` : 'object';
    }
    default:
      return 'any';
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function frameSection(schema: z.ZodObject): string {
  const type = (schema.shape.type as z.ZodLiteral<string>).value;
  const lines = [`### \`${type}\``, ''];
  const description = z.toJSONSchema(schema, { io: 'input' }).description;
  if (description) lines.push(description, '');
  lines.push('| field | type | required | meaning |', '| --- | --- | --- | --- |');
  for (const [name, field] of Object.entries(schema.shape) as Array<[string, z.ZodType]>) {
    if (name === 'v' || name === 'type') continue;
    const json = z.toJSONSchema(field, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    const isEvent = field === DebateEventSchema;
    const isTrainerEvent = field === TrainerEventSchema;
    const rendered = isEvent
      ? '[DebateEvent](schemas/debate-event.schema.json)'
      : isTrainerEvent
        ? '[TrainerEvent](training.md#events)'
        : cell(typeOf(json));
    const required = field.safeParse(undefined).success ? 'no' : 'yes';
    const meaning = isEvent
      ? 'One event of the debate stream: `seq` increases by one per debate.'
      : isTrainerEvent
        ? 'One event of the training worker (`progress`, `start`, `metric`, `eval`, `checkpoint`, `done`, `error`), validated by src/contracts/trainer.ts.'
        : cell(String(json.description ?? ''));
    lines.push(`| \`${name}\` | ${rendered} | ${required} | ${meaning} |`);
  }
  lines.push('', '```json', JSON.stringify(EXAMPLES[type] ?? {}), '```', '');
  return lines.join('\n');
}

/**
 * Renders docs/protocol.md from the zod schemas of the frames, the error codes and their close-code mapping, and
 * the default limits (scripts/gen-protocol-doc.ts writes it; a test fails when the file is stale).
 */
export function renderProtocolDoc(): string {
  const limits = DEFAULT_LIMITS;
  const codeRows = PROTOCOL_ERROR_CODES.map((code) => {
    const meaning = CODE_MEANINGS[code] ?? LIBRARY_MEANING;
    const socket = CLOSING_CODES.has(code)
      ? `closed with ${closeCodeFor(code)}`
      : code === 'UNAUTHORIZED' || code === 'FORBIDDEN_ORIGIN'
        ? 'upgrade refused'
        : 'stays up';
    return `| \`${code}\` | ${socket} | ${httpStatusFor(code)} | ${cell(meaning)} |`;
  });
  const clientFrames = ClientFrameSchema.options.map((schema) => frameSection(schema as unknown as z.ZodObject));
  const serverFrames = ServerFrameSchema.options.map((schema) => frameSection(schema as unknown as z.ZodObject));
  return `<!-- Generated by scripts/gen-protocol-doc.ts from src/contracts/protocol.ts: do not edit by hand. -->
# Live debate protocol v${PROTOCOL_VERSION}

\`tribunal serve\` runs one HTTP server: the viewer at \`/\`, a small JSON API under \`/v1\`, and this WebSocket
protocol at \`${STREAM_PATH}\`. Frames are JSON text messages; each has \`"v": ${PROTOCOL_VERSION}\` and a \`type\`.
The schemas are in [src/contracts/protocol.ts](../src/contracts/protocol.ts); events are the one
[DebateEvent](schemas/debate-event.schema.json) stream the engine emits and the store keeps.

## Connecting

- **Token.** Every upgrade and API request needs a bearer token: \`Authorization: Bearer TOKEN\`, or (browsers
  cannot set headers on a WebSocket) the subprotocols \`${PROTOCOL_NAME}, bearer.TOKEN\` (the server answers with
  \`${PROTOCOL_NAME}\`), or a \`?token=TOKEN\` query parameter. Without \`--token\` the server generates one and prints it
  with the viewer's address (\`http://HOST:PORT/#token=TOKEN\`). Tokens are compared in constant time. A server on a
  non-loopback address refuses to start without \`--token\`. The operator token (\`--token\`) may do everything; a
  read-only token (\`--read-token\`) may subscribe, unsubscribe and use the JSON API, and gets \`FORBIDDEN\` for
  \`debate.start\`, \`run.cancel\` and \`verdict.override\`. \`hello\` says which one a connection holds (\`access\`). No
  error message ever contains a token or an API key (docs/security.md).
- **Paths.** Every path a client names (\`run\`, \`dir\`, \`runDir\`) is resolved against the server's working directory
  and must lie, links followed, inside its runs directory (\`--runs-dir\`, default \`runs/\`); anything else is
  \`NOT_FOUND\` with one message, whether it exists or not.
- **Handshake.** A socket has ${limits.handshakeTimeoutMs / 1000} s to send its complete request (the upgrade included). At most
  ${limits.maxPendingHandshakes} sockets that are not (yet) WebSocket connections (upgrades in progress, viewer and API requests, idle
  kept-alive HTTP connections) may be open at once, and they count toward the connection limit; beyond either, a new
  socket is closed at once.
- **Origin.** A request with an \`Origin\` header (a browser page) must come from the server's own origin (on loopback,
  any of its loopback names) or one given with \`--allow-origin\`.
- **Hello.** The first frame is \`hello\`: the live run id, the default panel and model, the panels \`debate.start\`
  accepts, and the limits below.
- **Requests.** Each client frame carries an \`id\`; the server answers it with one \`ack\` or one \`error\` with the same id.
  Errors keep the connection up, except where a close follows (see the codes).

## Streams, resume and backpressure

- An \`event\` frame carries one DebateEvent and the subscription (\`sub\`) it belongs to. Per debate, \`seq\` starts at 0 and
  increases with every event (by one as the engine emits them; a labeling run's stored stream skips the seqs of merged
  turn-deltas, see below); the client keeps the last seq it has per debate.
- \`run.subscribe\` with \`debateId\` and \`afterSeq: N\` replays the stored events with seq > N, sends \`subscription.live\`,
  then streams live events. A client that reconnects with the last seq it saw gets exactly the events it missed: the
  replay and the live stream are de-duplicated by seq on the server. Without \`debateId\`, \`afterSeq\` is a map
  \`{ debateId: lastSeq }\` and every debate of the run is replayed after its entry (from the start when absent);
  without \`afterSeq\` a run subscription is live only.
- \`debate.start\` subscribes its sender to the new debate from seq 0; the debate keeps running if the sender disconnects.
  A subscription to one debate closes itself once the debate has ended and its last event was sent, so it stops counting
  toward the subscription limit; \`run.unsubscribe\` of it is still acknowledged.
  It is stored in the server's store as an item of the run \`live\` (its events, then its label row).
- \`run\` names a run id (the server's \`live\` run, or a run of a store it has opened) or the directory of a labeling run
  (\`tribunal label --out DIR\`); the server opens \`DIR/tribunal.sqlite\` read-only and follows it (it reads the store again
  every poll interval), so a labeling run in another process can be watched live. With \`--store postgres://…\` every run of
  that database is watchable by id, whichever machine's workers write it: each append notifies \`tribunal_events\` in its
  transaction and the server reads the store when woken (one LISTEN connection, polling only while it reconnects, then
  reading again), so the notification is never the data and none is lost to a dropped connection.
- **What a watcher of a labeling run sees** is what its store holds, the same from every machine. The label process
  writes its events in batches (every ${DEFAULT_FLUSH_MS} ms or ${DEFAULT_FLUSH_EVENTS} events) and merges each turn's \`turn-delta\` events of a batch
  into one (its text is theirs joined, exactly; its seq and \`at\` the last one's), so a turn's text grows in a few
  chunks rather than token by token, and the stored seqs have gaps where merged deltas were; \`afterSeq\` resume is exact
  over them. \`tribunal label\` and \`tribunal worker\` already join a turn's tokens where they are produced: one
  \`turn-delta\` holds every token of the last ${DEFAULT_FLUSH_MS} ms of the turn (the rest just before its \`turn-end\`), so
  in-process callbacks of those commands see these joined deltas too (the text is the same) and the engine builds a
  few events a turn instead of one per token. Debates started over this socket keep every delta. When a labeling session ends, the turn-deltas of its done items are deleted with their
  snapshots (no resume needs them): a replay of a finished debate has every event but its deltas, and each turn's
  rationale arrives with its \`turn-end\` (\`assessment.rationale\` or \`judgment.rationale\`).
- \`train.subscribe\` follows a training run (\`tribunal train --out DIR\`; \`runDir\` is resolved against the server's working
  directory, must lie inside the runs directory and must hold \`events.jsonl\` or \`config.json\`). Each valid event of its \`events.jsonl\` after \`afterLine\`
  arrives as a \`train.event\` with its 1-based \`line\`; a client that reconnects with the last \`line\` it saw gets exactly
  the events it missed. The subscription follows the file as the worker appends to it, across resumed runs, until
  \`train.unsubscribe\` or the connection closes. Training events are never merged or dropped: the server reads the next
  one only when the client has taken the last. No other file of the directory is read, and lines that are not valid
  trainer events are skipped (the server log names their line numbers, never their content). A missing directory, or one without those files, is
  refused with \`NOT_FOUND\` naming the path; the connection stays up. Training subscriptions count toward the
  subscription limit.
- When a client's send buffer passes ${limits.lowWaterMark / 1024} KiB, its frames wait in an outbox and each turn's
  \`turn-delta\` events merge into one (\`coalesced\` says how many; its text is theirs joined, its seq the last), keeping seq
  order. \`turn-end\`, \`verdict\`, errors and every other event are never dropped or merged. A client more than
  ${limits.maxBufferedBytes / 1024 / 1024} MiB behind is closed with ${CLOSE.tryAgainLater}; it reconnects with \`afterSeq\` and loses nothing. A slow
  client never slows the debate or other clients.
- The server pings every ${limits.heartbeatMs / 1000} s and terminates a peer that has not answered the previous ping.

## Client frames

${clientFrames.join('\n')}
## Server frames

${serverFrames.join('\n')}
## Error codes

Each \`error\` frame has a \`code\`. Most answer one request and the connection stays up; after the few that close it, the
close code is the one shown. The JSON API and a refused upgrade answer with the HTTP status shown. Both mappings live in
src/server/close-codes.ts and nowhere else. Bad frames (\`BAD_JSON\`, \`BAD_FRAME\`, \`UNKNOWN_TYPE\`,
\`UNSUPPORTED_VERSION\`, \`RATE_LIMITED\`) count as strikes: a burst of them ends in \`POLICY_VIOLATION\` and 1008.

| code | connection | HTTP status | meaning |
| --- | --- | --- | --- |
${codeRows.join('\n')}

Other closes: ${CLOSE.messageTooBig} when a message exceeds the size limit; ${CLOSE.goingAway} when the server shuts down.

## Limits (defaults)

| limit | default |
| --- | --- |
| message size | ${limits.maxMessageBytes} bytes (larger: closed with ${CLOSE.messageTooBig}) |
| frame nesting | ${limits.maxFrameDepth} levels of arrays and objects, measured before parsing (deeper: \`BAD_FRAME\`) |
| error message | 1000 characters; values from the frame are quoted cut to 64 (paths 400) |
| message rate per connection | ${limits.messagesPerSecond}/s, bursts of ${limits.messageBurst} (over: \`RATE_LIMITED\`) |
| bad frames tolerated in a burst | ${limits.maxStrikes}, forgiven at ${limits.strikesForgivenPerSecond}/s (then closed with ${CLOSE.policyViolation}) |
| debates running per connection | ${limits.maxConcurrentDebates} |
| debates running per server | ${limits.maxLiveDebates} |
| subscriptions per connection | ${limits.maxSubscriptions} |
| connections per server | ${limits.maxConnections}, sockets not yet upgraded included |
| sockets not (yet) upgraded to a WebSocket | ${limits.maxPendingHandshakes} (beyond: closed at once) |
| handshake time | ${limits.handshakeTimeoutMs} ms to send the complete request or upgrade |
| heartbeat | every ${limits.heartbeatMs} ms |

## JSON API

All under \`/v1\`, \`GET\` only, with either token; errors are \`{ "error": { "code", "message" } }\`. Query parameters are at most
1024 characters; \`dir\` and \`run\` paths are confined to the runs directory like the socket's.

| request | answer |
| --- | --- |
| \`/v1/runs[?dir=DIR]\` | \`{ liveRunId, runs }\`; \`dir\` opens a labeling run's directory first |
| \`/v1/debates?run=RUN[&limit=N][&review=1]\` | \`{ runId, live, debates }\`: each debate's status, last seq and event count; a debate its panel escalated (panel \`escalate\`) carries \`review: { consensusProbability, threshold, answered }\` (answered once a verdict override names it); \`review=1\` lists only those |
| \`/v1/overrides?run=RUN[&debateId=ID]\` | \`{ runId, overrides }\`, oldest first |
| \`/v1/panels\` | \`{ default, model, panels }\` |
| \`/v1/training-runs\` | \`{ runs }\`: the training runs directly in the runs directory (\`--runs-dir\`, default \`runs/\`, where \`tribunal train\` writes without \`--out\`) and their \`evals/\`, newest first: each \`runDir\` (for \`train.subscribe\`), \`updatedAt\`, \`events\` (whether events.jsonl exists yet). Only names and times are read |
| \`/v1/loop-runs\` | \`{ loops }\`: the \`tribunal loop\` directories (holding \`loop.json\` and \`report.json\` as regular files) in the runs directory and one level below it, newest report first: each \`loopDir\` (for \`/v1/loop-report\`) and \`updatedAt\`. A loop's own sub-runs are not searched, links are not followed, the walk is bounded. Only names and times are read |
| \`/v1/loop-report?dir=DIR\` | \`{ loopDir, resolvedDir, updatedAt, report }\`: the loop's \`report.json\` (docs/loop.md), validated against the loop report schema. \`DIR\` is confined like \`dir\` (outside the runs directory: one \`NOT_FOUND\` whether it exists or not); a \`report.json\` that is a link, over 1 MiB, not JSON or not a loop report is refused (\`NOT_FOUND\`, \`INPUT_INVALID\`) with the file and, for the schema, the field. The loop rewrites it atomically at every stage change: poll it (the viewer's Loop tab asks every 2 s) |

## Verdict overrides

\`verdict.override\` appends a human correction to the run's store (\`prefer\` a candidate, or mark the label \`wrong\`, with
an optional note). Exports mark label rows with the latest override of their debate: \`meta.humanOverride\`
(\`{ source: "human", kind, candidateId?, note?, createdAt, overrideId }\`), and a \`prefer\` also sets
\`meta.humanPreferred\`, which the dataset card compares with the panel (see \`applyOverrides\` in src/export).
`;
}
