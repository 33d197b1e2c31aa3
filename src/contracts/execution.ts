import { z } from 'zod';

/**
 * How one sandboxed run ended:
 * `passed` every test passed (or, without tests, the program ran to the end); `failed` the program loaded but a test
 * failed; `error` the program or the tests could not be loaded (syntax error, exception at top level, missing entry
 * point); `timeout` the wall-clock limit stopped it; `memory` it hit the memory cap; `output-limit` it wrote more
 * than the output bound.
 */
export const EXECUTION_STATUSES = ['passed', 'failed', 'error', 'timeout', 'memory', 'output-limit'] as const;
export const ExecutionStatusSchema = z.enum(EXECUTION_STATUSES);
export type ExecutionStatus = z.infer<typeof ExecutionStatusSchema>;

/** Longest error message, traceback and captured output a result may carry, in characters. */
export const EXECUTION_TEXT_LIMIT = 1_000_000;

/** The first error of a run (or of one test), as Python reported it, traceback limited to the untrusted code's frames. */
export const ExecutionErrorSchema = z.object({
  type: z.string().max(200).describe('The exception class, e.g. AssertionError; SandboxError for a failure of the sandbox.'),
  message: z.string().max(EXECUTION_TEXT_LIMIT),
  traceback: z.string().max(EXECUTION_TEXT_LIMIT),
  where: z.enum(['candidate', 'tests', 'sandbox']).describe('Which part raised it.'),
  file: z.string().max(200).optional().describe('<candidate> or <tests>.'),
  line: z.number().int().optional(),
});
export type ExecutionError = z.infer<typeof ExecutionErrorSchema>;

/** One test: a top-level statement of `check` (or of the tests module) that contains an `assert`. */
export const ExecutionTestSchema = z.object({
  name: z.string().max(200),
  line: z.number().int().describe('Line of the statement in the tests source.'),
  passed: z.boolean(),
  error: ExecutionErrorSchema.optional(),
});
export type ExecutionTest = z.infer<typeof ExecutionTestSchema>;

/** Captured stdout or stderr: the first bytes up to the bound, and how many were written in all. */
export const ExecutionOutputSchema = z.object({
  text: z.string().max(EXECUTION_TEXT_LIMIT),
  bytes: z.number().int().min(0).describe('Bytes written in all, kept or not.'),
  truncated: z.boolean(),
});
export type ExecutionOutput = z.infer<typeof ExecutionOutputSchema>;

/** The outcome of running untrusted code in the sandbox: plain data, safe to store, stream and show. */
export const ExecutionResultSchema = z.object({
  language: z.literal('python'),
  status: ExecutionStatusSchema,
  tests: z.array(ExecutionTestSchema).max(10_000).describe('Per-test outcomes in source order; empty when no tests ran.'),
  error: ExecutionErrorSchema.optional().describe('The first error: of loading the program, or of the first failing test.'),
  stdout: ExecutionOutputSchema,
  stderr: ExecutionOutputSchema,
  timeMs: z.number().min(0).describe('Wall-clock time of the run inside the worker (or until the timeout).'),
});
export type ExecutionResult = z.infer<typeof ExecutionResultSchema>;

/** Longest HumanEval `test` source accepted, in characters (the largest in HumanEval is ~5,000). */
export const MAX_TESTS_CHARS = 100_000;

/** A Python identifier, as HumanEval's `entry_point` must be. */
export const PythonIdentifierSchema = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]{0,199}$/,
    'must be a Python identifier (letters, digits, underscore; not starting with a digit)',
  );

/** One line of OpenAI HumanEval: a function to complete, its reference body, and a `check(candidate)` of asserts. */
export const HumanEvalRowSchema = z.object({
  task_id: z.string({ error: 'task_id must be a string such as "HumanEval/0"' }).min(1).max(200),
  prompt: z.string({ error: 'prompt must be the function signature and docstring' }).min(1),
  canonical_solution: z.string({ error: 'canonical_solution must be the reference function body' }),
  test: z.string({ error: 'test must be Python source defining check(candidate)' }).min(1).max(MAX_TESTS_CHARS),
  entry_point: PythonIdentifierSchema,
});
export type HumanEvalRow = z.infer<typeof HumanEvalRowSchema>;

/** What a debate's candidates are run against: the item's tests (`meta.tests`) and the function they check (`meta.entry_point`). */
export const DebateTestsSchema = z
  .object({
    tests: z.string().min(1).max(MAX_TESTS_CHARS).describe('Python test source, e.g. HumanEval `check(candidate)` asserts.'),
    entryPoint: PythonIdentifierSchema.optional().describe('The function `check` is called with.'),
  })
  .strict();
export type DebateTests = z.infer<typeof DebateTestsSchema>;

/** One candidate's execution in brief, as turns and label rows record it. */
export const ExecutionSummarySchema = z.object({
  candidateId: z.string(),
  status: ExecutionStatusSchema,
  passed: z.number().int().min(0).describe('Tests passed.'),
  total: z.number().int().min(0).describe('Tests run; 0 when the item has no tests (the program ran alone).'),
});
export type ExecutionSummary = z.infer<typeof ExecutionSummarySchema>;
