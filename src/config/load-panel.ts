import path from 'node:path';
import {
  type Critic,
  type FileIssue,
  FileValidationError,
  type Panel,
  type PanelInput,
  PanelSchema,
  type Persona,
  type ResolvedPanel,
  TribunalError,
} from '../contracts/index.js';
import { contentHash } from './content-hash.js';
import { BUILTIN_ROOT, findById, isPathReference, type LibraryDirs, libraryDirs } from './library.js';
import { loadConstitution } from './load-constitution.js';
import { loadPersona, readText } from './load-persona.js';
import { parseYamlSource, type YamlSource, zodIssuesToFileIssues } from './yaml-document.js';

/** The panel used when none is given. */
export const DEFAULT_PANEL_FILE = path.join(BUILTIN_ROOT, 'panels', 'default.yaml');

/** Parses panel YAML text; `file` names it in errors. */
export function parsePanel(text: string, file: string): { panel: Panel; source: YamlSource } {
  const source = parseYamlSource(text);
  if (source.syntaxIssues.length > 0) throw new FileValidationError('PANEL_INVALID', file, source.syntaxIssues);
  const parsed = PanelSchema.safeParse(source.value ?? {});
  if (!parsed.success) throw new FileValidationError('PANEL_INVALID', file, zodIssuesToFileIssues(parsed.error.issues, source));
  return { panel: parsed.data, source };
}

/**
 * Loads a panel file (default: the built-in `panels/default.yaml`), its personas and constitution, and checks
 * they fit together: every persona exists, principle ids exist in the constitution, rubric anchors lie on the scale.
 * @example const resolved = await loadPanel({ file: 'panels/default.yaml' });
 */
export async function loadPanel(options: { file?: string; cwd?: string } = {}): Promise<ResolvedPanel> {
  const file = path.resolve(options.cwd ?? process.cwd(), options.file ?? DEFAULT_PANEL_FILE);
  const text = await readText(file, 'PANEL_INVALID', 'panel');
  const { panel, source } = parsePanel(text, file);
  return resolvePanel({
    panel,
    file,
    source,
    dirs: libraryDirs({ panelFile: file, ...(options.cwd ? { cwd: options.cwd } : {}) }),
  });
}

