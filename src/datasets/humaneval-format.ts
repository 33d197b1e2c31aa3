import { type DatasetItem, type HumanEvalRow, HumanEvalRowSchema } from '../contracts/index.js';
import { isPlainObject, type RowParseResult, type RowParser, zodFailure } from './row-parser.js';

/**
 * OpenAI HumanEval rows `{"task_id", "prompt", "canonical_solution", "test", "entry_point"}`: an item whose prompt asks
 * for the function, whose one candidate (`canonical`) is the complete reference program (`prompt` + `canonical_solution`,
 * code only), and whose `meta` carries `tests` (the `check(candidate)` source) and `entry_point`, which is what the
 * sandbox (`runPython({ code, tests, entryPoint })`) runs. The item id is the task id.
 */
export const humanEvalFormat: RowParser = {
  format: 'humaneval',
  parse(value: unknown): RowParseResult {
    if (!isPlainObject(value)) return { success: false, code: 'not-an-object', reason: 'expected a JSON object per line' };
    const parsed = HumanEvalRowSchema.safeParse(value);
    if (!parsed.success) return zodFailure('humaneval', parsed.error, value);
    const row = parsed.data;
    const item: DatasetItem = {
      id: row.task_id,
      prompt: humanEvalPrompt(row),
      candidates: [{ id: 'canonical', text: humanEvalProgram(row, row.canonical_solution) }],
      meta: { source: 'humaneval', conversational: false, taskId: row.task_id, tests: row.test, entry_point: row.entry_point },
    };
    return { success: true, item };
  },
};

/** The task as critics read it: the function to write, with its signature and docstring. */
export function humanEvalPrompt(row: Pick<HumanEvalRow, 'prompt' | 'entry_point'>): string {
  return `Complete the Python function \`${row.entry_point}\` so that it does what its docstring says.\n\n\`\`\`python\n${row.prompt.trimEnd()}\n\`\`\``;
}

/** A complete program: the task's prompt (imports, helpers, signature, docstring) followed by a function body. */
export function humanEvalProgram(row: Pick<HumanEvalRow, 'prompt'>, body: string): string {
  return `${row.prompt}${body}`;
}
