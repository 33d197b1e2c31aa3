import path from 'node:path';
import { parseArgs } from 'node:util';
import { libraryDirs, loadConstitution, loadModelsFile, loadPanel, loadPersona } from '../../config/index.js';
import { type ModelEntry, TribunalError } from '../../contracts/index.js';
import { loadSettings } from '../../models/index.js';
import { modelsFileOf } from '../endpoint-options.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { constitutionsIn, personasIn } from '../library-report.js';
import { styleFor, terminalSafe } from '../terminal.js';

export const CHECK_HELP = `Usage: tribunal check [--panel FILE] [--models FILE]

Validates the panel (default: panels/default.yaml), every persona in personas/ and every constitution in
constitutions/ (in the working directory and the built-ins), and the models file (--models, else TRIBUNAL_MODELS)
when there is one, listing each model's endpoints. Prints each problem with its file, line and field; exits 0 when
everything is valid, 1 otherwise.`;

/** `tribunal check`: validates panels, personas, constitutions and the models file, listing its endpoints. */
export async function checkCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { panel: { type: 'string' }, models: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${CHECK_HELP}\n`);
    return EXIT.ok;
  }
  const style = styleFor(io.stdout);
  const dirs = libraryDirs({ cwd: io.cwd, ...(values.panel ? { panelFile: path.resolve(io.cwd, values.panel) } : {}) });
  let failures = 0;
  const attempt = async (label: string, task: () => Promise<string>) => {
    try {
      const detail = await task();
      io.stdout.write(`${style.green('ok')}   ${label}${detail ? style.dim(` — ${detail}`) : ''}\n`);
    } catch (error) {
      if (!(error instanceof TribunalError)) throw error;
      failures++;
      io.stdout.write(`${style.red('FAIL')} ${label}\n${error.message.replace(/^/gm, '     ')}\n`);
    }
  };
  for (const file of await personasIn(dirs)) {
    await attempt(path.relative(io.cwd, file) || file, async () => {
      const persona = await loadPersona(file);
      return `persona ${persona.id}`;
    });
  }
  for (const file of await constitutionsIn(dirs)) {
    await attempt(path.relative(io.cwd, file) || file, async () => {
      const constitution = await loadConstitution(file);
      return `constitution ${constitution.id} v${constitution.version}, ${constitution.principles.length} principles`;
    });
  }
  await attempt(values.panel ?? 'panels/default.yaml (built-in)', async () => {
    const resolved = await loadPanel({ cwd: io.cwd, ...(values.panel ? { file: values.panel } : {}) });
    return `panel ${resolved.panel.id}: ${resolved.critics.map((critic) => critic.id).join(', ')} under ${resolved.constitution.id}, ${resolved.panel.protocol}, hash ${resolved.hash}`;
  });
  // The environment is read only when no --models is given, so a bad unrelated variable does not stop the check.
  const modelsFile = modelsFileOf({
    values,
    settings: values.models === undefined ? loadSettings() : {},
    cwd: io.cwd,
  });
  if (modelsFile !== undefined) {
    await attempt(path.relative(io.cwd, modelsFile) || modelsFile, async () => {
      const { models } = await loadModelsFile(modelsFile);
      const keys = Object.keys(models);
      const lines = keys.map((key) => `\n     ${describeEntry(key, models[key] as ModelEntry)}`);
      return `models file: ${keys.length} ${keys.length === 1 ? 'entry' : 'entries'}${lines.join('')}`;
    });
  }
  io.stdout.write(failures === 0 ? style.green('\nAll files are valid.\n') : style.red(`\n${failures} file(s) invalid.\n`));
  return failures === 0 ? EXIT.ok : EXIT.invalid;
}

/** One models file entry as `tribunal check` lists it: its endpoints with their concurrency and weight. */
function describeEntry(key: string, entry: ModelEntry): string {
  const endpoints = entry.endpoints.map((endpoint) => {
    const limits = [
      endpoint.concurrency === undefined ? undefined : `concurrency ${endpoint.concurrency}`,
      endpoint.weight === undefined ? undefined : `weight ${endpoint.weight}`,
    ].filter((part) => part !== undefined);
    return `${shownURL(endpoint.baseURL)}${limits.length > 0 ? ` (${limits.join(', ')})` : ''}`;
  });
  const total = entry.concurrency === undefined ? '' : `, at most ${entry.concurrency} calls at once`;
  return `${key}: ${entry.endpoints.length} endpoint${entry.endpoints.length === 1 ? '' : 's'}${total}: ${endpoints.join(', ')}`;
}

/** A base URL without any user:password in it. */
function shownURL(baseURL: string): string {
  const url = new URL(baseURL);
  url.username = '';
  url.password = '';
  return terminalSafe(url.href.replace(/\/+$/, ''));
}
