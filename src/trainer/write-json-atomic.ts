import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TribunalError } from '../contracts/index.js';

/** Writes `value` as pretty JSON to a temporary file beside `file`, then renames it over `file`. */
export async function writeJsonAtomic(options: { file: string; value: unknown }): Promise<void> {
  const file = path.resolve(options.file);
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(temporary, `${JSON.stringify(options.value, null, 2)}\n`, { flag: 'wx' });
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new TribunalError('STORE_FAILED', `cannot write ${file}: ${(error as Error).message}`, {
      cause: error,
      location: { file },
    });
  }
}
