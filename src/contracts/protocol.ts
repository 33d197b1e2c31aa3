import { z } from 'zod';
import { PromptSchema } from './debate.js';
import { ERROR_CODES } from './errors.js';
import { DebateEventSchema } from './events.js';
import { DebateTestsSchema } from './execution.js';
import { TrainerEventSchema } from './trainer.js';

/*
 * The live-debate WebSocket protocol (`tribunal serve`, endpoint `/v1/stream`), version 1. Every frame is one JSON
 * text message with `v: 1` and a `type`. Clients send requests that carry their own `id`; the server answers each
 * with an `ack` or an `error` naming that id, and streams DebateEvents inside `event` frames and training-run events
 * (src/contracts/trainer.ts) inside `train.event` frames. docs/protocol.md is generated from these schemas
 * (scripts/gen-protocol-doc.ts).
 */

/** The protocol version this code speaks; frames with another `v` are refused with `UNSUPPORTED_VERSION`. */
export const PROTOCOL_VERSION = 1;

/** The subprotocol a browser names in `Sec-WebSocket-Protocol` (next to `bearer.<token>`); the server echoes it. */
export const PROTOCOL_NAME = 'tribunal.v1';

/** Prefix of the subprotocol entry that carries the bearer token for browsers: `bearer.<token>`. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

const v = z.literal(PROTOCOL_VERSION).describe('Protocol version; always 1.');
const requestId = z
  .string()
  .min(1)
  .max(64)
  .describe('Chosen by the client; the `ack` or `error` answering this request repeats it.');
/** A run: a run id the server knows, or the directory of a labeling run (`tribunal label --out DIR`). */
const runReference = z
  .string()
  .min(1)
  .max(1024)
  .describe("A run id (the server's live run, or a run of a store it has opened) or a labeling run's directory.");
const debateId = z.string().min(1).max(200).describe('A debate id (from an ack, an event or GET /v1/debates).');
const sequence = z.number().int().min(-1);
const subscriptionId = z.string().min(1).max(64).describe('The `sub` of the ack that opened the subscription.');

// ---------------------------------------------------------------------------------------------------------------------
// Client -> server
// ---------------------------------------------------------------------------------------------------------------------

/** A candidate answer in `debate.start`: bare text (id `c1..cN` by position) or an object with its own id. */
export const LiveCandidateSchema = z.union([
  z.string().min(1).max(100_000),
  z
    .object({
      id: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,64}$/, 'candidate ids are 1-64 letters, digits, ".", "_" or "-"')
        .optional()
        .describe('Default: c1..cN by position.'),
      text: z.string().min(1).max(100_000),
    })
    .strict(),
]);
export type LiveCandidate = z.infer<typeof LiveCandidateSchema>;

export const DebateStartFrameSchema = z
  .object({
    v,
    type: z.literal('debate.start'),
    id: requestId,
    prompt: PromptSchema.describe('Text, or a chat whose last turn the candidates answer.'),
    candidates: z
      .array(LiveCandidateSchema)
      .min(1)
      .max(16)
      .describe('1 to 16 answers: text (ids c1..cN by position) or { id?, text }.'),
    panel: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'a panel is named by its id, e.g. "jury"')
      .optional()
      .describe("A panel id found in the server's panel directories; the server's --panel when omitted."),
    tests: DebateTestsSchema.shape.tests
      .optional()
      .describe(
        "Python tests the candidates' code runs with in the sandbox (panels with a code critic, e.g. `code`), HumanEval style `def check(candidate): ...`; at most 100,000 characters. Without them code runs alone.",
      ),
    entryPoint: DebateTestsSchema.shape.entryPoint.describe(
      'The function `check` is called with (HumanEval `entry_point`); needs `tests`.',
    ),
  })
  .strict()
  .refine((frame) => frame.entryPoint === undefined || frame.tests !== undefined, {
    message: 'entryPoint needs tests (the entry point is what they check)',
    path: ['entryPoint'],
  })
  .describe(
    'Starts a debate on the server with its default model. The ack carries `runId`, `debateId` and `sub`: the starter is subscribed to the debate from its first event.',
  );

export const RunSubscribeFrameSchema = z
  .object({
    v,
    type: z.literal('run.subscribe'),
    id: requestId,
    run: runReference,
    debateId: debateId.optional().describe('One debate of the run; every debate of the run when omitted.'),
    afterSeq: z
      .union([sequence, z.record(debateId, sequence)])
      .optional()
      .describe(
        'Resume point. With `debateId`: the last seq the client has (default -1: from the first event). Without: a map debateId -> last seq; every debate of the run is replayed after its entry (from the start when absent). Without `afterSeq` a run subscription is live only.',
      ),
  })
  .strict()
  .describe(
    'Subscribes to a run or one debate: the server replays the stored events after `afterSeq`, sends `subscription.live`, then streams new events as they happen. Nothing is sent twice and nothing is skipped.',
  );

