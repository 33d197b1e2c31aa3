import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root that ships the built-in personas, constitutions and panels. */
export const BUILTIN_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where persona and constitution ids are looked up, first match wins. */
export interface LibraryDirs {
  personas: string[];
  constitutions: string[];
}

/** Search order: beside the panel file (`../personas`, `./personas`), the working directory, then the built-ins. */
export function libraryDirs(options: { panelFile?: string; cwd?: string } = {}): LibraryDirs {
  const roots: string[] = [];
  if (options.panelFile) {
    const panelDir = path.dirname(path.resolve(options.panelFile));
    roots.push(path.dirname(panelDir), panelDir);
  }
  roots.push(options.cwd ?? process.cwd(), BUILTIN_ROOT);
  const unique = (dirs: string[]) => [...new Set(dirs.map((dir) => path.resolve(dir)))];
  return {
    personas: unique(roots.map((root) => path.join(root, 'personas'))),
    constitutions: unique(roots.map((root) => path.join(root, 'constitutions'))),
  };
}

/** True when a reference is a path (has a slash or a .md extension) rather than an id. */
export function isPathReference(reference: string): boolean {
  return reference.includes('/') || reference.includes(path.sep) || reference.endsWith('.md');
}

/** Finds `<id>.md` in the given dirs; returns the path or undefined. */
export function findById(id: string, dirs: string[]): string | undefined {
  for (const dir of dirs) {
    const file = path.join(dir, `${id}.md`);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** Lists the `.md` files in the given dirs, earlier dirs shadowing later ones by file name. */
export async function listMarkdown(dirs: string[]): Promise<string[]> {
  const seen = new Map<string, string>();
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      continue;
    }
    for (const entry of entries.sort()) if (entry.endsWith('.md') && !seen.has(entry)) seen.set(entry, path.join(dir, entry));
  }
  return [...seen.values()];
}
