import { z } from 'zod';

/*
 * The preference-training worker (`python3 -m trainers rm|dpo|eval --config FILE`, trainers/README.md): the config
 * Tribunal writes for it and the JSON-lines events it writes on stdout (and appends to RUN_DIR/events.jsonl).
 * Field names are the worker's (snake_case), taken from trainers/config.py, trainers/protocol.py and
 * trainers/engine.py. Events are loose objects: a field the worker adds later passes through untouched.
 */

/** The event protocol version the worker speaks (`trainers.PROTOCOL_VERSION`). */
export const TRAINER_PROTOCOL_VERSION = 1;

/** What the worker trains: a reward model (Bradley–Terry) or a DPO policy. */
export const TRAINER_TASKS = ['rm', 'dpo'] as const;
export const TrainerTaskSchema = z.enum(TRAINER_TASKS);
export type TrainerTask = z.infer<typeof TrainerTaskSchema>;

/** The worker's commands: the two training tasks and `eval` (held-out evaluation of a checkpoint). */
export const TrainerCommandSchema = z.enum(['rm', 'dpo', 'eval']);
export type TrainerCommand = z.infer<typeof TrainerCommandSchema>;

/**
 * What happens to a pair longer than `data.max_length` (`data.truncation`, trainers/README.md): `keep_answers` cuts
 * the prompt (keeping BOS) and drops the pair if the answers still do not fit; `drop` drops it (TRL RewardTrainer);
 * `keep_end` also cuts answers' beginnings, keeping their end and EOS; `keep_start` cuts answers' ends (TRL DPO).
 */
export const TRUNCATION_POLICIES = ['keep_answers', 'drop', 'keep_end', 'keep_start'] as const;
export type TruncationPolicy = (typeof TRUNCATION_POLICIES)[number];

/** Where per-pair label smoothing comes from (`data.pair_label_smoothing`): nowhere, or a column of the pairs file. */
export const PAIR_SMOOTHING_COLUMNS = ['off', 'label_smoothing', 'consensus_probability'] as const;
export type PairSmoothingColumn = (typeof PAIR_SMOOTHING_COLUMNS)[number];

/** DPO loss variants (`dpo.loss_type`). */
export const DPO_LOSS_TYPES = ['sigmoid', 'ipo', 'hinge', 'robust'] as const;

/** The worker's exit codes (trainers/errors.py). */
export const TRAINER_EXIT = { ok: 0, internal: 1, config: 2, data: 3, outOfMemory: 4 } as const;

/** The `code` of a worker `error` event (trainers/errors.py). */
export const TRAINER_ERROR_CODES = ['CONFIG_INVALID', 'DATA_INVALID', 'OUT_OF_MEMORY', 'INTERNAL'] as const;
export type TrainerErrorCode = (typeof TRAINER_ERROR_CODES)[number];

/**
 * The `reason` of a DATA_INVALID error: a malformed `row`, a line that is not UTF-8 (`encoding`), an `unreadable` or
 * `empty` file, too few pairs or prompts to hold some out (`split`), no pair that fits data.max_length (`length`).
 */
export const TRAINER_DATA_ERROR_REASONS = ['row', 'encoding', 'unreadable', 'empty', 'split', 'length'] as const;
export type TrainerDataErrorReason = (typeof TRAINER_DATA_ERROR_REASONS)[number];

// ---------------------------------------------------------------------------------------------------------------------
// Config: the fields Tribunal writes (trainers/config.py holds every field; unknown fields are errors there too)
// ---------------------------------------------------------------------------------------------------------------------

const positive = () => z.number().positive();
const positiveInt = () => z.number().int().min(1);

/** The built-in pure-torch decoder's shape (`model.tiny`). */
export const TinyModelConfigSchema = z.strictObject({
  vocab_size: positiveInt().min(2).optional(),
  dim: positiveInt().min(8).optional(),
  n_layers: positiveInt().optional(),
  n_heads: positiveInt().optional(),
  hidden_dim: positiveInt().min(8).optional(),
  max_seq_len: positiveInt().min(2).optional(),
});

/** `model` (and `ref_model`): the tiny decoder (`"tiny"` for short) or a Hugging Face model from a local folder. */
export const TrainerModelConfigSchema = z.union([
  z.literal('tiny'),
  z.strictObject({
    kind: z.literal('tiny'),
    tiny: TinyModelConfigSchema.optional(),
  }),
  z.strictObject({
    kind: z.literal('hf'),
    path: z.string().min(1).describe('Local folder for from_pretrained; the worker never downloads.'),
    dtype: z.enum(['float32', 'bfloat16', 'float16']).optional(),
    trust_remote_code: z.boolean().optional(),
  }),
]);
export type TrainerModelConfig = z.infer<typeof TrainerModelConfigSchema>;

