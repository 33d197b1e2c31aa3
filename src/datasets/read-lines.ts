import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TribunalError } from '../contracts/index.js';

/** One line of a text file, numbered from 1, without its line break. */
export interface NumberedLine {
  line: number;
  /**
   * The line decoded as UTF-8. For an invalid line, invalid bytes are replaced by U+FFFD; for an over-long line,
   * only its first `maxLineBytes` bytes are kept.
   */
  text: string;
  /** Byte offset (within the line) of the first byte that is not valid UTF-8, when there is one. */
  invalidUtf8At?: number;
  /** The line's full length in bytes, when it is over `maxLineBytes` (its text is then cut). */
  overLongBytes?: number;
}

/** Longest line `readLines` keeps by default, in bytes; longer lines are cut and flagged, never held whole. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

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
 * in memory whole: a line over `maxLineBytes` is cut there (the rest is skipped, not buffered) and reported with
 * its length. Each line is decoded as strict UTF-8; a line with invalid bytes is reported with the offset of the
 * first one (and its text decoded with U+FFFD), never silently repaired. A UTF-8 byte order mark is dropped and
 * `\r\n` counts as one break. Throws `TribunalError` (`INPUT_INVALID`) when the file cannot be opened, is a
 * directory, or cannot be decompressed.
 */
export async function* readLines(options: { file: string; maxLineBytes?: number }): AsyncGenerator<NumberedLine> {
  const { file } = options;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const gzip = await isGzipFile(file);
  const handle = await openForReading(file);
  const fileStream = handle.createReadStream();
  let input: Readable = fileStream;
  if (gzip) {
    const gunzip = createGunzip();
    fileStream.on('error', (error) => gunzip.destroy(error));
    input = fileStream.pipe(gunzip);
  }
  let line = 0;
  /** Pieces of the current line seen so far (at most `maxLineBytes` bytes of them). */
  let pieces: Buffer[] = [];
  let kept = 0;
  let total = 0;
  const finish = (): NumberedLine => {
    line += 1;
    let bytes = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces, kept);
    if (total === kept && bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN) bytes = bytes.subarray(0, -1);
    if (line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    const result = decodeLine(line, bytes, total > kept);
    if (total > kept) result.overLongBytes = total;
    pieces = [];
    kept = 0;
    total = 0;
    return result;
  };
  const take = (chunk: Buffer) => {
    total += chunk.length;
    const room = maxLineBytes - kept;
    if (room <= 0) return;
    const piece = chunk.length <= room ? chunk : chunk.subarray(0, room);
    pieces.push(piece);
    kept += piece.length;
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let start = 0;
      for (let at = chunk.indexOf(NEWLINE, start); at >= 0; at = chunk.indexOf(NEWLINE, start)) {
        take(chunk.subarray(start, at));
        yield finish();
        start = at + 1;
      }
      if (start < chunk.length) take(chunk.subarray(start));
    }
    if (total > 0) yield finish();
  } catch (error) {
    if (error instanceof TribunalError) throw error;
    const what = gzip ? 'decompress' : 'read';
    const hint = gzip ? 'the gzip file is truncated or corrupt; re-create or re-download it' : 'check the file';
    throw new TribunalError('INPUT_INVALID', `${file}: cannot ${what} after line ${line}: ${(error as Error).message}; ${hint}`, {
      cause: error,
      location: { file, line: line + 1 },
    });
  } finally {
    input.destroy();
    fileStream.destroy();
  }
}

function decodeLine(line: number, bytes: Buffer, cut: boolean): NumberedLine {
  try {
    return { line, text: strictUtf8.decode(bytes) };
  } catch {
    const invalidAt = firstInvalidUtf8(bytes);
    // A cut can split the last character; that is not the file's fault.
    if (cut && invalidAt >= bytes.length - 3) return { line, text: lenientUtf8.decode(bytes.subarray(0, invalidAt)) };
    return { line, text: lenientUtf8.decode(bytes), invalidUtf8At: invalidAt };
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence (RFC 3629). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let at = 0;
  while (at < bytes.length) {
    const lead = bytes[at] as number;
    let length: number;
    let min = 0x80;
    let max = 0xbf;
    if (lead < 0x80) length = 1;
    else if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0) min = 0xa0;
      if (lead === 0xed) max = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0) min = 0x90;
      if (lead === 0xf4) max = 0x8f;
    } else return at;
    for (let next = 1; next < length; next += 1) {
      const byte = bytes[at + next];
      const low = next === 1 ? min : 0x80;
      const high = next === 1 ? max : 0xbf;
      if (byte === undefined || byte < low || byte > high) return at;
    }
    at += length;
  }
  return bytes.length;
}

async function openForReading(file: string) {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new TribunalError('INPUT_INVALID', `cannot open input file ${file}: ${(error as Error).message}; check the path`, {
      cause: error,
      location: { file },
    });
  }
  if ((await handle.stat()).isDirectory()) {
    await handle.close();
    throw new TribunalError('INPUT_INVALID', `input ${file} is a directory: give a JSONL file (plain or gzipped)`, {
      location: { file },
    });
  }
  return handle;
}
