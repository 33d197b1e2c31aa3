import { realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { TribunalError } from '../../contracts/index.js';
import { importNodeLlamaCpp } from './llama-runtime.js';

/** Progress of a model download in bytes. */
export interface DownloadProgress {
  totalBytes: number;
  downloadedBytes: number;
}

/** Options for turning a `local:` model spec into a file on disk. */
export interface ModelFileOptions {
  /** Where `hf:` models are downloaded and looked up; defaults to `~/.cache/tribunal/models`. */
  cacheDir?: string;
  /** Hugging Face endpoint (a mirror); defaults to node-llama-cpp's, which is `https://huggingface.co/`. */
  huggingFaceEndpoint?: string;
  /** Called while downloading; without it node-llama-cpp draws its own progress bar on the terminal. */
  onDownloadProgress?: (progress: DownloadProgress) => void;
  /** Cancels a download. */
  signal?: AbortSignal;
  /** How long the reachability check before a download may take, in ms (default 10 000). */
  probeTimeoutMs?: number;
}

/** The default download directory for `hf:` models. */
export function defaultModelCacheDir(): string {
  return path.join(homedir(), '.cache', 'tribunal', 'models');
}

const OFFLINE_HINT =
  'Set TRIBUNAL_LOCAL_MODEL to a local .gguf file (e.g. ../shared/models/llama-2-tiny-random.gguf) ' +
  'or use a model id like local:/path/to/model.gguf';

/** Whether a spec names a remote model (`hf:` URI or http(s) URL) rather than a path. */
export function isRemoteModelSpec(spec: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/i.test(spec.trim());
}

/**
 * Resolves the part of a model id after `local:` to the real path of a GGUF file: a filesystem path is checked
 * (`MODEL_NOT_FOUND` when missing); an `hf:` URI or URL is looked up in the cache directory and downloaded on first
 * use (`MODEL_UNREACHABLE` when offline).
 */
export async function resolveModelFile(spec: string, options: ModelFileOptions = {}): Promise<string> {
  const trimmed = spec.trim();
  if (trimmed === '') {
    throw new TribunalError(
      'MODEL_NOT_FOUND',
      'the model id "local:" names no model; use local:/path/to/model.gguf or local:hf:<user>/<repo>:<quant>',
    );
  }
  return isRemoteModelSpec(trimmed) ? resolveRemote(trimmed, options) : resolveLocalPath(trimmed);
}

async function resolveLocalPath(spec: string): Promise<string> {
  const expanded = spec === '~' || spec.startsWith('~/') ? path.join(homedir(), spec.slice(1)) : spec;
  const absolute = path.resolve(expanded);
  const info = await stat(absolute).catch(() => undefined);
  if (!info) {
    throw new TribunalError(
      'MODEL_NOT_FOUND',
      `local model file not found: ${absolute} (from "local:${spec}"). ` +
        'Point the model id at an existing .gguf file, or use an hf: URI to download one',
      { location: { file: absolute } },
    );
  }
  if (!info.isFile()) {
    throw new TribunalError('MODEL_NOT_FOUND', `local model path is not a file: ${absolute}; point it at a .gguf file`, {
      location: { file: absolute },
    });
  }
  return realpath(absolute);
}

async function resolveRemote(uri: string, options: ModelFileOptions): Promise<string> {
  const { resolveModelFile: resolveWithLlama } = await importNodeLlamaCpp();
  const directory = options.cacheDir ?? defaultModelCacheDir();
  const endpoints = options.huggingFaceEndpoint === undefined ? undefined : { huggingFace: options.huggingFaceEndpoint };
  const common = { directory, ...(endpoints === undefined ? {} : { endpoints }) };

  // A model already in the cache resolves without touching the network.
  const cached = await resolveWithLlama(uri, { ...common, download: false, cli: false }).catch(() => undefined);
  if (cached) return realpath(cached);

  // node-llama-cpp retries refused connections for a long time; fail fast and clearly when offline.
  const probeUrl = /^https?:\/\//i.test(uri) ? new URL(uri).origin : (options.huggingFaceEndpoint ?? 'https://huggingface.co/');
  await probe(uri, probeUrl, options);

  try {
    const { onDownloadProgress } = options;
    const file = await resolveWithLlama(uri, {
      ...common,
      cli: onDownloadProgress === undefined,
      ...(onDownloadProgress === undefined
        ? {}
        : {
            onProgress: ({ totalSize, downloadedSize }: { totalSize: number; downloadedSize: number }) =>
              onDownloadProgress({ totalBytes: totalSize, downloadedBytes: downloadedSize }),
          }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    return realpath(file);
  } catch (error) {
    if (options.signal?.aborted) {
      throw new TribunalError('ABORTED', `download of ${uri} was cancelled`, { cause: error });
    }
    throw downloadError(uri, directory, error);
  }
}

async function probe(uri: string, url: string, options: ModelFileOptions): Promise<void> {
  const timeout = AbortSignal.timeout(options.probeTimeoutMs ?? 10_000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    await fetch(url, { method: 'HEAD', signal, redirect: 'manual' });
  } catch (error) {
    if (options.signal?.aborted) throw new TribunalError('ABORTED', `download of ${uri} was cancelled`, { cause: error });
    throw new TribunalError(
      'MODEL_UNREACHABLE',
      `cannot download ${uri}: ${url} is unreachable (${describe(error)}) and the model is not in ${
        options.cacheDir ?? defaultModelCacheDir()
      }. ${OFFLINE_HINT}`,
      { cause: error },
    );
  }
}

function downloadError(uri: string, directory: string, error: unknown): TribunalError {
  const detail = describe(error);
  if (/\b(401|403)\b|unauthori[sz]ed|forbidden|gated/i.test(detail)) {
    return new TribunalError(
      'MODEL_CREDENTIALS_MISSING',
      `cannot download ${uri}: access denied (${detail}). The repository may be gated; set HF_TOKEN or pick another model`,
      { cause: error },
    );
  }
  if (/\b404\b|not found|no .*files? .*found|could not find/i.test(detail)) {
    return new TribunalError(
      'MODEL_NOT_FOUND',
      `cannot download ${uri}: no such model file (${detail}). Check the URI, e.g. hf:<user>/<repo>:<quant>`,
      { cause: error },
    );
  }
  if (/fetch failed|ECONN|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|socket|network|timeout/i.test(detail)) {
    return new TribunalError('MODEL_UNREACHABLE', `cannot download ${uri} to ${directory}: ${detail}. ${OFFLINE_HINT}`, {
      cause: error,
    });
  }
  return new TribunalError('PROVIDER_FAILED', `cannot download ${uri} to ${directory}: ${detail}`, { cause: error });
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