/** The worker's config file (RUN_DIR/config.json); paths are absolute. */
export const TrainerConfigSchema = z.strictObject({
  run_dir: z.string().min(1),
  task: TrainerTaskSchema.optional(),
  seed: z.number().int().min(0).optional(),
  device: z.enum(['auto', 'cpu', 'cuda']).optional(),
  resume: z.string().min(1).optional().describe('"auto" (default), "never", or a checkpoint folder.'),
  init_checkpoint: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Start the policy from this checkpoint folder's weights (an earlier run of the same task, model and lora). Only " +
        "a fresh run loads it; a resumed run continues from its own checkpoint. DPO's reference stays the fresh model.",
    ),
  ref_checkpoint: z
    .string()
    .min(1)
    .optional()
    .describe(
      "dpo: the reference's weights come from this checkpoint folder (same model and lora; its LoRA adapters are part " +
        'of the reference) instead of the model built fresh from model and seed.',
    ),
  data: z.strictObject({
    train: z.string().min(1),
    eval: z.string().min(1).optional(),
    eval_fraction: z.number().min(0).max(0.9).optional(),
    max_rows: positiveInt().optional(),
    max_length: positiveInt().min(2).optional(),
    max_prompt_length: positiveInt().optional(),
    truncation: z.enum(TRUNCATION_POLICIES).optional(),
    pair_label_smoothing: z
      .enum(PAIR_SMOOTHING_COLUMNS)
      .optional()
      .describe(
        'Per-pair label smoothing from a pairs-file column: ε = label_smoothing, or min(0.5, 1 − consensus_probability).',
      ),
  }),
  model: TrainerModelConfigSchema.optional(),
  training: z
    .strictObject({
      batch_size: positiveInt().optional(),
      gradient_accumulation_steps: positiveInt().optional(),
      learning_rate: positive().optional(),
      weight_decay: z.number().min(0).optional(),
      lr_scheduler_type: z.enum(['cosine', 'linear', 'constant']).optional(),
      warmup_steps: z.number().int().min(0).optional(),
      warmup_ratio: z.number().min(0).max(1).optional(),
      num_train_epochs: positive().optional(),
      max_steps: positiveInt().optional(),
      max_grad_norm: positive().nullable().optional(),
      logging_steps: positiveInt().optional(),
      eval_steps: positiveInt().nullable().optional(),
      save_steps: positiveInt().nullable().optional(),
      save_total_limit: positiveInt().nullable().optional(),
    })
    .optional(),
  rm: z
    .strictObject({
      center_rewards_coefficient: z.number().min(0).nullable().optional(),
      use_margin: z.boolean().optional().describe("Subtract the rows' margin column inside the loss (default true)."),
      margin_scale: positive().optional().describe('Margins are in panel score points: multiply them by this.'),
      label_smoothing: z.number().min(0).lt(0.5).optional(),
    })
    .optional(),
  dpo: z
    .strictObject({
      beta: positive().optional(),
      loss_type: z.enum(DPO_LOSS_TYPES).optional(),
      label_smoothing: z.number().min(0).lt(0.5).optional(),
    })
    .optional(),
  lora: z
    .strictObject({
      r: positiveInt(),
      alpha: positive().optional(),
      dropout: z.number().min(0).max(0.99).optional(),
      target_modules: z.array(z.string().min(1)).min(1).optional(),
      merge_on_export: z
        .boolean()
        .optional()
        .describe('Hugging Face models: RUN_DIR/final holds the merged model instead of peft adapters.'),
    })
    .nullable()
    .optional()
    .describe("LoRA adapters (peft when importable, else built in); DPO's reference is then the model with adapters off."),
  efficiency: z
    .strictObject({
      gradient_checkpointing: z.boolean().optional(),
      bf16: z.union([z.boolean(), z.literal('auto')]).optional(),
    })
    .optional(),
  distributed: z.strictObject({ strategy: z.enum(['ddp', 'fsdp']).optional() }).optional(),
  eval: z
    .strictObject({
      batch_size: positiveInt().optional(),
      ece_bins: positiveInt().optional(),
      at_end: z.boolean().optional(),
    })
    .optional(),
});
export type TrainerConfig = z.infer<typeof TrainerConfigSchema>;

// ---------------------------------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------------------------------

/** A float the worker computed: non-finite values (NaN, inf) are written as null. */
const float = () => z.number().nullable();
const count = () => z.number().int().min(0);