export const RunUnsubscribeFrameSchema = z
  .object({
    v,
    type: z.literal('run.unsubscribe'),
    id: requestId,
    sub: subscriptionId,
  })
  .strict()
  .describe('Ends a subscription; no event of it follows the ack.');

export const RunCancelFrameSchema = z
  .object({
    v,
    type: z.literal('run.cancel'),
    id: requestId,
    debateId,
    run: runReference.optional(),
  })
  .strict()
  .describe(
    'Cancels a debate running on this server; it ends with a `debate-error` event (code ABORTED). Labeling runs belong to their own process: stop them there.',
  );

export const VerdictOverrideFrameSchema = z
  .object({
    v,
    type: z.literal('verdict.override'),
    id: requestId,
    run: runReference,
    debateId,
    kind: z.enum(['prefer', 'wrong']).describe('`prefer` a candidate (needs `candidateId`), or mark the label `wrong`.'),
    candidateId: z.string().min(1).max(200).optional().describe('The preferred candidate (`prefer`); optional with `wrong`.'),
    note: z.string().max(2000).optional().describe("The researcher's reason, kept with the label."),
  })
  .strict()
  .describe('Records a human gold label for a debate; exports carry it as `meta.humanOverride` (and `meta.humanPreferred`).');

export const TrainSubscribeFrameSchema = z
  .object({
    v,
    type: z.literal('train.subscribe'),
    id: requestId,
    runDir: z
      .string()
      .min(1)
      .max(1024)
      .describe(
        "A training run's directory (`tribunal train --out DIR`), relative to the server's working directory or absolute; it must hold events.jsonl or config.json.",
      ),
    afterLine: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Resume point: the `line` of the last `train.event` the client has (default 0: from the first event).'),
  })
  .strict()
  .describe(
    "Follows a training run's events.jsonl: the server sends every valid event after `afterLine` as a `train.event`, then each new one as the worker appends it, across resumed runs, until `train.unsubscribe` or the connection closes. Events are never dropped or merged; lines that are not valid trainer events are skipped.",
  );

export const TrainUnsubscribeFrameSchema = z
  .object({
    v,
    type: z.literal('train.unsubscribe'),
    id: requestId,
    sub: subscriptionId,
  })
  .strict()
  .describe('Ends a training subscription; no `train.event` of it follows the ack.');

