import type { Llama } from 'node-llama-cpp';
import { TribunalError } from '../../contracts/index.js';

/** The node-llama-cpp module, loaded on first use so that importing `src/models` loads no native code. */
export type NodeLlamaCpp = typeof import('node-llama-cpp');

/** Where llama.cpp computes: `false` is CPU only, `'auto'` picks the best GPU the prebuilt binaries support. */
export type LocalGpu = false | 'auto' | 'cuda' | 'vulkan' | 'metal';

let modulePromise: Promise<NodeLlamaCpp> | undefined;

/** Imports node-llama-cpp once per process. */
export function importNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  modulePromise ??= import('node-llama-cpp').catch((error: unknown) => {
    modulePromise = undefined;
    throw new TribunalError('PROVIDER_FAILED', `could not load node-llama-cpp for local models: ${String(error)}`, {
      cause: error,
    });
  });
  return modulePromise;
}

/** A borrowed llama.cpp binding; call `release` when done so the last user disposes it. */
export interface LlamaLease {
  llama: Llama;
  module: NodeLlamaCpp;
  release(): Promise<void>;
}

const llamas = new Map<string, { refs: number; ready: Promise<Llama> }>();

/**
 * Borrows the process-wide llama.cpp binding for a GPU setting, creating it on first use from the prebuilt
 * binaries only (never compiling or downloading llama.cpp).
 */
export async function acquireLlama(gpu: LocalGpu): Promise<LlamaLease> {
  const module = await importNodeLlamaCpp();
  const key = String(gpu);
  let entry = llamas.get(key);
  if (!entry) {
    const ready = module
      .getLlama({
        gpu,
        build: 'never',
        skipDownload: true,
        progressLogs: false,
        logLevel: module.LlamaLogLevel.error,
      })
      .catch((error: unknown) => {
        llamas.delete(key);
        throw new TribunalError(
          'PROVIDER_FAILED',
          `could not start llama.cpp (gpu: ${key}) from node-llama-cpp's prebuilt binaries: ${String(error)}. ` +
            'Try gpu: false, or check that the @node-llama-cpp/<platform> package for this machine is installed',
          { cause: error },
        );
      });
    entry = { refs: 0, ready };
    llamas.set(key, entry);
  }
  entry.refs++;
  const held = entry;
  let llama: Llama;
  try {
    llama = await held.ready;
  } catch (error) {
    held.refs--;
    throw error;
  }
  let released = false;
  return {
    llama,
    module,
    async release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs > 0 || llamas.get(key) !== held) return;
      llamas.delete(key);
      await llama.dispose();
    },
  };
}
