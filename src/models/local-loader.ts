import { TribunalError } from '../contracts/index.js';
import type { ProviderAdapter } from './types.js';

/** What `src/models/local/index.ts` exports. */
export interface LocalAdapterModule {
  createLocalAdapter(spec: string): Promise<ProviderAdapter>;
}

/** Where the local GGUF adapter lives; a variable so node-llama-cpp is loaded only when `local:` is used. */
const LOCAL_MODULE = './local/index.js';

/**
 * Loads the local GGUF adapter module on demand and creates an adapter for `local:SPEC`
 * (a file path or an `hf:<user>/<repo>:<quant>` URI). A missing module or native binding becomes a
 * PROVIDER_FAILED error that names the problem.
 */
export async function loadLocalAdapter(options: {
  spec: string;
  /** Replaceable in tests. */
  importModule?: () => Promise<unknown>;
}): Promise<ProviderAdapter> {
  const importModule = options.importModule ?? (() => import(LOCAL_MODULE));
  let loaded: unknown;
  try {
    loaded = await importModule();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new TribunalError(
      'PROVIDER_FAILED',
      `local:${options.spec} needs the local GGUF adapter (src/models/local, node-llama-cpp), which failed to load: ${detail}. ` +
        'Check that node-llama-cpp is installed and built for this platform, or choose another model with --model or TRIBUNAL_MODEL.',
      { cause: error },
    );
  }
  const create = (loaded as Partial<LocalAdapterModule> | undefined)?.createLocalAdapter;
  if (typeof create !== 'function') {
    throw new TribunalError(
      'INTERNAL',
      `local:${options.spec}: src/models/local/index.ts does not export createLocalAdapter(spec: string): Promise<ProviderAdapter>`,
    );
  }
  return create(options.spec);
}