/** Fields of every event: protocol version, type, per-process sequence number from 1, and unix time in seconds. */
const envelope = {
  v: z.literal(TRAINER_PROTOCOL_VERSION),
  seq: z.number().int().min(1),
  time: z.number().describe('Unix time in seconds.'),
};

/**
 * Held-out metrics (`eval` events, `done.eval`), over `d = r⁺ − r⁻` (reward model) or DPO's implicit-reward margin:
 * accuracy (d > 0), calibration of σ(d) (ECE over equal confidence bins, Brier score), and accuracy split by whether
 * the chosen completion has more tokens than the rejected one (a length-bias check). Only `pairs` and `loss` are
 * present when the split is empty.
 */
export const HeldOutMetricsSchema = z.looseObject({
  pairs: count(),
  loss: float(),
  accuracy: float().optional(),
  ece: float().optional(),
  brier: float().optional(),
  mean_margin: float().optional(),
  ties: count()
    .optional()
    .describe(
      'Pairs whose two answers scored the same up to float rounding (|d| ≤ 1e-5 · max(1, |r|)): wrong in accuracy, ' +
        'p = 0.5 in ECE and Brier.',
    ),
  identical_answers: count().optional().describe('Pairs whose two answers are the same tokens: scored once, a tie.'),
  'accuracy/chosen_longer': float().optional().describe('null when no pair has a longer chosen completion.'),
  'accuracy/chosen_shorter': float().optional(),
  'accuracy/same_length': float().optional(),
  'count/chosen_longer': count().optional(),
  'count/chosen_shorter': count().optional(),
  'count/same_length': count().optional(),
});
export type HeldOutMetrics = z.infer<typeof HeldOutMetricsSchema>;

/** What tokenisation did to one split: its truncation policy and counts, and the degenerate pairs it found. */
export const TrainerDataReportSchema = z.looseObject({
  policy: z.enum(TRUNCATION_POLICIES),
  pairs: count().describe('Pairs kept.'),
  dropped: count().describe('Pairs dropped because they do not fit data.max_length under the policy.'),
  prompt_cut: count().describe('Kept pairs whose prompt was cut (BOS kept).'),
  answer_cut: count().describe('Kept pairs with an answer cut (keep_end, keep_start).'),
  empty_answers: count().describe('Pairs with an empty chosen or rejected answer.'),
  identical_answers: count().describe('Pairs whose chosen and rejected answers are the same.'),
  cut_off_answers: count()
    .optional()
    .describe('Pairs with a cut-off answer (the row has chosen_ended or rejected_ended false): it got no EOS.'),
});
export type TrainerDataReport = z.infer<typeof TrainerDataReportSchema>;

/** Per split: what tokenisation did (null for a split the run does not have). */
const truncationReports = () =>
  z
    .looseObject({
      train: TrainerDataReportSchema.nullable().optional(),
      eval: TrainerDataReportSchema.nullable().optional(),
    })
    .optional();

/**
 * How the held-out split was made: `file` (data.eval), `fraction` (data.eval_fraction of the training file, whole
 * prompts at a time: prompts ranked by sha256 of the seed and the prompt, so every pair of a prompt is on one side and a
 * prompt's side does not depend on the file's order) or `none`; with the distinct prompts on each side.
 */
export const TrainerSplitSchema = z.looseObject({
  source: z.enum(['file', 'fraction', 'none']),
  by: z.literal('prompt').optional(),
  method: z.string().optional(),
  train_prompts: count(),
  eval_prompts: count(),
  shared_prompts: count().describe('Prompts on both sides: 0 for a fraction split; a separate --eval file may share some.'),
});
export type TrainerSplit = z.infer<typeof TrainerSplitSchema>;

/** A checkpoint a run started from or takes its reference from: its folder and training step. */
export const TrainerCheckpointRefSchema = z.looseObject({ path: z.string(), step: count() });

