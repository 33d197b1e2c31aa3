import path from 'node:path';
import { parseArgs } from 'node:util';
import { libraryDirs, loadConstitution, loadPanel, loadPersona } from '../../config/index.js';
import { TribunalError } from '../../contracts/index.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { constitutionsIn, personasIn } from '../library-report.js';
import { styleFor } from '../terminal.js';

export const CHECK_HELP = `Usage: tribunal check [--panel FILE]

Validates the panel (default: panels/default.yaml), every persona in personas/ and every constitution in
constitutions/ (in the working directory and the built-ins). Prints each problem with its file, line and
field; exits 0 when everything is valid, 1 otherwise.`;

/** `tribunal check`: validates panels, personas and constitutions. */
export async function checkCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { panel: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
  io.stdout.write(failures === 0 ? style.green('\nAll files are valid.\n') : style.red(`\n${failures} file(s) invalid.\n`));
  return failures === 0 ? EXIT.ok : EXIT.invalid;
}
