import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadPanel } from '../../config/index.js';
import { type Candidate, type DebateEvent, type DebateResult, TribunalError } from '../../contracts/index.js';
import { type DebateTools, panelUsesTools, runDebate } from '../../engine/index.js';
import { createModelRegistry, loadSettings, resolveDefaultModel } from '../../models/index.js';
import { lazySandboxPool } from '../../sandbox/index.js';
import { ENDPOINT_HELP, ENDPOINT_OPTIONS, endpointsFrom } from '../endpoint-options.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { failureAdvice } from '../model-failure-options.js';
import { PRICE_HELP, PRICE_OPTIONS, pricingFrom, unpricedModels, unpricedWarning } from '../price-options.js';
import { styleFor, terminalSafe } from '../terminal.js';
import { TranscriptRenderer } from '../transcript-renderer.js';

export const DEBATE_HELP = `Usage: tribunal debate --prompt TEXT|@FILE --candidate TEXT|@FILE [--candidate ...] [options]

Runs one debate of the panel's critics over the candidate answers and shows a live transcript:
each critic streaming, a score table per round, the consensus and the ranking.

Options:
  --prompt TEXT|@FILE      the user prompt (or @path to read it from a file)
  --candidate TEXT|@FILE   a candidate answer; repeat for each candidate (ids c1, c2, ... or the file name)
  --panel FILE             panel file (default: panels/default.yaml)
  --model ID               model for every critic, e.g. openai:gpt-4.1-mini, anthropic:claude-sonnet-4-5,
                           local:/path/model.gguf, fake:judge (default: panel, then environment, then local)
  --max-rounds N           override the panel's debate rounds
  --protocol NAME          override the panel's protocol: simultaneous | one-by-one | jury
  --tests TEXT|@FILE       Python tests the candidates' code runs against, for critics with tools: [run-python]
                           (HumanEval-style check(candidate) asserts, or top-level asserts; docs/sandbox.md)
  --entry-point NAME       the function check(candidate) is called with
${PRICE_HELP}
${ENDPOINT_HELP}
  --json                   write the DebateEvent stream as JSON lines on stdout and nothing else
  -h, --help               show this help

Offline, point the local default at a GGUF file: TRIBUNAL_LOCAL_MODEL=/path/model.gguf, or --model local:/path/model.gguf.
Exit codes: 0 a verdict, 1 invalid panel, 2 usage, 3 model errors (also when no critic turn succeeded: then there is
no verdict), 130 interrupted.`;

