/*
 * Bounds on what describing an untrusted frame may cost: its nesting depth is measured on the raw text before
 * JSON.parse builds anything, and every piece of it quoted back in an error message is cut to a few dozen characters.
 * Nothing recursive (zod, JSON.stringify) ever sees a frame deeper than the limit.
 */

/**
 * True when the JSON text nests arrays and objects deeper than `maxDepth`, found in one pass without parsing: brackets
 * inside strings (escapes included) do not count. Malformed text is measured the same way; JSON.parse rejects it later.
 * @example
 * jsonNestingExceeds({ text: '{"a":[[1]]}', maxDepth: 2 }); // true: three levels
 */
export function jsonNestingExceeds(options: { text: string; maxDepth: number }): boolean {
  const { text, maxDepth } = options;
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c /* \ */) index++;
      else if (code === 0x22 /* " */) inString = false;
      continue;
    }
    if (code === 0x22) inString = true;
    else if (code === 0x5b /* [ */ || code === 0x7b /* { */) {
      if (++depth > maxDepth) return true;
    } else if (code === 0x5d /* ] */ || code === 0x7d /* } */) depth--;
  }
  return false;
}

/** Characters of an untrusted string quoted back in an error message. */
const QUOTED_CHARS = 64;

/**
 * A short, safe description of an untrusted value for an error message: a string is quoted and cut to 64 characters,
 * anything else is named by its kind, never serialized.
 */
export function describeUntrusted(value: unknown): string {
  if (typeof value === 'string') return quoteUntrusted(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Quotes a string for a message, cut to `maxChars` (default 64) characters; the cut is marked. */
export function quoteUntrusted(text: string, maxChars = QUOTED_CHARS): string {
  return text.length <= maxChars ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, maxChars))}…`;
}

/** Characters of a path a client named quoted back in a message. */
export const QUOTED_PATH_CHARS = 400;

/** Cuts a message to `maxChars` characters, marking the cut. */
export function boundMessage(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}
