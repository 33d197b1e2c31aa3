import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { BUILTIN_ROOT } from '../config/index.js';

/**
 * The panels a client may name in `debate.start`: `<name>.yaml` files beside the server's default panel, in
 * `./panels` and among the built-ins (first match wins). Clients name panels, never paths.
 */
export class PanelDirectory {
  readonly dirs: string[];

  constructor(private readonly options: { defaultPanelFile: string; cwd: string }) {
    const dirs = [path.dirname(options.defaultPanelFile), path.join(options.cwd, 'panels'), path.join(BUILTIN_ROOT, 'panels')];
    this.dirs = [...new Set(dirs.map((dir) => path.resolve(dir)))];
  }

  /** The default panel's name (its file name without extension). */
  get defaultName(): string {
    return path.basename(this.options.defaultPanelFile).replace(/\.ya?ml$/i, '');
  }

  /** The file of a panel name, or undefined. */
  fileOf(name: string): string | undefined {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || name.startsWith('.')) return undefined;
    if (name === this.defaultName) return this.options.defaultPanelFile;
    for (const dir of this.dirs) {
      for (const extension of ['.yaml', '.yml']) {
        const file = path.join(dir, `${name}${extension}`);
        if (existsSync(file)) return file;
      }
    }
    return undefined;
  }

  /** Every panel name, sorted, the default first. */
  async names(): Promise<string[]> {
    const names = new Set<string>();
    for (const dir of this.dirs) {
      let entries: string[];
      try {
        entries = await readdir(dir);
      } catch {
        continue;
      }
      for (const entry of entries) if (/\.ya?ml$/i.test(entry)) names.add(entry.replace(/\.ya?ml$/i, ''));
    }
    names.delete(this.defaultName);
    return [this.defaultName, ...[...names].sort()];
  }
}
