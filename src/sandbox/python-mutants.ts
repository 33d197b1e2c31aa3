/**
 * Single-site mutants of a Python function body, for correct-vs-broken pairs with a known right answer: each mutant
 * changes one operator, literal or branch of the code (never inside a string or comment). Whether a mutant is
 * really broken is decided by running its tests in the sandbox, not here.
 */

/** The kinds of change, named in each pair's meta. */
export const MUTATION_OPERATORS = [
  'comparison-swap',
  'arithmetic-swap',
  'boolean-swap',
  'constant-swap',
  'off-by-one',
  'dropped-branch',
  'dropped-not',
  'call-swap',
] as const;
export type MutationOperator = (typeof MUTATION_OPERATORS)[number];

/** One mutant: the changed source, what changed and where (1-based line in the body). */
export interface Mutant {
  source: string;
  operator: MutationOperator;
  line: number;
  from: string;
  to: string;
}

interface Token {
  kind: 'op' | 'name' | 'number';
  text: string;
  start: number;
}

const COMPARISON: Record<string, string> = { '<': '<=', '<=': '<', '>': '>=', '>=': '>', '==': '!=', '!=': '==' };
const ARITHMETIC: Record<string, string> = { '+': '-', '-': '+', '*': '+', '//': '*', '%': '//', '+=': '-=', '-=': '+=' };
const BOOLEAN: Record<string, string> = { and: 'or', or: 'and' };
const CONSTANT: Record<string, string> = { True: 'False', False: 'True' };
/** Calls swapped for their mirror image, only where the name is called (`min(`, `.lower(`). */
const CALL: Record<string, string> = {
  min: 'max',
  max: 'min',
  any: 'all',
  all: 'any',
  lower: 'upper',
  upper: 'lower',
  startswith: 'endswith',
  endswith: 'startswith',
  islower: 'isupper',
  isupper: 'islower',
  sorted: 'reversed',
};
const OPERATORS = ['**=', '//=', '>>=', '<<=', '==', '!=', '<=', '>=', '//', '**', '+=', '-=', '*=', '/=', '%=', '->', ':='];

/**
 * Every single-site mutant of `source`, in source order, without duplicates and never equal to the source.
 * @example const mutants = pythonMutants('    return a + b\n'); // [{ operator: 'arithmetic-swap', to: '-', ... }]
 */
export function pythonMutants(source: string): Mutant[] {
  const tokens = tokenize(source);
  const mutants: Mutant[] = [];
  const seen = new Set<string>([source]);
  const add = (start: number, end: number, to: string, operator: MutationOperator): void => {
    const mutated = source.slice(0, start) + to + source.slice(end);
    if (seen.has(mutated)) return;
    seen.add(mutated);
    mutants.push({ source: mutated, operator, line: lineOf(source, start), from: source.slice(start, end), to });
  };
  for (const [index, token] of tokens.entries()) {
    const end = token.start + token.text.length;
    const previous = tokens[index - 1];
    if (token.kind === 'op') {
      const comparison = COMPARISON[token.text];
      if (comparison !== undefined) add(token.start, end, comparison, 'comparison-swap');
      const arithmetic = ARITHMETIC[token.text];
      // A unary minus (after an operator, an opening bracket or a keyword) is a sign, not a subtraction.
      const unary = token.text === '-' && (previous === undefined || previous.kind === 'op' || isKeyword(previous.text));
      if (arithmetic !== undefined && !unary && !(token.text === '*' && isStarArgument(previous))) {
        add(token.start, end, arithmetic, 'arithmetic-swap');
      }
    } else if (token.kind === 'name') {
      const boolean = BOOLEAN[token.text];
      if (boolean !== undefined) add(token.start, end, boolean, 'boolean-swap');
      const constant = CONSTANT[token.text];
      if (constant !== undefined) add(token.start, end, constant, 'constant-swap');
      const call = CALL[token.text];
      if (call !== undefined && tokens[index + 1]?.text === '(') add(token.start, end, call, 'call-swap');
      if (token.text === 'not' && source[end] === ' ' && previous?.text !== 'is' && tokens[index + 1]?.text !== 'in') {
        add(token.start, end + 1, '', 'dropped-not');
      }
      if ((token.text === 'if' || token.text === 'elif') && atLineStart(source, token.start)) {
        const colon = findBlockColon(tokens, index);
        if (colon !== undefined) add(end, colon, ' False', 'dropped-branch');
      }
    } else if (token.kind === 'number' && /^\d+$/.test(token.text)) {
      const value = Number(token.text);
      add(token.start, end, String(value + 1), 'off-by-one');
      if (value > 0) add(token.start, end, String(value - 1), 'off-by-one');
    }
  }
  return mutants;
}

