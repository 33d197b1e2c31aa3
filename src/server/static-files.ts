import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The viewer's files: plain HTML, CSS and ES modules, served as they are (nothing is built at run time). */
export const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** A file ready to serve. */
export interface StaticFile {
  body: Buffer;
  type: string;
}

/**
 * Loads the viewer's files once, by name: only files directly in the web root with a known type are served, so a
 * request path can never reach outside it. `/` is `index.html`.
 */
export function loadStaticFiles(root: string = WEB_ROOT): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const name of readdirSync(root)) {
    const type = TYPES[path.extname(name)];
    if (type === undefined || name.startsWith('.')) continue;
    files.set(`/${name}`, { body: readFileSync(path.join(root, name)), type });
  }
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}

/** Headers every viewer response carries: the page may load only its own scripts and talk only to its own origin. */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};