/** `start` of `rm`/`dpo`: the run's shape, once the data, model and (DPO) reference log-probs are ready. */
export const TrainerTrainStartEventSchema = z.looseObject({
  type: z.literal('start'),
  ...envelope,
  command: TrainerTaskSchema,
  task: TrainerTaskSchema,
  run_dir: z.string(),
  step: count().describe('0, or the step a resumed run continues from.'),
  total_steps: count(),
  steps_per_epoch: z.number(),
  resumed_from: z.string().nullable(),
  init_checkpoint: TrainerCheckpointRefSchema.nullable()
    .optional()
    .describe('The checkpoint this run started its policy from (config init_checkpoint); null when none or resumed.'),
  ref_checkpoint: TrainerCheckpointRefSchema.nullable()
    .optional()
    .describe("DPO: the checkpoint the reference's weights come from (config ref_checkpoint); null: the fresh model."),
  world_size: z.number().int().min(1),
  device: z.string(),
  torch: z.string(),
  model: z.looseObject({
    family: z.string().describe('"tiny" or "hf".'),
    parameters: count(),
    trainable: count(),
    lora: z.string().nullable().describe('"peft", "builtin" or null.'),
  }),
  data: z.looseObject({
    train_pairs: count(),
    eval_pairs: count(),
    truncated: count().describe('Training pairs cut to data.max_length.'),
    tokenizer: z.string(),
    split: TrainerSplitSchema.nullable().optional(),
    truncation: truncationReports(),
  }),
  efficiency: z.looseObject({
    bf16: z.boolean(),
    compile: z.boolean(),
    warmup_steps: count(),
    strategy: z.string().describe('"single", "ddp" or "fsdp".'),
  }),
  schedule: z
    .looseObject({
      kind: z.string(),
      warmup_steps: count(),
      total_steps: count(),
      changed_on_resume: z
        .looseObject({ from: z.record(z.string(), z.unknown()), to: z.record(z.string(), z.unknown()) })
        .nullable()
        .describe('A resumed run whose total steps, warmup or schedule type changed: it continues on the new schedule.'),
    })
    .optional()
    .describe("The learning-rate schedule, built for this run's total steps."),
  config: z.record(z.string(), z.unknown()).describe('The validated config with every default filled in.'),
});

/** `start` of the `eval` command. */
export const TrainerEvalStartEventSchema = z.looseObject({
  type: z.literal('start'),
  ...envelope,
  command: z.literal('eval'),
  task: TrainerTaskSchema,
  run_dir: z.string(),
  step: count(),
  checkpoint: z.string().nullable().describe('null: the initial model.'),
  world_size: z.number().int().min(1),
  device: z.string(),
  torch: z.string(),
  data: z.looseObject({
    eval_pairs: count(),
    tokenizer: z.string(),
    split: TrainerSplitSchema.nullable().optional(),
    truncation: truncationReports(),
  }),
  config: z.record(z.string(), z.unknown()),
});

export const TrainerStartEventSchema = z.discriminatedUnion('command', [
  TrainerTrainStartEventSchema,
  TrainerEvalStartEventSchema,
]);

/**
 * Training metrics averaged over the last `training.logging_steps` steps. `metrics` holds TRL's names: reward model
 * `accuracy`, `margin`, `mean_reward`, `min_reward`, `max_reward`; DPO `rewards/chosen`, `rewards/rejected`,
 * `rewards/accuracies`, `rewards/margins`, `logps/chosen`, `logps/rejected`, `logits/chosen`, `logits/rejected`; both
 * `num_tokens` (as `tokens`).
 */
export const TrainerMetricEventSchema = z.looseObject({
  type: z.literal('metric'),
  ...envelope,
  step: z.number().int().min(1),
  epoch: z.number().describe('Fractional epoch.'),
  loss: float(),
  lr: float().describe('The learning rate used for this step.'),
  grad_norm: float().describe('Before clipping.'),
  tokens_per_s: float().describe('Non-padding tokens of chosen + rejected, all ranks, over the logging window.'),
  tokens: count().describe('Tokens seen so far.'),
  metrics: z.record(z.string(), float()),
});

/** Held-out evaluation: during training every `training.eval_steps`, at the end, or the `eval` command's result. */
export const TrainerEvalEventSchema = z.looseObject({
  type: z.literal('eval'),
  ...envelope,
  step: count(),
  epoch: z.number().optional().describe('Absent for the eval command.'),
  split: z.literal('eval'),
  checkpoint: z.string().nullable().optional().describe('The eval command: the evaluated checkpoint.'),
  metrics: HeldOutMetricsSchema,
  predictions: z
    .string()
    .nullable()
    .optional()
    .describe('The eval command: RUN_DIR/predictions.jsonl, every held-out pair with its scores (PredictionRow).'),
});

/** A prompt or completion as the pairs file gave it: text, or a conversation. */
const PairContentSchema = z.union([z.string(), z.array(z.looseObject({ role: z.string(), content: z.string() }))]);

/**
 * One line of the eval command's predictions.jsonl: a held-out pair, where it came from, and how the model scored it
 * (`reward_*` are reward-model scores, or DPO's implicit rewards β · (log π − log π_ref)).
 */
