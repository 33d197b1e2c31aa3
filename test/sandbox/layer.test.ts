import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/* docs/architecture.md: src/sandbox may import only src/contracts (plus node: built-ins and pyodide). */

describe('src/sandbox imports', () => {
  it('reach only src/contracts, node: built-ins, pyodide and the folder itself', () => {
    const folder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/sandbox');
    const outside: string[] = [];
    for (const file of readdirSync(folder)) {
      const source = readFileSync(path.join(folder, file), 'utf8');
      for (const match of source.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
        const target = match[1] as string;
        const allowed =
          target.startsWith('node:') || target === 'pyodide' || target.startsWith('./') || target.startsWith('../contracts/');
        if (!allowed) outside.push(`${file}: ${target}`);
      }
    }
    expect(outside).toEqual([]);
  });
});
