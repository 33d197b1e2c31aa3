import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lazySandboxPool } from '../../src/sandbox/index.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs an ES module script under tsx in a child process; resolves with its exit code (null when killed) and output. */
function runScript(script: string, killAfterMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    // A safety net only: the assertion is that the process ends by itself.
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('lazy sandbox pools', () => {
  it('starts on the first run only, and close is harmless before it', async () => {
    const idle = lazySandboxPool();
    expect(idle.started).toBe(false);
    await idle.close();
    const lazy = lazySandboxPool();
    try {
      const result = await lazy.runPython({ code: 'print(6 * 7)' });
      expect(lazy.started).toBe(true);
      expect(result).toMatchObject({ status: 'passed', stdout: { text: '42\n' } });
    } finally {
      await lazy.close();
    }
  });

  it('the process-wide pool closes when idle, so a script using it ends by itself; a later run starts it again', async () => {
    const script = `
      import { register } from 'tsx/esm/api';
      register();
      const { processSandbox } = await import(${JSON.stringify(path.join(REPO_ROOT, 'src/sandbox/index.ts'))});
      const sandbox = processSandbox({ idleMs: 300 });
      const before = sandbox.started;
      const result = await sandbox.runPython({ code: 'print(6 * 7)' });
      const after = processSandbox().started;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const idle = sandbox.started;
      const again = await sandbox.runPython({ code: 'print(7 * 7)' });
      console.log(JSON.stringify({ before, after, idle, same: processSandbox() === sandbox, stdout: result.stdout.text + again.stdout.text }));
    `;
    const { code, stdout, stderr } = await runScript(script, 90_000);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout.trim())).toEqual({ before: false, after: true, idle: false, same: true, stdout: '42\n49\n' });
  }, 120_000);
});
