// Static files for browsers: the dashboard at / and the browser SDK at
// /sdk/printbridge.js (classic script, global `printbridge`) and
// /sdk/printbridge.mjs (ES module), all from build/web/ (tools/build-web.ts).
//
// Only GET and HEAD, only under the paths this module owns (/, /index.html,
// /sdk/…, /app/…); every other request is left to the caller. A request
// path is decoded once, and refused if a segment is empty, "." or "..",
// starts with a dot, or holds a backslash or NUL; what remains must resolve
// (symlinks included) inside the build folder. No directory listings.
//
// Caching: /app/ files carry a content hash in their name and are cached for
// a year (immutable); the page and the SDK keep stable names, so browsers
// revalidate them every time (no-cache + ETag → 304). The SDK is sent with
// `Access-Control-Allow-Origin: *` so that pages on other origins can load it
// as a module; the page gets a strict Content-Security-Policy.

import { createReadStream, realpathSync, statSync, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_ROOT = fileURLToPath(new URL('../../build/web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

const PAGE_POLICY = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self' ws: wss:",
  "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
].join('; ');

/** True when `path` (the URL's pathname, still percent-encoded) is one this module answers for. */
export function ownsPath(path: string): boolean {
  return path === '/' || path === '/index.html' || path.startsWith('/sdk/') || path.startsWith('/app/');
}

/**
 * Answers the request if its path belongs to the static files and returns
 * true; returns false (and touches nothing) otherwise.
 */
export function serveStatic(req: IncomingMessage, res: ServerResponse, path: string, root: string = WEB_ROOT): boolean {
  if (!ownsPath(path)) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
    return true;
  }
  const file = resolveFile(root, path === '/' ? '/index.html' : path);
  if (file === undefined) {
    send(res, 400, 'text/plain; charset=utf-8', 'bad path\n');
    return true;
  }
  let stat: Stats | undefined;
  let real: string | undefined;
  try {
    real = realpathSync(file);
    stat = statSync(real);
  } catch {
    stat = undefined;
  }
  const rootReal = safeRealpath(root);
  if (!stat || !stat.isFile() || real === undefined || rootReal === undefined || !real.startsWith(rootReal + sep)) {
    if (path === '/' || path === '/index.html') {
      send(res, 503, 'text/plain; charset=utf-8', 'The dashboard is not built. Run `npm run build:web` (npm start does it for you).\n');
    } else send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    return true;
  }

  const ext = extname(real);
  const immutable = path.startsWith('/app/');
  const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const headers: Record<string, string | number> = {
    'content-type': TYPES[ext] ?? 'application/octet-stream',
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    etag,
    'last-modified': stat.mtime.toUTCString(),
    'x-content-type-options': 'nosniff',
  };
  if (path.startsWith('/sdk/')) headers['access-control-allow-origin'] = '*';
  if (ext === '.html') {
    headers['content-security-policy'] = PAGE_POLICY;
    headers['referrer-policy'] = 'no-referrer';
    headers['x-frame-options'] = 'DENY';
  }
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  headers['content-length'] = stat.size;
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  const stream = createReadStream(real);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
  return true;
}

/** The file a request path names inside `root`, or undefined when the path is not acceptable. */
export function resolveFile(root: string, path: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith('/') || /[\\\0]/.test(decoded)) return undefined;
  const segments = decoded.slice(1).split('/');
  if (segments.some((s) => s === '' || s.startsWith('.'))) return undefined;
  return join(root, ...segments);
}

function safeRealpath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
  res.end(body);
}
