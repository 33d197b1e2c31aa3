import { stat } from 'node:fs/promises';
import { TribunalError } from '../contracts/index.js';

/**
 * Checks that an input path names a readable regular file before anything reads it (a directory, a device or a
 * missing path gets `INPUT_INVALID` naming the path and what to give instead).
 * @example await checkInputFile('items.jsonl');
 */
export async function checkInputFile(file: string): Promise<void> {
  let kind: 'file' | 'directory' | 'other';
  try {
    const info = await stat(file);
    kind = info.isFile() ? 'file' : info.isDirectory() ? 'directory' : 'other';
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${(error as Error).message})`;
    throw new TribunalError('INPUT_INVALID', `input ${file} ${reason}: give the path of a JSONL file (gzipped or not)`, {
      cause: error,
      location: { file },
    });
  }
  if (kind === 'directory') {
    throw new TribunalError(
      'INPUT_INVALID',
      `input ${file} is a directory: give the path of a JSONL file inside it (gzipped or not), not the directory`,
      { location: { file } },
    );
  }
  if (kind === 'other') {
    throw new TribunalError(
      'INPUT_INVALID',
      `input ${file} is not a regular file (a device, socket or pipe): the input is read more than once, so give a JSONL file`,
      { location: { file } },
    );
  }
}
