// Decodes one string field of a JSON object while it streams in, so a critic's rationale can be shown as the model
// writes its structured answer. The one implementation, shared by the browser viewer (served as is, no build step)
// and the terminal transcript (src/cli/transcript-renderer.ts, typed by json-field.d.ts beside this file).

const ESCAPES = { n: '\n', t: '\t', r: '', b: '', f: '' };

export class JsonField {
  /** @param {string} field the name of the string field to decode */
  constructor(field) {
    this.pattern = new RegExp(`"${field}"\\s*:\\s*"`);
    this.buffer = '';
    this.start = -1;
    this.position = 0;
    this.done = false;
  }

  /**
   * Feeds raw JSON text; returns the newly decoded characters of the field.
   * @param {string} chunk
   * @returns {string}
   */
  push(chunk) {
    if (this.done) return '';
    this.buffer += chunk;
    if (this.start < 0) {
      const match = this.pattern.exec(this.buffer);
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
        out += ESCAPES[next] ?? next;
        this.position += 2;
        continue;
      }
      out += char;
      this.position++;
    }
    return out;
  }

  /** True when the field has started streaming. */
  get started() {
    return this.start >= 0;
  }

  /** True once the field's closing quote was seen. */
  get complete() {
    return this.done;
  }
}
