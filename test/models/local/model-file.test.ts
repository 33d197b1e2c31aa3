import { mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TribunalError } from '../../../src/contracts/index.js';
import { createLocalAdapter, resolveModelFile } from '../../../src/models/local/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TINY_MODEL = path.resolve(repoRoot, '../shared/models/llama-2-tiny-random.gguf');
/** A loopback port nothing listens on: connections are refused at once, and no request leaves the machine. */
const OFFLINE_ENDPOINT = 'http://127.0.0.1:9/';

async function caught(promise: Promise<unknown>): Promise<TribunalError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(TribunalError);
  return error as TribunalError;
}

describe('resolveModelFile', () => {
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(tmpdir(), 'tribunal-models-'));
  });
  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('resolves an existing path to its real path', async () => {
    expect(await resolveModelFile(path.relative(process.cwd(), TINY_MODEL))).toBe(await realpath(TINY_MODEL));
  });

  it('names the missing path in a MODEL_NOT_FOUND error', async () => {
    const missing = path.join(cacheDir, 'no-such-model.gguf');
    const error = await caught(createLocalAdapter(missing));
    expect(error.code).toBe('MODEL_NOT_FOUND');
    expect(error.message).toContain(missing);
    expect((await caught(resolveModelFile(cacheDir))).message).toContain('not a file');
    expect((await caught(resolveModelFile(' '))).code).toBe('MODEL_NOT_FOUND');
  });

  it('fails fast offline with MODEL_UNREACHABLE and says how to use a local file instead', async () => {
    const error = await caught(
      resolveModelFile('hf:someone/tiny-GGUF/tiny.gguf', { cacheDir, huggingFaceEndpoint: OFFLINE_ENDPOINT }),
    );
    expect(error.code).toBe('MODEL_UNREACHABLE');
    expect(error.message).toContain('TRIBUNAL_LOCAL_MODEL');
    expect(error.message).toContain('llama-2-tiny-random.gguf');
    expect(error.message).toContain(cacheDir);
  });

  it('uses a model already in the cache directory without going online', async () => {
    await symlink(TINY_MODEL, path.join(cacheDir, 'hf_someone_tiny.gguf'));
    const resolved = await resolveModelFile('hf:someone/tiny-GGUF/tiny.gguf', {
      cacheDir,
      huggingFaceEndpoint: OFFLINE_ENDPOINT,
    });
    expect(resolved).toBe(await realpath(TINY_MODEL));
  });
});
