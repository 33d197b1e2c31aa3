import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { jsonSchemas } from '../../config/index.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const SCHEMAS_HELP = `Usage: tribunal schemas [--out DIR]

Writes JSON Schemas for panels, persona and constitution front matter, models files and DebateEvent, generated
from the zod contracts (default DIR: docs/schemas). Point your editor's YAML language server at panel.schema.json.`;

/** `tribunal schemas`: writes the JSON Schemas generated from the zod contracts. */
export async function schemasCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${SCHEMAS_HELP}\n`);
    return EXIT.ok;
  }
  const out = path.resolve(io.cwd, values.out ?? 'docs/schemas');
  await mkdir(out, { recursive: true });
  for (const [name, schema] of Object.entries(jsonSchemas())) {
    await writeFile(path.join(out, name), `${JSON.stringify(schema, null, 2)}\n`);
    io.stdout.write(`wrote ${path.relative(io.cwd, path.join(out, name))}\n`);
  }
  return EXIT.ok;
}
