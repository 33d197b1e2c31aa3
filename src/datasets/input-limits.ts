/**
 * The bounds every input line is held to before anything recursive touches it (docs/labeling.md, "Input limits").
 * A line over one of them is rejected with its line number like any other bad line; none can crash an import.
 */
export const INPUT_LIMITS = {
  /** Longest line, in bytes; longer lines are cut while reading and rejected (`too-long`). */
  maxLineBytes: 16 * 1024 * 1024,
  /** Deepest nesting of arrays and objects in a line (the line itself is depth 1). */
  maxDepth: 32,
  /** Largest `meta` object, serialized as JSON, in characters. */
  maxMetaChars: 64 * 1024,
  /** Longest item or candidate id, in characters. */
  maxIdChars: 512,
  /** Longest candidate `model` name, in characters. */
  maxModelChars: 512,
  /** Most candidates per item. */
  maxCandidates: 64,
  /** Most messages in a chat prompt. */
  maxMessages: 1_000,
} as const;

/**
 * The nesting depth of a JSON text (0 for a scalar, 1 for `[]`), scanned without parsing or recursion and
 * stopping as soon as it passes `stopAbove`. Brackets inside strings do not count. Meant for text that
 * `JSON.parse` accepts (it is checked before parsing only so that nothing deep is ever built).
 */
export function jsonDepth(text: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c)
        index += 1; // backslash: skip the escaped character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x5b || code === 0x7b) {
      depth += 1;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (code === 0x5d || code === 0x7d) {
      depth -= 1;
    }
  }
  return deepest;
}
