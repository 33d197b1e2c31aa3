import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { TribunalError } from '../contracts/index.js';

/** Writes are gathered into chunks of about this many bytes before they reach the disk. */
const CHUNK_BYTES = 64 * 1024;

/**
 * A file being written atomically: everything goes to a temporary file beside the target, and only `commit`
 * (fsync, then rename over the target) makes it visible; `abort` deletes the temporary file. Readers see the old
 * file or the whole new one, never half of it.
 */
export interface AtomicWriter {
  readonly file: string;
  readonly temporaryFile: string;
  /** Bytes written so far. */
  readonly bytes: number;
  write(text: string | Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Opens an atomic writer for `file`; its temporary file is `.<name>.<pid>.<random>.tmp` in the same directory. */
export async function openAtomicWriter(options: { file: string }): Promise<AtomicWriter> {
  const file = path.resolve(options.file);
  const directory = path.dirname(file);
  const temporaryFile = path.join(directory, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let handle: FileHandle;
  try {
    handle = await open(temporaryFile, 'wx');
  } catch (error) {
    throw fileWriteFailure({ file, cause: error });
  }
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let bytes = 0;
  let state: 'open' | 'committed' | 'aborted' = 'open';

  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await handle.write(chunk);
  };

  return {
    file,
    temporaryFile,
    get bytes() {
      return bytes;
    },
    async write(text) {
      if (state !== 'open') throw new TribunalError('INTERNAL', `write to ${file} after it was ${state}`);
      const buffer =
        typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
      pending.push(buffer);
      pendingBytes += buffer.length;
      bytes += buffer.length;
      if (pendingBytes < CHUNK_BYTES) return;
      try {
        await flush();
      } catch (error) {
        throw fileWriteFailure({ file, cause: error });
      }
    },
    async commit() {
      if (state !== 'open') throw new TribunalError('INTERNAL', `commit of ${file} after it was ${state}`);
      try {
        await flush();
        await handle.sync();
        await handle.close();
        await rename(temporaryFile, file);
        state = 'committed';
      } catch (error) {
        state = 'aborted';
        await handle.close().catch(() => undefined);
        await unlink(temporaryFile).catch(() => undefined);
        throw fileWriteFailure({ file, cause: error });
      }
      await syncDirectory(directory);
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      await handle.close().catch(() => undefined);
      await unlink(temporaryFile).catch(() => undefined);
    },
  };
}

/**
 * Writes a whole file atomically from a string, bytes or a (possibly async) stream of chunks; if the stream throws,
 * the target is left as it was and the temporary file is removed.
 * @example await writeFileAtomic({ file: 'out/README.md', content: card });
 */
export async function writeFileAtomic(options: {
  file: string;
  content: string | Uint8Array | Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;
}): Promise<{ bytes: number }> {
  const writer = await openAtomicWriter({ file: options.file });
  try {
    const { content } = options;
    if (typeof content === 'string' || content instanceof Uint8Array) await writer.write(content);
    else for await (const chunk of content) await writer.write(chunk);
    await writer.commit();
    return { bytes: writer.bytes };
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/**
 * Streams rows to a JSONL file atomically, one `JSON.stringify` per line, never holding the whole file in memory;
 * with a `schema`, each row is checked first and a bad row aborts the write naming its index and field.
 * @example await writeJsonlAtomic({ file: 'out/labels.jsonl', rows: labelRows(), schema: LabelRowSchema });
 */
export async function writeJsonlAtomic<T>(options: {
  file: string;
  rows: Iterable<T> | AsyncIterable<T>;
  schema?: z.ZodType<T>;
}): Promise<{ rows: number; bytes: number }> {
  const writer = await openAtomicWriter({ file: options.file });
  let rows = 0;
  try {
    for await (const row of options.rows) {
      await writer.write(`${jsonLine({ file: writer.file, row, index: rows, schema: options.schema })}\n`);
      rows += 1;
    }
    await writer.commit();
    return { rows, bytes: writer.bytes };
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/** Serialises one row for a JSONL file, validating it first when a schema is given. */
export function jsonLine<T>(options: { file: string; row: T; index: number; schema?: z.ZodType<T> | undefined }): string {
  const { schema, row, file, index } = options;
  if (schema !== undefined) {
    const parsed = schema.safeParse(row);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.map(String).join('.') ?? '';
      throw new TribunalError(
        'OUTPUT_INVALID',
        `${file}: row ${index + 1} is invalid at "${field}": ${issue?.message ?? 'unknown problem'}; nothing was written`,
        { location: { file, line: index + 1, field } },
      );
    }
  }
  return JSON.stringify(row);
}

/** What to do about a failed file-system call, by Node error code. */
const WRITE_ADVICE: Readonly<Record<string, string>> = {
  ENOSPC: 'the disk is full: free space and rerun',
  EDQUOT: 'the disk quota is used up: free space and rerun',
  EFBIG: 'the file is larger than this file system or process allows: write to another disk and rerun',
  EACCES: 'permission denied: check that the directory is writable',
  EPERM: 'the operating system refused the write: check the permissions of the directory',
  EROFS: 'the file system is read-only: write to another directory',
  ENOENT: 'the directory does not exist: create it or choose another directory',
  ENOTDIR: 'a file is in the way of the directory: choose another directory',
  EIO: 'a disk I/O error occurred: check the disk, then rerun',
};

/**
 * Wraps a failed write of `file` in `TribunalError('STORE_FAILED')` that says what to do (a full disk: free space and
 * rerun) and that the previous file, if any, is untouched; a `TribunalError` passes through unchanged.
 * @example throw fileWriteFailure({ file: 'out/labels.jsonl', cause: error });
 */
export function fileWriteFailure(options: { file: string; cause: unknown }): TribunalError {
  const { file, cause } = options;
  if (cause instanceof TribunalError) return cause;
  const code = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  const advice = (code && WRITE_ADVICE[code]) ?? 'check the directory exists and is writable, then rerun';
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new TribunalError(
    'STORE_FAILED',
    `cannot write ${file}: ${advice} (nothing was written; the previous file, if any, is unchanged) [${detail}]`,
    { cause, location: { file } },
  );
}

async function syncDirectory(directory: string): Promise<void> {
  // Makes the rename itself durable; not every platform can open a directory (Windows), which is fine to skip.
  const handle = await open(directory, 'r').catch(() => undefined);
  if (handle === undefined) return;
  await handle.sync().catch(() => undefined);
  await handle.close().catch(() => undefined);
}
