// Tiny DOM helpers. Every string becomes a text node: event text is data, never markup. Bidi embedding, override and
// isolate controls in a string are shown as visible markers, so untrusted text cannot reorder what is displayed.

/** The Unicode controls that embed, override or isolate text direction (the "Trojan Source" set). */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

/** Untrusted text with each bidi control shown as a visible marker, e.g. `[U+202E]`. */
export function visibleControls(text) {
  return String(text).replace(BIDI_CONTROLS, (char) => `[U+${char.charCodeAt(0).toString(16).toUpperCase()}]`);
}

/**
 * Marks an element as holding untrusted text: its direction is its own (`dir="auto"`), it is isolated from the text
 * around it (the `untrusted` class: `unicode-bidi: isolate`), and long unbroken text wraps inside it.
 */
export function markUntrusted(element) {
  element.setAttribute('dir', 'auto');
  element.classList.add('untrusted');
  return element;
}

/** Like `h`, for an element whose text is untrusted (see `markUntrusted`). */
export function untrusted(tag, props = {}, ...children) {
  return markUntrusted(h(tag, props, ...children));
}

const SVG = 'http://www.w3.org/2000/svg';

/**
 * Creates an element. `props`: `class`, `data` (dataset), `attrs` (setAttribute), `style` (CSSOM), `on` (listeners), `title`.
 * Children: nodes, or strings/numbers (as text nodes); null/undefined/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  applyProps(element, props);
  append(element, children);
  return element;
}

/** Like `h`, in the SVG namespace. */
export function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  append(element, children);
  return element;
}

function applyProps(element, props) {
  if (props.class) element.className = props.class;
  if (props.title) element.title = props.title;
  // CSSOM, not a style attribute: the page's CSP allows no inline styles.
  if (props.style) Object.assign(element.style, props.style);
  for (const [name, value] of Object.entries(props.data ?? {})) element.dataset[name] = String(value);
  for (const [name, value] of Object.entries(props.attrs ?? {})) element.setAttribute(name, String(value));
  for (const [name, listener] of Object.entries(props.on ?? {})) element.addEventListener(name, listener);
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(
      typeof child === 'string' || typeof child === 'number' ? document.createTextNode(visibleControls(child)) : child,
    );
  }
}

/** Removes every child. */
export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
}

/** A score with one decimal, or "–". */
export function formatScore(score) {
  return typeof score === 'number' && Number.isFinite(score) ? score.toFixed(1) : '–';
}
