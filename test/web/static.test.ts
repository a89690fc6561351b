// The server's static files (server/transports/static.ts): the dashboard at
// /, the SDK at /sdk/, over real HTTP on a real server. Paths are sent raw
// (node:http, not fetch, which would normalise the dots away).

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { resolveFile, serveStatic } from '../../server/transports/static.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { createServer, type Server } from 'node:http';
import { rmSync } from 'node:fs';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the dashboard page at / with a strict policy, and its hashed assets cached for good', async () => {
  const page = await get(t.server.port, '/');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.headers['cache-control'], 'no-cache');
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  const script = /<script type="module" src="(\/app\/dashboard-[A-Z0-9]+\.js)"/.exec(page.body)?.[1];
  const style = /<link rel="stylesheet" href="(\/app\/dashboard-[A-Z0-9]+\.css)"/.exec(page.body)?.[1];
  assert.ok(script && style, 'the page names its script and style');
  const js = await get(t.server.port, script);
  assert.equal(js.status, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  const css = await get(t.server.port, style);
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  assert.equal((await get(t.server.port, '/index.html')).body, page.body);
});

test('the SDK at stable paths: revalidated by ETag, loadable cross-origin, HEAD without a body', async () => {
  for (const path of ['/sdk/printbridge.js', '/sdk/printbridge.mjs']) {
    const a = await get(t.server.port, path);
    assert.equal(a.status, 200, path);
    assert.equal(a.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(a.headers['cache-control'], 'no-cache');
    assert.equal(a.headers['access-control-allow-origin'], '*');
    assert.match(a.body, /printbridge SDK/);
    const etag = String(a.headers['etag']);
    const again = await get(t.server.port, path, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    const head = await get(t.server.port, path, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), Buffer.byteLength(a.body));
    assert.equal(head.body, '');
  }
  assert.match((await get(t.server.port, '/sdk/types/sdk/index.d.ts')).body, /export/);
});

test('no way out of the build folder, no dotfiles, no listings, only GET and HEAD', async () => {
  const attempts = [
    '/sdk/../package.json', '/sdk/../../package.json', '/sdk/%2e%2e/%2e%2e/package.json', '/sdk/..%2f..%2fpackage.json',
    '/app/%2e%2e%2f%2e%2e%2fpackage.json', '/sdk/..%5c..%5cpackage.json', '/sdk/%00', '/sdk/.built', '/sdk/', '/sdk//printbridge.js',
    '/sdk/%E0%A4%A', '/app/nope.js', '/sdk/types',
  ];
  for (const path of attempts) {
    const a = await get(t.server.port, path);
    assert.ok([400, 404].includes(a.status), `${path} → ${a.status}`);
    assert.doesNotMatch(a.body, /"devDependencies"|"name": "printbridge"/, path);
  }
  const post = await get(t.server.port, '/', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers['allow'], 'GET, HEAD');
  // Paths the static files do not own are left to the rest of the server.
  const other = await get(t.server.port, '/nothing-here');
  assert.equal(other.status, 404);
  assert.match(String(other.headers['content-type']), /application\/json/);
  assert.equal((await get(t.server.port, '/healthz')).status, 200);
});

test('resolveFile refuses what could leave the root; symlinks out of it are not followed; a missing build says how to build', async () => {
  assert.equal(resolveFile('/r', '/a/../b'), undefined);
  assert.equal(resolveFile('/r', '/a/%2e%2e/b'), undefined);
  assert.equal(resolveFile('/r', '/.env'), undefined);
  assert.equal(resolveFile('/r', '/a\\b'), undefined);
  assert.equal(resolveFile('/r', '/%ZZ'), undefined);
  assert.equal(resolveFile('/r', '/sdk/x.js'), '/r/sdk/x.js');

  const dir = tempDir('printbridge-static-');
  const root = join(dir, 'web');
  mkdirSync(join(root, 'sdk'), { recursive: true });
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  symlinkSync(join(dir, 'secret.txt'), join(root, 'sdk', 'link.js'));
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!serveStatic(req, res, path, root)) res.writeHead(418).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as { port: number }).port;
    const link = await get(port, '/sdk/link.js');
    assert.equal(link.status, 404);
    assert.notEqual(link.body, 'secret');
    const page = await get(port, '/');
    assert.equal(page.status, 503);
    assert.match(page.body, /npm run build:web/);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