/** Resolves an in-memory panel (already parsed, or raw input to validate) against persona and constitution dirs. */
export async function resolvePanel(options: {
  panel: Panel | PanelInput;
  file?: string;
  source?: YamlSource;
  dirs?: LibraryDirs;
}): Promise<ResolvedPanel> {
  const file = options.file ?? '(panel)';
  const parsed = PanelSchema.safeParse(options.panel);
  if (!parsed.success)
    throw new FileValidationError('PANEL_INVALID', file, zodIssuesToFileIssues(parsed.error.issues, options.source));
  const panel = parsed.data;
  const dirs = options.dirs ?? libraryDirs(options.file ? { panelFile: options.file } : {});
  const baseDir = options.file ? path.dirname(options.file) : process.cwd();
  const issues: FileIssue[] = [];
  const line = (fieldPath: PropertyKey[]) => options.source?.lineOf(fieldPath);
  const issue = (fieldPath: PropertyKey[], message: string) => {
    const at = line(fieldPath);
    issues.push({ field: fieldPath.map(String).join('.'), ...(at === undefined ? {} : { line: at }), message });
  };

  const constitutionFile = isPathReference(panel.constitution)
    ? path.resolve(baseDir, panel.constitution)
    : findById(panel.constitution, dirs.constitutions);
  if (!constitutionFile) {
    issue(
      ['constitution'],
      `no constitution "${panel.constitution}" in ${dirs.constitutions.join(', ')}; give an id of a file there or a path`,
    );
    throw new FileValidationError('PANEL_INVALID', file, issues);
  }
  const constitution = await loadConstitution(constitutionFile);
  const principleIds = new Set(constitution.principles.map((principle) => principle.id));

  const loadMember = async (reference: string, fieldPath: PropertyKey[]): Promise<Persona | undefined> => {
    const personaFile = isPathReference(reference) ? path.resolve(baseDir, reference) : findById(reference, dirs.personas);
    if (!personaFile) {
      issue(fieldPath, `no persona "${reference}" in ${dirs.personas.join(', ')}; give an id of a file there or a path`);
      return undefined;
    }
    const persona = await loadPersona(personaFile);
    const personaIssues: FileIssue[] = [];
    for (const principle of persona.principles) {
      if (!principleIds.has(principle)) {
        personaIssues.push({
          field: 'principles',
          message: `principle "${principle}" is not in constitution ${constitution.id} v${constitution.version} (${constitutionFile}); known ids: ${[...principleIds].join(', ')}`,
        });
      }
    }
    for (const anchor of Object.keys(persona.rubric)) {
      const score = Number(anchor);
      if (score < panel.scale.min || score > panel.scale.max) {
        personaIssues.push({
          field: `rubric.${anchor}`,
          message: `anchor ${anchor} lies outside the panel's scale ${panel.scale.min}..${panel.scale.max} (panel ${file})`,
        });
      }
    }
    if (personaIssues.length > 0) throw new FileValidationError('PERSONA_INVALID', personaFile, personaIssues);
    return persona;
  };

  const critics: Critic[] = [];
  for (const [index, member] of panel.personas.entries()) {
    const reference = typeof member === 'string' ? member : member.persona;
    const persona = await loadMember(
      reference,
      typeof member === 'string' ? ['personas', index] : ['personas', index, 'persona'],
    );
    if (!persona) continue;
    if (critics.some((critic) => critic.id === persona.id)) {
      issue(['personas', index], `persona "${persona.id}" sits on the panel twice; list each persona once`);
      continue;
    }
    const override: { weight?: number | undefined; model?: string | undefined; temperature?: number | undefined } =
      typeof member === 'string' ? {} : member;
    const model = override.model ?? persona.model ?? panel.model;
    critics.push({
      id: persona.id,
      name: persona.name,
      description: persona.description,
      focus: persona.focus,
      weight: override.weight ?? persona.weight,
      ...(model === undefined ? {} : { model }),
      temperature: override.temperature ?? persona.temperature ?? panel.temperature,
      principles: persona.principles,
      rubric: persona.rubric,
      body: persona.body,
      hash: persona.hash,
      ...(persona.kind === 'verifier' ? { kind: persona.kind } : {}),
      ...(persona.tools.length > 0 ? { tools: persona.tools } : {}),
    });
  }
  let chair: Critic | undefined;
  if (panel.chair) {
    const persona = await loadMember(panel.chair, ['chair']);
    if (persona && persona.kind === 'verifier') {
      issue(
        ['chair'],
        `persona "${persona.id}" is a verifier (it scores tests, writes no rationale); name a model persona as chair`,
      );
    } else if (persona) {
      const model = persona.model ?? panel.model;
      chair = {
        id: persona.id,
        name: persona.name,
        description: persona.description,
        focus: persona.focus,
        weight: 0,
        ...(model === undefined ? {} : { model }),
        temperature: persona.temperature ?? panel.temperature,
        principles: persona.principles,
        rubric: persona.rubric,
        body: persona.body,
        hash: persona.hash,
      };
    }
  }
  if (issues.length > 0) throw new FileValidationError('PANEL_INVALID', file, issues);
  // Prices change what a run costs, not its labels: they stay out of the hash, so adding one never requeues a run.
  const { prices: _prices, ...labeling } = panel;
  const hash = contentHash({
    panel: labeling,
    critics: critics.map((critic) => critic.hash),
    chair: chair?.hash,
    constitution: constitution.hash,
  });
  return { panel, critics, ...(chair ? { chair } : {}), constitution, hash, ...(options.file ? { file: options.file } : {}) };
}

/** Thrown-error-free check used by `tribunal check`: returns every problem instead of the first. */
export async function checkPanel(options: {
  file?: string;
  cwd?: string;
}): Promise<{ ok: true; panel: ResolvedPanel } | { ok: false; error: TribunalError }> {
  try {
    return { ok: true, panel: await loadPanel(options) };
  } catch (error) {
    if (error instanceof TribunalError) return { ok: false, error };
    throw error;
  }
}

/**
 * The panel of an execution ablation (`tribunal eval --without-tools`): the same model critics with their tools taken
 * away, so no candidate is run and no critic sees an execution result. Verifiers score execution only, so they are
 * left out (and named in `dropped`); a panel of verifiers alone has nothing left and is refused. The hash changes, so
 * the ablation never resumes into a run made with tools.
 */
export function withoutTools(panel: ResolvedPanel): { panel: ResolvedPanel; dropped: string[]; stripped: string[] } {
  const dropped = panel.critics.filter((critic) => critic.kind === 'verifier').map((critic) => critic.id);
  const kept = panel.critics.filter((critic) => critic.kind !== 'verifier');
  if (kept.length === 0) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--without-tools: every critic of panel "${panel.panel.id}" is a verifier (${dropped.join(', ')}), which scores execution only; nothing would be left to debate`,
    );
  }
  const stripped = kept.filter((critic) => (critic.tools?.length ?? 0) > 0).map((critic) => critic.id);
  const critics = kept.map(({ tools: _tools, ...critic }) => critic);
  return {
    panel: { ...panel, critics, hash: contentHash({ withoutTools: panel.hash, critics: critics.map((critic) => critic.id) }) },
    dropped,
    stripped,
  };
}
