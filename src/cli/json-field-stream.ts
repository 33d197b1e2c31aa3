/**
 * Extracts one string field's decoded value from a JSON object as it streams in, so a terminal can show
 * a critic's rationale while the model is still writing its structured answer.
 */
export class JsonFieldStream {
  private buffer = '';
  private start = -1;
  private position = 0;
  private done = false;

  constructor(private readonly field: string) {}

  /** Feeds more raw JSON text; returns the newly decoded characters of the field, if any. */
  push(chunk: string): string {
    this.buffer += chunk;
    if (this.done) return '';
    if (this.start < 0) {
      const match = new RegExp(`"${this.field}"\\s*:\\s*"`).exec(this.buffer);
      if (!match) return '';
      this.start = match.index + match[0].length;
      this.position = this.start;
    }
    let out = '';
    while (this.position < this.buffer.length) {
      const char = this.buffer[this.position];
      if (char === '"') {
        this.done = true;
        break;
      }
      if (char === '\\') {
        const next = this.buffer[this.position + 1];
        if (next === undefined) break;
        if (next === 'u') {
          const hex = this.buffer.slice(this.position + 2, this.position + 6);
          if (hex.length < 4) break;
          out += String.fromCharCode(Number.parseInt(hex, 16));
          this.position += 6;
          continue;
        }
        out += ({ n: '\n', t: '\t', r: '', b: '', f: '' } as Record<string, string>)[next] ?? next;
        this.position += 2;
        continue;
      }
      out += char;
      this.position++;
    }
    return out;
  }

  /** True once the field's closing quote was seen. */
  get complete(): boolean {
    return this.done;
  }

  /** True when the field has started streaming. */
  get started(): boolean {
    return this.start >= 0;
  }
}
