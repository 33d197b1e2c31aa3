// Decodes one string field of a JSON object while it streams in, so the viewer can show a critic's rationale as
// the model writes its structured answer (the browser twin of src/cli/json-field-stream.ts).

export class JsonField {
  constructor(field) {
    this.pattern = new RegExp(`"${field}"\\s*:\\s*"`);
    this.buffer = '';
    this.start = -1;
    this.position = 0;
    this.done = false;
  }

  /** Feeds raw text; returns the newly decoded characters of the field. */
  push(chunk) {
    this.buffer += chunk;
    if (this.done) return '';
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
        out += { n: '\n', t: '\t', r: '', b: '', f: '' }[next] ?? next;
        this.position += 2;
        continue;
      }
      out += char;
      this.position++;
    }
    return out;
  }

  get started() {
    return this.start >= 0;
  }
}
