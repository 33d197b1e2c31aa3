import path from 'node:path';
import { parseArgs } from 'node:util';
import { libraryDirs, loadPersona } from '../../config/index.js';
import { TribunalError } from '../../contracts/index.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { personasIn } from '../library-report.js';
import { styleFor, table } from '../terminal.js';

export const PERSONAS_HELP = `Usage: tribunal personas [--json]

Lists the personas visible from the working directory (personas/ here, then the built-ins) with their focus.`;

/** `tribunal personas`: lists personas and their focus. */
export async function personasCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${PERSONAS_HELP}\n`);
    return EXIT.ok;
  }
  const style = styleFor(io.stdout);
  const rows: string[][] = [['id', 'name', 'weight', 'focus', 'file']];
  const listed: Array<Record<string, unknown>> = [];
  let invalid = 0;
  for (const file of await personasIn(libraryDirs({ cwd: io.cwd }))) {
    try {
      const persona = await loadPersona(file);
      const relative = path.relative(io.cwd, file);
      rows.push([persona.id, persona.name, String(persona.weight), persona.focus, relative]);
      listed.push({
        id: persona.id,
        name: persona.name,
        weight: persona.weight,
        focus: persona.focus,
        principles: persona.principles,
        file,
      });
    } catch (error) {
      if (!(error instanceof TribunalError)) throw error;
      invalid++;
      io.stderr.write(`${error.message}\n`);
    }
  }
  io.stdout.write(values.json ? `${JSON.stringify(listed, null, 2)}\n` : `${table(rows, style)}\n`);
  return invalid === 0 ? EXIT.ok : EXIT.invalid;
}
