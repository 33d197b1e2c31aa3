/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): the top functions by self time, and self time by package
 * (node_modules package, this repo's folders, node internals, GC). Used for the profiles in bench/README.md.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/engine.ts --phase overhead --variants graph --no-write
 *   npx tsx bench/cpu-profile-top.ts /tmp/prof/CPU.*.cpuprofile [--top 25] [--from MS]
 *
 * `--from MS` counts only samples taken MS or more after the profile started (to leave out start-up: module loading).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '25' },
    inclusive: { type: 'string', default: '0' },
    from: { type: 'string', default: '0' },
  },
});
const file = positionals[0];
if (!file) throw new Error('usage: npx tsx bench/cpu-profile-top.ts <file.cpuprofile> [--top N]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
const fromUs = Number(values.from) * 1000;
let elapsedUs = 0;
for (const [index, id] of profile.samples.entries()) {
  const delta = profile.timeDeltas[index] ?? 0;
  elapsedUs += delta;
  if (elapsedUs >= fromUs) selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
}

const byFunction = new Map<string, number>();
const byPackage = new Map<string, number>();
let total = 0;
let idle = 0;
for (const [id, us] of selfUs) {
  const frame = byId.get(id)?.callFrame;
  if (!frame) continue;
  if (frame.functionName === '(idle)') {
    idle += us;
    continue;
  }
  total += us;
  const location = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
  const name = `${frame.functionName || '(anonymous)'} ${location}`.trim();
  byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  byPackage.set(packageOf(frame), (byPackage.get(packageOf(frame)) ?? 0) + us);
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const repo = url.indexOf('/src/') >= 0 ? url.indexOf('/src/') : url.indexOf('/graphs/');
  return repo >= 0 ? url.slice(repo + 1) : url.replace(/^file:\/\//, '');
}

function packageOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
  }
  if (url.startsWith('node:')) return 'node internals';
  const match = /\/(src\/[^/]+|graphs|bench)\//.exec(url);
  return match?.[1] ?? url;
}

// Inclusive time: each sample counts once for every distinct function on its stack.
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const nameOf = (frame: ProfileNode['callFrame']) =>
  `${frame.functionName || '(anonymous)'} ${frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : ''}`.trim();
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const frame = byId.get(at)?.callFrame;
    if (frame) seen.add(nameOf(frame));
  }
  for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + us);
}

const ms = (us: number) => (us / 1000).toFixed(1).padStart(9);
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const top = Number(values.top);
process.stdout.write(`${file}\nbusy ${ms(total).trim()} ms, idle ${ms(idle).trim()} ms\n\nself time by package:\n`);
for (const [name, us] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 15))
  process.stdout.write(`${ms(us)} ms ${pct(us)}  ${name}\n`);
process.stdout.write(`\ntop ${top} functions by self time:\n`);
for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
  process.stdout.write(`${ms(us)} ms ${pct(us)}  ${name}\n`);
const inclusiveTop = Number(values.inclusive);
if (inclusiveTop > 0) {
  process.stdout.write(`\ntop ${inclusiveTop} functions by inclusive time:\n`);
  for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, inclusiveTop))
    process.stdout.write(`${ms(us)} ms ${pct(us)}  ${name}\n`);
}
