import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { TribunalError } from '../contracts/index.js';

/** The sha256 hex digest of a file's bytes, streamed (the run config identifies its input by content, not by path). */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (error) {
    throw new TribunalError('INPUT_INVALID', `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
      location: { file },
    });
  }
  return hash.digest('hex');
}
