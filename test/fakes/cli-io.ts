import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/cli/io.js';

/** A CliIo that captures stdout and stderr as strings. */
export function captureIo(cwd: string): CliIo & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { stdout, stderr, cwd, out: () => out, err: () => err };
}
