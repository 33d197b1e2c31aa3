import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { QUOTED_PATH_CHARS, quoteUntrusted } from './frame-guard.js';

/** Where a path reference led: the real path inside the root, or why not (`outside` says nothing about existence). */
export type ConfinedPath =
  | { success: true; value: string }
  | { success: false; reason: 'outside' }
  | { success: false; reason: 'missing'; resolved: string };

/** `tribunal serve --runs-dir` when omitted: the working directory's `runs/` (where `tribunal train` writes by default). */
export const DEFAULT_RUNS_DIR = 'runs';

/**
 * The one directory whose runs a server's clients may name by path (`run`, `dir`, `runDir`): every path is resolved
 * against the working directory, then through every link (`realpath`), and accepted only when the real path is the
 * root or below it. A path outside the root is refused the same way whether it exists or not; inside the root, a
 * missing path may be named as missing. A root that does not exist confines everything out.
 * @example
 * const root = new RunsRoot({ root: 'runs', cwd: process.cwd() });
 * const confined = await root.confine('runs/dpo'); // { success: true, value: '/home/me/proj/runs/dpo' }
 */
export class RunsRoot {
  /** The root as configured, absolute. */
  readonly dir: string;

  constructor(private readonly options: { root: string; cwd: string }) {
    this.dir = path.resolve(options.cwd, options.root);
  }

  /** Resolves a client's path reference (relative to the working directory) to a real path inside the root. */
  async confine(reference: string): Promise<ConfinedPath> {
    const realRoot = await realpath(this.dir).catch(() => undefined);
    if (realRoot === undefined || reference.includes('\0')) return { success: false, reason: 'outside' };
    const resolved = path.resolve(this.options.cwd, reference);
    // The deepest ancestor that exists decides: its real path must lie inside the root.
    let probe = resolved;
    let missing = false;
    for (;;) {
      const real = await realpath(probe).catch(() => undefined);
      if (real !== undefined) {
        if (!isInside(realRoot, real)) return { success: false, reason: 'outside' };
        return missing ? { success: false, reason: 'missing', resolved } : { success: true, value: real };
      }
      const parent = path.dirname(probe);
      if (parent === probe) return { success: false, reason: 'outside' };
      probe = parent;
      missing = true;
    }
  }

  /** How a client names `real` (a real path inside the root): relative to the working directory when below it. */
  reference(real: string): string {
    const relative = path.relative(this.options.cwd, real);
    const named = relative === '' || isInside(this.options.cwd, real) ? relative || '.' : real;
    return named.split(path.sep).join('/');
  }
}

/** True when `child` is `parent` or below it (both absolute and normalized). */
export function isInside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || !(relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative));
}

/**
 * The one answer for a run reference that names nothing this server may open: the same whether a path outside the
 * runs directory exists or not.
 */
export function noRunMessage(reference: string): string {
  return `no run ${quoteUntrusted(reference, QUOTED_PATH_CHARS)}: give a run id (see GET /v1/runs) or the directory of a labeling run inside the server's runs directory (--runs-dir)`;
}
