import { acquireLlama, type LocalGpu } from './llama-runtime.js';
import { LocalModelHost, type LocalModelSettings } from './local-model-host.js';

/** A shared loaded model; `release` once per lease, and the last release disposes it. */
export interface LocalModelLease {
  host: LocalModelHost;
  release(): Promise<void>;
}

interface Entry {
  refs: number;
  ready: Promise<LocalModelHost>;
}

const entries = new Map<string, Entry>();

/**
 * Borrows the loaded model for a GGUF file, loading it on first use: every adapter for the same resolved path
 * (and GPU setting) shares one model and one context; the first caller's settings decide the context's shape.
 */
export async function acquireLocalModel(options: { modelPath: string } & LocalModelSettings): Promise<LocalModelLease> {
  const gpu: LocalGpu = options.gpu ?? 'auto';
  const key = `${options.modelPath}\u0000${String(gpu)}`;
  let entry = entries.get(key);
  if (!entry) {
    const ready = (async () => {
      const lease = await acquireLlama(gpu);
      try {
        return await LocalModelHost.load({ ...options, gpu, lease });
      } catch (error) {
        await lease.release();
        throw error;
      }
    })();
    const created: Entry = { refs: 0, ready };
    ready.catch(() => {
      if (entries.get(key) === created) entries.delete(key);
    });
    entries.set(key, created);
    entry = created;
  }
  entry.refs++;
  const held = entry;
  let host: LocalModelHost;
  try {
    host = await held.ready;
  } catch (error) {
    held.refs--;
    throw error;
  }
  let released = false;
  return {
    host,
    async release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs > 0) return;
      if (entries.get(key) === held) entries.delete(key);
      await host.dispose();
    },
  };
}

/** Number of models currently loaded in this process (for tests and diagnostics). */
export function loadedModelCount(): number {
  return entries.size;
}