/** `tribunal debate`: one live debate in the terminal, or its event stream as JSON lines. */
export async function debateCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      prompt: { type: 'string' },
      candidate: { type: 'string', multiple: true },
      panel: { type: 'string' },
      model: { type: 'string' },
      'max-rounds': { type: 'string' },
      protocol: { type: 'string' },
      tests: { type: 'string' },
      'entry-point': { type: 'string' },
      ...PRICE_OPTIONS,
      ...ENDPOINT_OPTIONS,
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${DEBATE_HELP}\n`);
    return EXIT.ok;
  }
  if (!values.prompt) throw new TribunalError('CONFIG_INVALID', '--prompt is required (text, or @FILE to read it from a file)');
  if (!values.candidate || values.candidate.length === 0) {
    throw new TribunalError('CONFIG_INVALID', 'give at least one --candidate (text, or @FILE); repeat the flag for more');
  }
  const prompt = await textOrFile(values.prompt, io.cwd, '--prompt');
  const candidates: Candidate[] = [];
  for (const [index, raw] of values.candidate.entries()) {
    const text = await textOrFile(raw, io.cwd, '--candidate');
    const fromFile = raw.startsWith('@') ? path.basename(raw.slice(1)).replace(/\.[^.]+$/, '') : undefined;
    const id = fromFile && !candidates.some((candidate) => candidate.id === fromFile) ? fromFile : `c${index + 1}`;
    candidates.push({ id, text });
  }

  if (values['entry-point'] !== undefined && values.tests === undefined) {
    throw new TribunalError('CONFIG_INVALID', '--entry-point names the function the tests call: give --tests too');
  }
  const tests = values.tests === undefined ? undefined : await textOrFile(values.tests, io.cwd, '--tests');

  const resolved = await loadPanel({ cwd: io.cwd, ...(values.panel ? { file: values.panel } : {}) });
  if (values['max-rounds'] !== undefined) {
    const rounds = Number(values['max-rounds']);
    if (!Number.isInteger(rounds) || rounds < 0 || rounds > 10) {
      throw new TribunalError('CONFIG_INVALID', `--max-rounds must be an integer from 0 to 10, got "${values['max-rounds']}"`);
    }
    resolved.panel.maxRounds = rounds;
  }
  if (values.protocol !== undefined) {
    if (!['simultaneous', 'one-by-one', 'jury'].includes(values.protocol)) {
      throw new TribunalError('CONFIG_INVALID', `--protocol must be simultaneous, one-by-one or jury, got "${values.protocol}"`);
    }
    resolved.panel.protocol = values.protocol as typeof resolved.panel.protocol;
  }

  const settings = loadSettings();
  const defaultModel = resolveDefaultModel({ explicit: values.model, panelModel: resolved.panel.model, settings });
  const pricing = await pricingFrom({ values, panel: resolved, cwd: io.cwd });
  const endpoints = await endpointsFrom({ values, settings, cwd: io.cwd });
  const warning = unpricedWarning(
    unpricedModels({ panel: resolved, defaultModel: defaultModel.id, modelOverride: values.model, pricing, settings, endpoints }),
  );
  if (warning && !values.json) io.stderr.write(`${styleFor(io.stderr).yellow(warning)}\n`);
  const models = createModelRegistry({ settings, pricing, endpoints });
  const style = styleFor(io.stdout);
  const renderer = new TranscriptRenderer((text) => io.stdout.write(text), style);
  let reported: string | undefined;
  const onEvent = (event: DebateEvent) => {
    if (event.type === 'debate-error') reported = event.code;
    if (values.json) io.stdout.write(`${JSON.stringify(event)}\n`);
    else renderer.render(event);
  };
  if (!values.json) io.stderr.write(styleFor(io.stderr).dim(`model: ${defaultModel.id} (from ${defaultModel.source})\n`));
  // Pyodide loads in seconds: started only for a panel with a critic that runs code.
  const lazy = panelUsesTools(resolved) ? lazySandboxPool() : undefined;
  const tools: DebateTools | undefined = lazy === undefined ? undefined : { sandbox: lazy };
  let result: DebateResult;
  try {
    result = await runDebate({
      panel: resolved,
      input: {
        prompt,
        candidates,
        ...(tests === undefined
          ? {}
          : { execution: { tests, ...(values['entry-point'] === undefined ? {} : { entryPoint: values['entry-point'] }) } }),
      },
      ...(tools === undefined ? {} : { tools }),
      models,
      defaultModel: defaultModel.id,
      ...(values.model ? { modelOverride: values.model } : {}),
      onEvent,
      signal,
    });
  } catch (error) {
    // The transcript (or the JSON stream) already carries the debate-error; exit with its code without repeating it.
    if (error instanceof TribunalError && reported === error.code) return exitCodeFor(error.code);
    throw error;
  } finally {
    await lazy?.close();
    await models.close();
  }
  if (result.verdict.candidates.some((candidate) => candidate.score !== null)) return EXIT.ok;
  // Not one critic turn succeeded: the debate has no verdict, whatever the ranking's order says.
  io.stderr.write(`${styleFor(io.stderr).red(noVerdictText(result))}\n`);
  return EXIT.model;
}

/** Why a debate has no verdict: its failed turns per error code, with one example message each. */
function noVerdictText(result: DebateResult): string {
  const byCode = new Map<string, { turns: number; example: string }>();
  for (const turn of result.turns) {
    if (turn.status !== 'failed') continue;
    const code = turn.error?.code ?? 'UNKNOWN';
    const entry = byCode.get(code);
    if (entry) entry.turns += 1;
    else byCode.set(code, { turns: 1, example: turn.error?.message ?? 'no reason recorded' });
  }
  const lines = [`No verdict: none of the ${result.turns.length} critic turns succeeded, so no candidate has a score.`];
  for (const [code, entry] of byCode) {
    lines.push(`  ${code}: ${entry.turns} turn${entry.turns === 1 ? '' : 's'} — e.g. ${terminalSafe(entry.example)}`);
  }
  lines.push(`${failureAdvice([...byCode.keys()])}, then run the debate again.`);
  return lines.join('\n');
}

async function textOrFile(value: string, cwd: string, flag: string): Promise<string> {
  if (!value.startsWith('@')) return value;
  const file = path.resolve(cwd, value.slice(1));
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new TribunalError('CONFIG_INVALID', `${flag} ${value}: cannot read ${file} (${(error as Error).message})`, {
      cause: error,
    });
  }
}
