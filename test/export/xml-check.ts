/** Checks that markup is well-formed enough: tags balance and nest, attributes are quoted, no stray `<` or `&`. */
export function assertWellFormedXml(text: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let index = 0;
  while (index < text.length) {
    const next = text.indexOf('<', index);
    const content = text.slice(index, next < 0 ? text.length : next);
    if (/&(?!#\d+;|amp;|lt;|gt;|quot;|apos;)/.test(content)) throw new Error(`bad entity in text near "${content.slice(0, 40)}"`);
    if (next < 0) break;
    tag.lastIndex = next;
    const match = tag.exec(text);
    if (match === null) throw new Error(`malformed tag at ${next}: ${text.slice(next, next + 60)}`);
    const [, closing, name = '', , selfClosing] = match;
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else if (!selfClosing) {
      stack.push(name);
    }
    index = tag.lastIndex;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('>, <')}>`);
}
