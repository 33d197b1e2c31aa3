import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('src/models/local', () => {
  it('loads no native code until an adapter is created', () => {
    // A fresh process, so that nothing else has loaded node-llama-cpp: list the shared objects after the import.
    const script = [
      "await import('./src/models/index.ts');",
      "await import('./src/models/local/index.ts');",
      'const objects = process.report.getReport().sharedObjects;',
      'console.log(JSON.stringify(objects.filter((name) => /llama|ggml/i.test(name))));',
    ].join('\n');
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(JSON.parse(output.trim().split('\n').at(-1) ?? 'null')).toEqual([]);
  });

  it('imports node-llama-cpp only for types, except through the one dynamic import', async () => {
    const folder = path.join(repoRoot, 'src/models/local');
    const offenders: string[] = [];
    for (const file of await readdir(folder)) {
      const source = await readFile(path.join(folder, file), 'utf8');
      for (const match of source.matchAll(/^(import|export)(\s+type)?\s[^;]*?from\s+'node-llama-cpp'/gms)) {
        if (!match[2]) offenders.push(`${file}: ${match[0]}`);
      }
      if (/import\('node-llama-cpp'\)/.test(source) && file !== 'llama-runtime.ts') offenders.push(`${file}: dynamic import`);
    }
    expect(offenders).toEqual([]);
  });
});
