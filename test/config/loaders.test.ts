import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  libraryDirs,
  listMarkdown,
  loadConstitution,
  loadPanel,
  loadPersona,
  parseConstitution,
  parsePersona,
} from '../../src/config/index.js';
import { FileValidationError, TribunalError } from '../../src/contracts/index.js';

const persona = (front: string, body = 'You judge things.') => `---\n${front}\n---\n\n${body}\n`;
const GOOD = `id: terse\nname: Terse\ndescription: Likes short answers.\nfocus: brevity\nweight: 2\nprinciples: [concise]\nrubric:\n  "1": long\n  "10": short`;

function tempProject(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-config-'));
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  return dir;
}

describe('persona files', () => {
  it('parses front matter, body and defaults', () => {
    const result = parsePersona(persona(GOOD), 'terse.md');
    expect(result.success).toBe(true);
    if (!result.success) return;
    expect(result.value).toMatchObject({ id: 'terse', weight: 2, principles: ['concise'], body: 'You judge things.' });
    expect(result.value.hash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('names the file, line and field of a wrong type', () => {
    const result = parsePersona(persona(GOOD.replace('weight: 2', 'weight: heavy')), 'personas/terse.md');
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.error.code).toBe('PERSONA_INVALID');
    expect(result.error.issues).toEqual([expect.objectContaining({ field: 'weight', line: 6 })]);
    expect(result.error.message).toContain('personas/terse.md');
    expect(result.error.message).toContain('line 6: weight:');
  });

  it('reports a missing field, an unknown field and a YAML syntax error', () => {
    const missing = parsePersona(persona(GOOD.replace('focus: brevity\n', '')), 'a.md');
    expect(!missing.success && missing.error.issues[0]).toMatchObject({
      field: 'focus',
      message: expect.stringContaining('missing'),
    });
    const unknown = parsePersona(persona(`${GOOD}\ncolour: blue`), 'b.md');
    expect(!unknown.success && unknown.error.issues[0]?.message).toContain('"colour"');
    const syntax = parsePersona(persona(`${GOOD}\nname: [unclosed`), 'c.md');
    expect(!syntax.success && syntax.error.issues[0]?.message).toMatch(/YAML syntax/);
  });

  it('reads kind and tools, defaulting to a model critic without tools', () => {
    const plain = parsePersona(persona(GOOD), 'terse.md');
    expect(plain.success && plain.value).toMatchObject({ kind: 'critic', tools: [] });
    const verifier = parsePersona(persona(`${GOOD}\nkind: verifier\ntools: [run-python]`), 'v.md');
    expect(verifier.success && verifier.value).toMatchObject({ kind: 'verifier', tools: ['run-python'] });
  });

  it('names the line of an unknown tool, an unknown kind and a verifier without run-python', () => {
    const tool = parsePersona(persona(`${GOOD}\ntools: [run-bash]`), 'personas/t.md');
    expect(!tool.success && tool.error.issues[0]).toMatchObject({ field: 'tools.0', line: 11 });
    const kind = parsePersona(persona(`${GOOD}\nkind: oracle`), 'personas/k.md');
    expect(!kind.success && kind.error.issues[0]).toMatchObject({ field: 'kind', line: 11 });
    const bare = parsePersona(persona(`${GOOD}\nkind: verifier`), 'personas/v.md');
    expect(bare.success).toBe(false);
    if (bare.success) return;
    expect(bare.error.issues[0]).toMatchObject({
      field: 'kind',
      line: 11,
      message: expect.stringContaining('tools: [run-python]'),
    });
    expect(bare.error.message).toContain('personas/v.md');
  });

  it('ships a verifier persona that loads', async () => {
    const shipped = await loadPersona(path.resolve(import.meta.dirname, '../../personas/code-tests.md'));
    expect(shipped).toMatchObject({ id: 'code-tests', kind: 'verifier', tools: ['run-python'] });
  });

  it('rejects a file without front matter or without a body', () => {
    expect(parsePersona('just text', 'x.md').success).toBe(false);
    const empty = parsePersona(persona(GOOD, ''), 'y.md');
    expect(!empty.success && empty.error.issues[0]?.field).toBe('(body)');
  });

  it('ships valid personas, including safety, efficiency and creativity', async () => {
    const files = await listMarkdown(libraryDirs().personas);
    const ids = (await Promise.all(files.map((file) => loadPersona(file)))).map((loaded) => loaded.id);
    expect(ids).toEqual(expect.arrayContaining(['safety', 'efficiency', 'creativity', 'factuality', 'helpfulness']));
  });
});

describe('constitution files', () => {
  const doc = (body: string) => `---\nid: mini\nname: Mini\nversion: "1.0"\n---\nPreamble.\n\n${body}`;

  it('parses principles from "## id: Title" sections', () => {
    const result = parseConstitution(doc('## concise: Be brief\nShort is good.\n\n## honest: Be true\nNo lies.\n'), 'c.md');
    expect(result.success && result.value.principles).toEqual([
      { id: 'concise', title: 'Be brief', text: 'Short is good.' },
      { id: 'honest', title: 'Be true', text: 'No lies.' },
    ]);
    expect(result.success && result.value.preamble).toBe('Preamble.');
  });

  it('points at a malformed heading and a duplicate id by line', () => {
    const result = parseConstitution(doc('## Be brief\nx\n\n## honest: A\ny\n## honest: B\nz\n'), 'c.md');
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.error.issues).toEqual([
      expect.objectContaining({ line: 8, message: expect.stringContaining('## harmless: Do no harm') }),
      expect.objectContaining({ line: 13, message: expect.stringContaining('duplicate principle id "honest"') }),
    ]);
  });

  it('ships a valid default constitution', async () => {
    const constitution = await loadConstitution(path.join(libraryDirs().constitutions.at(-1) ?? '', 'default.md'));
    expect(constitution.principles.map((principle) => principle.id)).toEqual(
      expect.arrayContaining(['helpful', 'honest', 'harmless', 'lawful', 'professional-caution', 'concise']),
    );
  });
});

describe('panel files', () => {
  it('loads the default panel with its personas and constitution', async () => {
    const resolved = await loadPanel();
    expect(resolved.panel.id).toBe('default');
    expect(resolved.critics.map((critic) => critic.id)).toEqual(['safety', 'efficiency', 'creativity']);
    expect(resolved.constitution.id).toBe('default');
    expect(resolved.hash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('applies member overrides and finds personas beside the panel', async () => {
    const dir = tempProject({
      'personas/terse.md': persona(GOOD),
      'panels/p.yaml': 'id: p\npersonas:\n  - persona: terse\n    weight: 3\n    model: fake:judge\n  - safety\n',
    });
    const resolved = await loadPanel({ file: path.join(dir, 'panels/p.yaml') });
    expect(resolved.critics[0]).toMatchObject({ id: 'terse', weight: 3, model: 'fake:judge', temperature: 0.2 });
    expect(resolved.critics[1]?.id).toBe('safety');
  });

  it('names the panel line of an unknown persona and a bad field', async () => {
    const dir = tempProject({ 'p.yaml': 'id: p\npersonas:\n  - safety\n  - nobody\nmaxRounds: many\n' });
    const error = await loadPanel({ file: path.join(dir, 'p.yaml') }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FileValidationError);
    expect((error as FileValidationError).issues).toEqual([expect.objectContaining({ field: 'maxRounds', line: 5 })]);
    const dir2 = tempProject({ 'p.yaml': 'id: p\npersonas:\n  - safety\n  - nobody\n' });
    const error2 = (await loadPanel({ file: path.join(dir2, 'p.yaml') }).catch(
      (caught: unknown) => caught,
    )) as FileValidationError;
    expect(error2.issues).toEqual([
      expect.objectContaining({ field: 'personas.1', line: 4, message: expect.stringContaining('no persona "nobody"') }),
    ]);
  });

  it('rejects principles missing from the constitution and anchors off the scale', async () => {
    const dir = tempProject({
      'personas/odd.md': persona(GOOD.replace('[concise]', '[concise, telepathy]').replace('"10": short', '"12": short')),
      'p.yaml': 'id: p\npersonas: [odd]\n',
    });
    const error = (await loadPanel({ file: path.join(dir, 'p.yaml') }).catch((caught: unknown) => caught)) as FileValidationError;
    expect(error.code).toBe('PERSONA_INVALID');
    expect(error.file).toContain('odd.md');
    expect(error.message).toContain('"telepathy" is not in constitution default');
    expect(error.message).toContain('anchor 12 lies outside');
  });

  it('says when the panel file does not exist', async () => {
    const error = await loadPanel({ file: '/nonexistent/panel.yaml' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TribunalError);
    expect((error as TribunalError).message).toBe('panel file /nonexistent/panel.yaml does not exist');
  });

  it('loads every shipped panel', async () => {
    for (const name of ['default', 'full', 'jury']) {
      const resolved = await loadPanel({ file: path.join(libraryDirs().personas.at(-1) ?? '', '..', 'panels', `${name}.yaml`) });
      expect(resolved.panel.id).toBe(name);
    }
  });
});
