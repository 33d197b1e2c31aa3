import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TribunalError } from '../contracts/index.js';

/** One line of a text file, numbered from 1, without its line break. */
export interface NumberedLine {
  line: number;
  text: string;
}

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/** True when the file starts with the gzip magic bytes (1f 8b), whatever its name. */
export async function isGzipFile(file: string): Promise<boolean> {
  const handle = await openForReading(file);
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  } finally {
    await handle.close();
  }
}

/**
 * Streams a text file line by line (gunzipping it first when its magic bytes say gzip), so large files never sit
 * in memory whole; a UTF-8 byte order mark is dropped and `\r\n` counts as one break.
 * Throws `TribunalError` (`INPUT_INVALID`) when the file cannot be opened or decompressed.
 */
export async function* readLines(options: { file: string }): AsyncGenerator<NumberedLine> {
  const { file } = options;
  const gzip = await isGzipFile(file);
  const handle = await openForReading(file);
  const fileStream = handle.createReadStream();
  let input: Readable = fileStream;
  if (gzip) {
    const gunzip = createGunzip();
    fileStream.on('error', (error) => gunzip.destroy(error));
    input = fileStream.pipe(gunzip);
  }
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  try {
    for await (const text of lines) {
      line += 1;
      yield { line, text: line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text };
    }
  } catch (error) {
    const what = gzip ? 'decompress' : 'read';
    const hint = gzip ? 'the gzip file is truncated or corrupt; re-create or re-download it' : 'check the file';
    throw new TribunalError('INPUT_INVALID', `${file}: cannot ${what} after line ${line}: ${(error as Error).message}; ${hint}`, {
      cause: error,
      location: { file, line: line + 1 },
    });
  } finally {
    lines.close();
    input.destroy();
    fileStream.destroy();
  }
}

async function openForReading(file: string) {
  try {
    return await open(file, 'r');
  } catch (error) {
    throw new TribunalError('INPUT_INVALID', `cannot open input file ${file}: ${(error as Error).message}; check the path`, {
      cause: error,
      location: { file },
    });
  }
}
