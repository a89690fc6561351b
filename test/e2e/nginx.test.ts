// The real nginx (Debian's, scripts/install-system-deps.sh) in front of a
// real `printbridge serve`, with the site configuration docs/deploy.md shows,
// taken from the document itself (only the ports and certificate paths are
// substituted), so the document stays true. TLS ends at nginx with a private
// CA made at test time. Through it: a bridge process stays on one connection
// across more than one server heartbeat, the CLI prints a job end to end,
// and REST answers, including a job upload of the server's largest size; a
// Zebra printer (the Weblink emulator) dials in at /weblink, has its settings
// read, and stays on one main connection as long (docs/weblink.md). With
// `--trust-proxy 127.0.0.1` the server knows a peer by the address nginx
// forwards for, and without it, or from a stranger, by the socket's.
//
// nginx runs as the current user from a temporary prefix:
//   nginx -p DIR -c nginx.conf -g 'daemon off; pid DIR/nginx.pid; error_log stderr;'

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { DEFAULT_LIMITS } from '../../server/limits.js';
import { Processes, REPO_ROOT, type Json, type Proc } from '../helpers/processes.js';
import { createTestPki } from '../helpers/tls-certs.js';
import { spawnWeblinkEmulator } from '../helpers/weblink-emulator.js';
import { sha256, tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';
import { freePort } from '../../tools/free-port.js';

/** The server's default heartbeat (server/server.ts): the bridge must stay connected across more than one. */
const SERVER_HEARTBEAT_MS = 25_000;
const ADMIN = 'nginx-admin-token';
const DEVICE = 'nginx-shop';
const ZEBRA = '50J000000443';
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

/** The fenced nginx block after the marker in docs/deploy.md. */
function deployDocConfig(): string {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
  const marker = doc.indexOf('<!-- nginx.conf: tested by test/e2e/nginx.test.ts -->');
  assert.ok(marker >= 0, 'docs/deploy.md has the tested nginx block marker');
  const block = /```nginx\n([\s\S]*?)\n```/.exec(doc.slice(marker));
  assert.ok(block?.[1], 'a ```nginx block follows the marker');
  return block[1];
}

/** `text` with `from` replaced by `to`; `from` must be there exactly once, so a changed document fails here, loudly. */
function substitute(text: string, from: string, to: string): string {
  assert.equal(text.split(from).length - 1, 1, `docs/deploy.md's nginx block has ${JSON.stringify(from)} once`);
  return text.replace(from, to);
}


interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(url: string, opts: { method?: string; ca?: Buffer; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: 30_000, ...(opts.ca && { ca: opts.ca }) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} in 30 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** nginx as the current user from `prefix`, with docs/deploy.md's site in front of the server on `serverPort`; answering once this resolves. */
async function startNginx(procs: Processes, prefix: string, serverPort: number, tls: { cert: string; key: string; ca: Buffer }): Promise<{ proc: Proc; base: string; plainBase: string }> {
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  let site = deployDocConfig();
  site = substitute(site, 'listen 80;', `listen 127.0.0.1:${httpPort};`);
  site = substitute(site, 'listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`);
  site = substitute(site, 'server 127.0.0.1:8080;', `server 127.0.0.1:${serverPort};`);
  site = substitute(site, '/etc/letsencrypt/live/print.example.com/fullchain.pem', tls.cert);
  site = substitute(site, '/etc/letsencrypt/live/print.example.com/privkey.pem', tls.key);
  const temp = join(prefix, 'temp');
  mkdirSync(temp, { recursive: true });
  // The rest is what /etc/nginx/nginx.conf would hold, kept inside the prefix.
  writeFileSync(join(prefix, 'nginx.conf'), [
    'worker_processes 1;',
    // Workers of a root master run as `nobody`, who cannot enter the private temp folder.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'events { worker_connections 256; }',
    'http {',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${join(temp, k)};`),
    '    access_log off;',
    site,
    '}',
    '',
  ].join('\n'));
  const proc = procs.spawn(NGINX as string, ['-p', prefix, '-c', 'nginx.conf', '-g', `daemon off; pid ${join(prefix, 'nginx.pid')}; error_log stderr;`], { name: 'nginx' });
  const base = `https://127.0.0.1:${httpsPort}`;
  await until('nginx to answer', async () => ((await call(`${base}/healthz`, { ca: tls.ca })).status === 200 ? true : undefined)).catch((e: Error) => {
    throw new Error(`${e.message}\n${proc.tail()}`);
  });
  return { proc, base, plainBase: `http://127.0.0.1:${httpPort}` };
}

describe('behind nginx with the configuration from docs/deploy.md', () => {
  const procs = new Processes();
  const { dir, cleanup } = tempDir('printbridge-nginx-');
  let ca: Buffer;
  let caFile: string;
  let base: string;
  let plainBase: string;
  let serve: Proc;
  let nginx: Proc;
  let bridge: Proc;
  let emu: TcpEmulator;
  let zebra: Proc;
  let onlineAt = 0;

  before(async () => {
    // npm test installs nginx (scripts/install-system-deps.sh); without it this fails rather than skips, so a broken set-up shows.
    if (NGINX === undefined) throw new Error('nginx is not installed (/usr/sbin/nginx): sudo apt-get install -y nginx');
    const pki = createTestPki(dir);
    caFile = pki.caCert;
    ca = readFileSync(pki.caCert);
    const leaf = pki.issue('server', 80443);
    const fullchain = join(dir, 'fullchain.pem');
    writeFileSync(fullchain, Buffer.concat([readFileSync(leaf.cert), readFileSync(pki.caCert)]));

    const data = join(dir, 'data');
    serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN } });
    const { port: serverPort } = await serve.waitForEvent<{ port: number }>('listening', { timeout: 20_000 });
    const add = await procs.run(['devices', 'add', DEVICE, '--data', data]);
    assert.equal(add.code, 0, add.stderr);
    const token = add.stdout.trim();

    ({ proc: nginx, base, plainBase } = await startNginx(procs, join(dir, 'nginx'), serverPort, { cert: fullchain, key: leaf.key, ca }));

    emu = await tcpEmulator(procs, dir, [], 'raw');
    bridge = procs.cli(['bridge', '--server', base.replace('https:', 'wss:'), '--ca', caFile, '--id', DEVICE, '--token', token,
      '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', 'raw', '--poll', '0']);
    const addZebra = await procs.run(['devices', 'add', ZEBRA, '--weblink', '--data', data]);
    assert.equal(addZebra.code, 0, addZebra.stderr);
    zebra = spawnWeblinkEmulator(procs, { url: `${base}/weblink`, serial: ZEBRA, password: addZebra.stdout.trim().split('\n').pop()!, ca: caFile });
    await bridge.waitForLine(/^link online/, { stream: 'stderr', timeout: 20_000 });
    await zebra.waitForEvent({ event: 'configure-alert' }, { timeout: 20_000 });
    // The printer is online once its first hello's ports are written (a group commit soon after).
    await until('the bridge and the printer online', async () => ((JSON.parse((await call(`${base}/healthz`, { ca })).body) as Json)['devices'] === 2 ? true : undefined));
    onlineAt = Date.now();
  });
  after(async () => {
    await procs.killAll();
    cleanup();
  });

  test('REST through nginx: /healthz, the printer list, a job of the largest size as JSON, its cancel; port 80 redirects to https', async () => {
    const health = JSON.parse((await call(`${base}/healthz`, { ca })).body) as Json;
    assert.equal(health['ok'], true);
    assert.equal(health['devices'], 2);
    const auth = { authorization: `Bearer ${ADMIN}` };
    const printers = await call(`${base}/api/v1/printers`, { ca, headers: auth });
    assert.equal(printers.status, 200, printers.body);
    assert.match(printers.body, new RegExp(`"${DEVICE}/0"`));

    // Far over nginx's default 1 MiB: client_max_body_size must let it through to the server.
    const body = JSON.stringify({ printer: `${DEVICE}/0`, data: Buffer.alloc(DEFAULT_LIMITS.maxJobBytes, 0x41).toString('base64') });
    assert.ok(body.length > 21 * 1024 * 1024);
    const created = await call(`${base}/api/v1/jobs`, { method: 'POST', ca, headers: { ...auth, 'content-type': 'application/json' }, body });
    assert.equal(created.status, 201, created.body.slice(0, 300));
    const job = JSON.parse(created.body) as Json & { id: string; size: number };
    assert.equal(job.size, DEFAULT_LIMITS.maxJobBytes);
    const canceled = await call(`${base}/api/v1/jobs/${job.id}/cancel`, { method: 'POST', ca, headers: auth });
    assert.equal(canceled.status, 200, canceled.body);
    assert.equal((JSON.parse(canceled.body) as Json)['state'], 'canceled');

    const redirect = await call(`${plainBase}/healthz`);
    assert.equal(redirect.status, 301);
    assert.match(String(redirect.headers['location']), /^https:\/\/127\.0\.0\.1\/healthz$/);
  });

  test('the CLI prints a job end to end through nginx (wss, the private CA from NODE_EXTRA_CA_CERTS)', async () => {
    const payload = Buffer.from(Array.from({ length: 4000 }, (_, i) => `receipt line ${i}\n`).join(''));
    const file = join(dir, 'job.txt');
    writeFileSync(file, payload);
    const printedBefore = (() => {
      try {
        return readFileSync(emu.printed).length;
      } catch {
        return 0;
      }
    })();
    const print = await procs.run(['print', '--server', base, '--token', ADMIN, '--printer', `${DEVICE}/0`, file, '--json'], {
      env: { NODE_EXTRA_CA_CERTS: caFile }, timeout: 60_000,
    });
    assert.equal(print.code, 0, `${print.stdout}\n${print.stderr}`);
    assert.equal((JSON.parse(print.stdout) as Json)['state'], 'done');
    const printed = await until('the printer to have the job', async () => {
      const all = readFileSync(emu.printed);
      return all.length >= printedBefore + payload.length ? all.subarray(all.length - payload.length) : undefined;
    });
    assert.equal(sha256(printed), sha256(payload));
  });

  test('a Weblink printer dials in through nginx at /weblink: online, and `printbridge sgd` reads a setting', async () => {
    const r = await procs.run(['sgd', `${ZEBRA}/0`, 'device.unique_id', '--server', base, '--token', ADMIN], { env: { NODE_EXTRA_CA_CERTS: caFile } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${ZEBRA}\n`);
  });

  test('the bridge and the Weblink printer stay on one connection through nginx across more than one server heartbeat', async () => {
    const wait = onlineAt + SERVER_HEARTBEAT_MS + 5_000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    assert.ok(Date.now() - onlineAt > SERVER_HEARTBEAT_MS);
    assert.equal(bridge.stderrLines.filter((l) => l.startsWith('link online')).length, 1, bridge.tail(30));
    assert.equal(serve.stderrLines.filter((l) => l.includes('device online')).length, 2, serve.tail(30));
    assert.equal(serve.stderrLines.filter((l) => l.includes('device offline')).length, 0, serve.tail(30));
    const health = JSON.parse((await call(`${base}/healthz`, { ca })).body) as Json;
    assert.equal(health['devices'], 2);
    // The Weblink printer as well: one main connection all along (nginx passed the 101 with its
    // subprotocol and Content-Length: 0 on, and the pings kept the link busy).
    assert.equal(zebra.events().filter((e) => e['event'] === 'connected' && e['channel'] === 'main').length, 1, zebra.tail(30));
    assert.equal(zebra.events().filter((e) => e['event'] === 'connect-failed').length, 0, zebra.tail(30));
    assert.equal(nginx.exit, undefined, nginx.tail());
  });
});

// The same site in front of two servers, one started with `--trust-proxy
// 127.0.0.1` as docs/deploy.md shows and one without. A peer on this
// machine reaches nginx from 127.0.0.1 like nginx reaches the server, so it
// sends X-Forwarded-For: 203.0.113.7 itself; nginx appends the address it
// saw (127.0.0.1), and which of the two a server keeps tells whether it
// read the header. A stranger (127.0.0.2) that sends the header straight to
// the server is known by its own address.
describe('peer addresses through nginx, with and without --trust-proxy', () => {
  const PEER = '203.0.113.7';
  const STRANGER = '127.0.0.2';
  const procs = new Processes();
  const { dir, cleanup } = tempDir('printbridge-nginx-peers-');
  let ca: Buffer;
  const sites: Record<'trusting' | 'plain', { serve: Proc; port: number; base: string; data: string }> = {} as never;

  before(async () => {
    if (NGINX === undefined) throw new Error('nginx is not installed (/usr/sbin/nginx): sudo apt-get install -y nginx');
    const pki = createTestPki(dir);
    ca = readFileSync(pki.caCert);
    const leaf = pki.issue('server', 80443);
    const fullchain = join(dir, 'fullchain.pem');
    writeFileSync(fullchain, Buffer.concat([readFileSync(leaf.cert), ca]));
    for (const [name, extra] of [['trusting', ['--trust-proxy', '127.0.0.1']], ['plain', []]] as const) {
      const data = join(dir, `data-${name}`);
      const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json', ...extra], { env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN } });
      const { port } = await serve.waitForEvent<{ port: number }>('listening', { timeout: 20_000 });
      const { base } = await startNginx(procs, join(dir, `nginx-${name}`), port, { cert: fullchain, key: leaf.key, ca });
      sites[name] = { serve, port, base, data };
    }
  });
  after(async () => {
    await procs.killAll();
    cleanup();
  });

  /** A device that says hello from `url` (a device URL with its credentials) and stays; resolves once welcomed. */
  async function device(url: string, opts: WebSocket.ClientOptions): Promise<WebSocket> {
    const ws = new WebSocket(url, { ca, ...opts });
    await once(ws, 'open');
    const welcome = once(ws, 'message');
    ws.send(JSON.stringify({ t: 'hello', v: [...PROTOCOL_VERSION], id: new URL(url).searchParams.get('id'), fw: 'nginx-test', caps: [], window: 8192, maxChunk: 4096, ports: [{ port: 0, dialect: 'raw' }] }));
    assert.equal((JSON.parse(String((await welcome)[0])) as Json)['t'], 'welcome');
    return ws;
  }

  async function listedAddress(name: 'trusting' | 'plain', id: string): Promise<unknown> {
    const r = await call(`${sites[name].base}/api/v1/devices`, { ca, headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(r.status, 200, r.body);
    return (JSON.parse(r.body) as Json[]).find((d) => d['id'] === id)?.['address'];
  }

  for (const [name, expected] of [['trusting', PEER], ['plain', '127.0.0.1']] as const) {
    test(`${name === 'trusting' ? 'trusting 127.0.0.1' : 'trusting no proxy'}: a device through nginx is listed at ${expected}, and its refused login is logged from there`, async () => {
      const site = sites[name];
      const add = await procs.run(['devices', 'add', 'via-nginx', '--data', site.data]);
      assert.equal(add.code, 0, add.stderr);
      const url = `${site.base.replace('https:', 'wss:')}/v1/device?id=via-nginx&token=${encodeURIComponent(add.stdout.trim())}`;
      const ws = await device(url, { headers: { 'x-forwarded-for': PEER } });
      await until('the device listed', async () => ((await listedAddress(name, 'via-nginx')) !== undefined ? true : undefined));
      assert.equal(await listedAddress(name, 'via-nginx'), expected);
      ws.close();

      const refused = new WebSocket(`${site.base.replace('https:', 'wss:')}/v1/device?id=via-nginx&token=wrong`, { ca, headers: { 'x-forwarded-for': PEER } });
      refused.on('error', () => undefined); // terminated before it opened, as meant
      const [, res] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
      assert.equal(res.statusCode, 401);
      refused.terminate();
      const line = await site.serve.waitForLine(/device login refused/, { stream: 'stderr', timeout: 10_000 });
      assert.match(line, new RegExp(`"address":"${expected.replace(/\./g, '\\.')}"`));
    });
  }

  test(`a stranger (${STRANGER}) that sends X-Forwarded-For straight to the trusting server is listed at its own address`, async () => {
    const site = sites.trusting;
    const add = await procs.run(['devices', 'add', 'direct', '--data', site.data]);
    assert.equal(add.code, 0, add.stderr);
    const url = `ws://127.0.0.1:${site.port}/v1/device?id=direct&token=${encodeURIComponent(add.stdout.trim())}`;
    const ws = await device(url, { localAddress: STRANGER, headers: { 'x-forwarded-for': PEER } });
    await until('the device listed', async () => ((await listedAddress('trusting', 'direct')) !== undefined ? true : undefined));
    assert.equal(await listedAddress('trusting', 'direct'), STRANGER);
    ws.close();
  });
});
