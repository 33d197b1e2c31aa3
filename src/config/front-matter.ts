/** A Markdown file split into its YAML front matter and body, with the line where the body starts. */
export interface FrontMatterSplit {
  frontMatter: string;
  body: string;
  /** 1-based line number of the first front-matter line (after the opening ---). */
  frontMatterLine: number;
  bodyLine: number;
}

/** Splits `---\nyaml\n---\nbody`; returns undefined when the file has no front matter. */
export function splitFrontMatter(text: string): FrontMatterSplit | undefined {
  const normalized = text.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
  if (!normalized.startsWith('---\n')) return undefined;
  const end = normalized.indexOf('\n---', 3);
  if (end < 0) return undefined;
  const afterFence = normalized.indexOf('\n', end + 1);
  const frontMatter = normalized.slice(4, end + 1);
  const body = afterFence < 0 ? '' : normalized.slice(afterFence + 1);
  const frontMatterLines = frontMatter.split('\n').length - 1;
  return { frontMatter, body, frontMatterLine: 2, bodyLine: 2 + frontMatterLines + 1 };
}