export const PredictionRowSchema = z.looseObject({
  index: count().describe('0-based position in the evaluated split.'),
  file: z.string(),
  line: z.number().int().min(1),
  prompt: PairContentSchema,
  chosen: PairContentSchema,
  rejected: PairContentSchema,
  reward_chosen: float(),
  reward_rejected: float(),
  margin: float().describe('reward_chosen − reward_rejected.'),
  correct: z.boolean().describe('margin > 0 and not a tie.'),
  tie: z.boolean().describe('The two rewards are equal up to float rounding (identical answers always are).'),
  chosen_tokens: count(),
  rejected_tokens: count(),
  label_margin: z.number().optional().describe("The row's own margin column, when it has one."),
});
export type PredictionRow = z.infer<typeof PredictionRowSchema>;

/** A complete checkpoint folder (written to `.tmp`, then renamed). */
export const TrainerCheckpointEventSchema = z.looseObject({
  type: z.literal('checkpoint'),
  ...envelope,
  step: z.number().int().min(1),
  epoch: z.number(),
  path: z.string(),
});

/** The run ended: `completed`, or `stopped` by SIGTERM/SIGINT after checkpointing (run again to resume). */
export const TrainerDoneEventSchema = z.looseObject({
  type: z.literal('done'),
  ...envelope,
  status: z.enum(['completed', 'stopped']),
  step: count(),
  epoch: z.number().optional().describe('Absent for the eval command.'),
  checkpoint: z.string().nullable().describe('The latest checkpoint folder.'),
  final_model: z
    .string()
    .nullable()
    .optional()
    .describe(
      'Hugging Face models: the save_pretrained folder (with tribunal_export.json). A reward model there scores with ' +
        'AutoModelForSequenceClassification exactly as the worker did; a DPO policy loads with AutoModelForCausalLM.',
    ),
  eval: HeldOutMetricsSchema.nullable().optional().describe('The last held-out metrics (completed runs).'),
  reason: z.string().nullable().optional().describe('Stopped runs: the signal, e.g. SIGTERM.'),
});

/**
 * The run failed; the exit code follows `code` (CONFIG_INVALID 2, DATA_INVALID 3, OUT_OF_MEMORY 4, INTERNAL 1).
 * Config errors name the dotted `field` (or `argv`, `--config`, `--checkpoint`); data errors the `file` and 1-based
 * `line` (absent when the whole file is unreadable).
 */
export const TrainerErrorEventSchema = z.looseObject({
  type: z.literal('error'),
  ...envelope,
  code: z.enum(TRAINER_ERROR_CODES),
  message: z.string(),
  field: z.string().optional(),
  file: z.string().optional(),
  line: z.number().int().min(1).optional(),
  reason: z
    .enum(TRAINER_DATA_ERROR_REASONS)
    .optional()
    .describe('DATA_INVALID: which kind, so the message can say what to do (trainers/errors.py DataError).'),
});

/**
 * Progress of a long phase before training or evaluation starts: DPO's reference log-probs (`reference`), computed once
 * over every pair before the `start` event. `done` of `total` units (batches of rank 0), about 50 events per phase.
 */
export const TrainerProgressEventSchema = z.looseObject({
  type: z.literal('progress'),
  ...envelope,
  phase: z.string().describe('"reference": DPO reference log-probs.'),
  split: z.string().optional().describe('The split being processed ("train" or "eval").'),
  done: count(),
  total: count(),
  unit: z.string().describe('What done and total count, e.g. "batches".'),
  pairs: count().optional().describe('Pairs the phase covers, all splits.'),
});
export type TrainerProgressEvent = z.infer<typeof TrainerProgressEventSchema>;

/** One line of the worker's stdout (and of RUN_DIR/events.jsonl). */
export const TrainerEventSchema = z.discriminatedUnion('type', [
  TrainerStartEventSchema,
  TrainerProgressEventSchema,
  TrainerMetricEventSchema,
  TrainerEvalEventSchema,
  TrainerCheckpointEventSchema,
  TrainerDoneEventSchema,
  TrainerErrorEventSchema,
]);
export type TrainerEvent = z.infer<typeof TrainerEventSchema>;
export type TrainerStartEvent = z.infer<typeof TrainerStartEventSchema>;
export type TrainerMetricEvent = z.infer<typeof TrainerMetricEventSchema>;
export type TrainerEvalEvent = z.infer<typeof TrainerEvalEventSchema>;
export type TrainerCheckpointEvent = z.infer<typeof TrainerCheckpointEventSchema>;
export type TrainerDoneEvent = z.infer<typeof TrainerDoneEventSchema>;
export type TrainerErrorEvent = z.infer<typeof TrainerErrorEventSchema>;
