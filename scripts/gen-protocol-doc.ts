/**
 * Writes docs/protocol.md from the zod schemas of the WebSocket protocol (src/contracts/protocol.ts).
 *
 *   npx tsx scripts/gen-protocol-doc.ts
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderProtocolDoc } from '../src/server/protocol-doc.js';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs/protocol.md');
writeFileSync(file, renderProtocolDoc());
process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