const KEYWORDS = new Set(['return', 'in', 'and', 'or', 'not', 'if', 'elif', 'else', 'while', 'yield', 'lambda', 'is']);

function isKeyword(text: string): boolean {
  return KEYWORDS.has(text);
}

function isStarArgument(previous: Token | undefined): boolean {
  return previous === undefined || (previous.kind === 'op' && [',', '(', '[', '{', '='].includes(previous.text));
}

function atLineStart(source: string, at: number): boolean {
  const lineStart = source.lastIndexOf('\n', at - 1) + 1;
  return source.slice(lineStart, at).trim() === '';
}

/** The offset of the `:` that ends an `if`/`elif` header, skipping brackets (slices, dict literals, lambdas). */
function findBlockColon(tokens: Token[], from: number): number | undefined {
  let depth = 0;
  for (let index = from + 1; index < tokens.length; index += 1) {
    const token = tokens[index] as Token;
    if (token.kind !== 'op') continue;
    if ('([{'.includes(token.text)) depth += 1;
    else if (')]}'.includes(token.text)) depth -= 1;
    else if (token.text === ':' && depth === 0) return token.start;
    else if (token.text === '\n' && depth === 0) return undefined;
  }
  return undefined;
}

function lineOf(source: string, at: number): number {
  let line = 1;
  for (let index = 0; index < at; index += 1) if (source[index] === '\n') line += 1;
  return line;
}

/** Splits Python source into operator, name and number tokens, skipping strings, comments and whitespace. */
function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < source.length) {
    const char = source[at] as string;
    if (char === '#') {
      while (at < source.length && source[at] !== '\n') at += 1;
      continue;
    }
    if (char === '\n') {
      tokens.push({ kind: 'op', text: '\n', start: at });
      at += 1;
      continue;
    }
    if (char === ' ' || char === '\t' || char === '\r' || char === '\\') {
      at += 1;
      continue;
    }
    const string = /^([rbufRBUF]{0,2})('''|"""|'|")/.exec(source.slice(at, at + 5));
    if (string !== null && (string[1] === '' || /[A-Za-z_]/.test(char))) {
      at = skipString(source, at + (string[1] as string).length, string[2] as string);
      continue;
    }
    if (/[A-Za-z_]/.test(char)) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(at))?.[0] as string;
      tokens.push({ kind: 'name', text: name, start: at });
      at += name.length;
      continue;
    }
    if (/[0-9]/.test(char) || (char === '.' && /[0-9]/.test(source[at + 1] ?? ''))) {
      const number = /^(0[xXoObB][0-9a-fA-F_]+|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9]+)?j?)/.exec(source.slice(at))?.[0] || char;
      tokens.push({ kind: 'number', text: number, start: at });
      at += number.length;
      continue;
    }
    const operator = OPERATORS.find((candidate) => source.startsWith(candidate, at)) ?? char;
    tokens.push({ kind: 'op', text: operator, start: at });
    at += operator.length;
  }
  return tokens;
}

function skipString(source: string, from: number, quote: string): number {
  let at = from + quote.length;
  while (at < source.length) {
    if (source[at] === '\\') {
      at += 2;
      continue;
    }
    if (source.startsWith(quote, at)) return at + quote.length;
    if (quote.length === 1 && source[at] === '\n') return at;
    at += 1;
  }
  return at;
}