/** Every frame a client may send. */
export const ClientFrameSchema = z.discriminatedUnion('type', [
  DebateStartFrameSchema,
  RunSubscribeFrameSchema,
  RunUnsubscribeFrameSchema,
  RunCancelFrameSchema,
  VerdictOverrideFrameSchema,
  TrainSubscribeFrameSchema,
  TrainUnsubscribeFrameSchema,
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
export type ClientFrameType = ClientFrame['type'];
export const CLIENT_FRAME_TYPES = ClientFrameSchema.options.map((option) => option.shape.type.value);

// ---------------------------------------------------------------------------------------------------------------------
// Server -> client
// ---------------------------------------------------------------------------------------------------------------------

/** Codes of `error` frames: the protocol's own, then the library's `ErrorCode`s (`RATE_LIMITED` among them; a debate that failed to start). */
export const PROTOCOL_ERROR_CODES = [
  'BAD_JSON',
  'BAD_FRAME',
  'UNKNOWN_TYPE',
  'UNSUPPORTED_VERSION',
  'UNAUTHORIZED',
  'FORBIDDEN_ORIGIN',
  'FORBIDDEN',
  'LIMIT_EXCEEDED',
  'NOT_FOUND',
  'NOT_CANCELLABLE',
  'SLOW_CONSUMER',
  'POLICY_VIOLATION',
  'SHUTTING_DOWN',
  ...ERROR_CODES,
] as const;
export const ProtocolErrorCodeSchema = z.enum(PROTOCOL_ERROR_CODES);
export type ProtocolErrorCode = z.infer<typeof ProtocolErrorCodeSchema>;

export const ServerLimitsSchema = z.object({
  maxMessageBytes: z.number().int().describe('Larger client messages close the connection with 1009.'),
  maxConcurrentDebates: z.number().int().describe('Debates one connection may have running at once.'),
  maxSubscriptions: z.number().int(),
  messagesPerSecond: z.number().describe('Sustained client message rate; bursts up to `messageBurst`.'),
  messageBurst: z.number().int(),
  heartbeatMs: z.number().int().describe('Ping interval; a peer that misses a pong by the next ping is terminated.'),
});
export type ServerLimits = z.infer<typeof ServerLimitsSchema>;

export const HelloFrameSchema = z
  .object({
    v,
    type: z.literal('hello'),
    server: z.literal('tribunal').describe('Who answers.'),
    liveRunId: z.string().describe('The run that debates started over this server belong to.'),
    defaults: z
      .object({ panel: z.string(), model: z.string() })
      .describe('Panel and model of debates started without `panel` (`--panel`, `--model` of tribunal serve).'),
    panels: z.array(z.string()).describe('Panel ids `debate.start` accepts.'),
    limits: ServerLimitsSchema.describe('The limits of this connection (see Limits).'),
    access: z
      .enum(['operator', 'read'])
      .describe(
        'What the token of this connection may do: `operator` everything, `read` (the `--read-token`) only watch: subscribe, unsubscribe and the JSON API.',
      ),
  })
  .strict()
  .describe('First frame on every connection.');

export const AckFrameSchema = z
  .object({
    v,
    type: z.literal('ack'),
    id: requestId,
    for: z.enum(CLIENT_FRAME_TYPES as [ClientFrameType, ...ClientFrameType[]]).describe('The type of the request answered.'),
    runId: z.string().optional().describe('The run the request concerned (a directory resolves to its run id).'),
    debateId: z.string().optional().describe('The debate started, subscribed to, cancelled or overridden.'),
    sub: z
      .string()
      .optional()
      .describe(
        'The subscription created (debate.start, run.subscribe, train.subscribe) or ended (run.unsubscribe, train.unsubscribe).',
      ),
    runDir: z.string().optional().describe('train.subscribe: the training run directory followed, resolved to an absolute path.'),
    override: z
      .object({
        id: z.number().int(),
        runId: z.string(),
        itemId: z.string().optional(),
        debateId: z.string().optional(),
        kind: z.enum(['prefer', 'wrong']),
        candidateId: z.string().optional(),
        note: z.string().optional(),
        createdAt: z.string(),
      })
      .optional()
      .describe('verdict.override: the stored override.'),
  })
  .strict()
  .describe('A request succeeded.');

export const EventFrameSchema = z
  .object({
    v,
    type: z.literal('event'),
    sub: z.string().describe('The subscription the event belongs to.'),
    event: DebateEventSchema,
    coalesced: z
      .number()
      .int()
      .min(2)
      .optional()
      .describe(
        'A `turn-delta` that stands for this many deltas of one turn, merged while the client was slow: its text is theirs joined and its seq the last one.',
      ),
  })
  .strict()
  .describe('One DebateEvent of a subscription. Per debate, seq only grows; `turn-end`, `verdict` and errors are never dropped.');

export const SubscriptionLiveFrameSchema = z
  .object({
    v,
    type: z.literal('subscription.live'),
    sub: z.string().describe('The subscription now live.'),
    replayed: z.number().int().min(0).describe('Stored events sent before this frame.'),
  })
  .strict()
  .describe('The replay of a subscription is complete; what follows happens live.');

export const ErrorFrameSchema = z
  .object({
    v,
    type: z.literal('error'),
    id: requestId.optional().describe('The request that failed, when the frame could be read that far.'),
    sub: z.string().optional().describe('The subscription that failed (e.g. its source became unreadable).'),
    code: ProtocolErrorCodeSchema.describe('What went wrong, as data (see Error codes).'),
    message: z.string().describe('What was wrong and what to do, for people.'),
  })
  .strict()
  .describe('A request failed, or the server is about to close the connection. The connection stays up unless a close follows.');

export const TrainEventFrameSchema = z
  .object({
    v,
    type: z.literal('train.event'),
    sub: z.string().describe('The training subscription the event belongs to.'),
    line: z
      .number()
      .int()
      .min(1)
      .describe('The 1-based line of the event in events.jsonl: send it back as `afterLine` to resume after it.'),
    event: TrainerEventSchema,
  })
  .strict()
  .describe('One validated trainer event of a training subscription, in the order of events.jsonl.');

/** Every frame the server sends. */
export const ServerFrameSchema = z.discriminatedUnion('type', [
  HelloFrameSchema,
  AckFrameSchema,
  EventFrameSchema,
  SubscriptionLiveFrameSchema,
  TrainEventFrameSchema,
  ErrorFrameSchema,
]);
export type ServerFrame = z.infer<typeof ServerFrameSchema>;
export type HelloFrame = z.infer<typeof HelloFrameSchema>;
export type AckFrame = z.infer<typeof AckFrameSchema>;
export type EventFrame = z.infer<typeof EventFrameSchema>;
export type TrainEventFrame = z.infer<typeof TrainEventFrameSchema>;
export type ErrorFrame = z.infer<typeof ErrorFrameSchema>;
