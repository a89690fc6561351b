// The server's own TLS (serve --tls-cert/--tls-key): https and wss on one
// port with a private CA made by openssl at test time; a certificate reloaded
// on SIGHUP (and a broken new pair refused, keeping the old one); plain http
// on the TLS port refused; the Node bridge and the CLI over wss with that CA,
// and a bridge that refuses a server its CA did not sign, with the bridge's
// TLS diagnosis.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { startServer } from '../../server/server.js';
import { connectClient } from '../../tools/client/client.js';
import { Processes, type Json, type Proc } from '../helpers/processes.js';
import { startTestServer } from '../helpers/server.js';
import { createTestPki, type TestPki } from '../helpers/tls-certs.js';
import { fileHash, sha256, tcpEmulator, tempDir } from '../tools/emulator-fixture.js';
import { FakeDevice, registerDevice } from './peers.js';

const procs = new Processes();
const cleanups: Array<() => void> = [];
after(async () => {
  await procs.killAll();
  for (const c of cleanups.reverse()) c();
});

function workDir(): string {
  const { dir, cleanup } = tempDir('printbridge-tls-');
  cleanups.push(cleanup);
  return dir;
}

interface Answer {
  status: number;
  body: string;
  /** The serial number of the certificate the server presented (hex, as X509Certificate has it). */
  serial: string;
}

/** One GET over a fresh TLS connection (no keep-alive, no session reuse), so each sees the certificate served now. */
function httpsGet(url: string, ca: Buffer | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent: false, ...(ca === undefined ? {} : { ca }), timeout: 5_000 }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

function serialOf(certPath: string): string {
  return new X509Certificate(readFileSync(certPath)).serialNumber;
}

test('https and wss on one port with a private CA: /healthz, a client and a device; plain http and an unknown CA are refused', async (ctx) => {
  const pki = createTestPki(workDir());
  const pair = pki.issue('server', 1001);
  const ca = readFileSync(pki.caCert);
  const t = await startTestServer({ tls: pair });
  ctx.after(() => t.close());
  assert.match(t.server.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const health = await httpsGet(`${t.server.url}/healthz`, ca);
  assert.equal(health.status, 200);
  assert.equal((JSON.parse(health.body) as Json)['ok'], true);
  assert.equal(health.serial, serialOf(pair.cert));

  // Without the CA the certificate is not trusted: the CA is what makes it work.
  await assert.rejects(httpsGet(`${t.server.url}/healthz`, undefined), (e: NodeJS.ErrnoException) => {
    assert.match(e.code ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED/);
    return true;
  });

  // Plain http and ws:// on the TLS port get no answer but a dropped connection.
  const plainUrl = t.server.url.replace('https:', 'http:');
  await assert.rejects(new Promise((resolve, reject) => {
    const req = httpRequest(`${plainUrl}/healthz`, { agent: false, timeout: 5_000 }, resolve);
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s: the TLS port held a plain request')));
    req.on('error', reject);
    req.end();
  }), (e: NodeJS.ErrnoException) => {
    assert.match(`${e.code} ${e.message}`, /ECONNRESET|socket hang up/);
    return true;
  });
  const plainWs = new WebSocket(`${plainUrl.replace('http:', 'ws:')}/v1/client?token=test-admin-token`);
  const plainOutcome = await new Promise<string>((resolve) => {
    plainWs.on('open', () => resolve('open'));
    plainWs.on('error', (e) => resolve(`error ${e.message}`));
  });
  plainWs.terminate();
  assert.match(plainOutcome, /^error /);

  // A device and a client over wss; a job goes from one to the other.
  const token = registerDevice(t, 'tls-dev');
  const dev = await FakeDevice.connect(t, 'tls-dev', token, { ws: { ca } });
  const client = await connectClient(t.wsUrl('/v1/client'), 'test-admin-token', { ca });
  try {
    const printers = await client.request('printers.list');
    assert.deepEqual(printers.map((p) => p.id), ['tls-dev/0']);
    const payload = Buffer.from('printed over wss\n');
    const job = await client.request('job.submit', { printer: 'tls-dev/0', data: payload.toString('base64') });
    const start = await dev.jobStart();
    assert.equal(start['id'], job.id);
    dev.sendJson({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
    const frame = await dev.frame();
    assert.deepEqual(frame.payload, payload);
    const counts = JSON.parse((await httpsGet(`${t.server.url}/healthz`, ca)).body) as Json;
    assert.equal(counts['devices'], 1);
    assert.equal(counts['clients'], 1);
  } finally {
    await client.close();
    dev.close();
  }
});

test('a certificate that cannot be loaded stops the start with a message naming the file', async () => {
  const dir = workDir();
  const pki = createTestPki(dir);
  const a = pki.issue('a', 1);
  const b = pki.issue('b', 2);
  const base = { host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), adminToken: 'x', log: () => {} };
  await assert.rejects(startServer({ ...base, tls: { cert: join(dir, 'missing.pem'), key: a.key } }), /cannot read the TLS certificate .*missing\.pem/);
  await assert.rejects(startServer({ ...base, tls: { cert: a.key, key: a.key } }), /TLS certificate .*a\.key is not a PEM certificate/);
  await assert.rejects(startServer({ ...base, tls: { cert: a.cert, key: b.key } }), /TLS key .*b\.key does not go with certificate .*a\.pem/);

  const half = await procs.run(['serve', '--tls-cert', a.cert, '--port', '0', '--data', join(dir, 'data')]);
  assert.equal(half.code, 2, half.stderr);
  assert.match(half.stderr, /--tls-cert and --tls-key go together/);
});

interface Listening extends Json {
  port: number;
  url: string;
  device: string;
  client: string;
}

/** The admin token the TLS servers below are started with. */
const ADMIN = 'tls-admin';

async function serveTls(dir: string, pki: TestPki, serial: number): Promise<{ serve: Proc; info: Listening; cert: string; key: string }> {
  const first = pki.issue(`server-${serial}`, serial);
  // The files the server reads; a renewal overwrites them in place, as certbot's live/ links do.
  const cert = join(dir, 'live-cert.pem');
  const key = join(dir, 'live-key.pem');
  copyFileSync(first.cert, cert);
  copyFileSync(first.key, key);
  const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'data'), '--json', '--tls-cert', cert, '--tls-key', key], {
    env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN },
  });
  const info = await serve.waitForEvent<Listening>('listening', { timeout: 20_000 });
  return { serve, info, cert, key };
}

test('SIGHUP reloads the certificate: new connections get the new one, open ones stay, a broken pair keeps the old one', async () => {
  const dir = workDir();
  const pki = createTestPki(dir);
  const ca = readFileSync(pki.caCert);
  const { serve, info, cert, key } = await serveTls(dir, pki, 7001);
  assert.match(info.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(info.device, /^wss:\/\/127\.0\.0\.1:\d+\/v1\/device$/);
  assert.match(info.client, /^wss:\/\/127\.0\.0\.1:\d+\/v1\/client$/);
  const healthz = `${info.url}/healthz`;
  const before = await httpsGet(healthz, ca);
  assert.equal(before.serial, serialOf(cert));

  const client = await connectClient(info.client, ADMIN, { ca });
  try {
    const renewed = pki.issue('server-7002', 7002);
    copyFileSync(renewed.cert, cert);
    copyFileSync(renewed.key, key);
    process.kill(serve.pid!, 'SIGHUP');
    await serve.waitForLine(/info TLS certificate reloaded/, { stream: 'stderr', timeout: 5_000 });
    const now = await httpsGet(healthz, ca);
    assert.equal(now.status, 200);
    assert.equal(now.serial, serialOf(renewed.cert));
    assert.notEqual(now.serial, before.serial);
    // The connection made before the reload is still served.
    assert.ok(Array.isArray(await client.request('printers.list')));

    // Half-written renewal: a new certificate with the old key. Refused whole.
    const broken = pki.issue('server-7003', 7003);
    copyFileSync(broken.cert, cert);
    copyFileSync(pki.issue('stray', 7004).key, key);
    process.kill(serve.pid!, 'SIGHUP');
    await serve.waitForLine(/error TLS certificate not reloaded; the previous one stays .*does not go with certificate/, { stream: 'stderr', timeout: 5_000 });
    const still = await httpsGet(healthz, ca);
    assert.equal(still.status, 200);
    assert.equal(still.serial, serialOf(renewed.cert));
    assert.equal(serve.exit, undefined, 'SIGHUP does not stop a TLS server');
    assert.ok(Array.isArray(await client.request('printers.list')));
  } finally {
    await client.close();
  }
});

test('the bridge over wss with --ca prints a job from the CLI (NODE_EXTRA_CA_CERTS); a bridge whose CA did not sign the server says TLS failed', async () => {
  const dir = workDir();
  const pki = createTestPki(dir);
  const { info } = await serveTls(dir, pki, 9001);
  const add = await procs.run(['devices', 'add', 'tls-shop', '--data', join(dir, 'data')]);
  assert.equal(add.code, 0, add.stderr);
  const token = add.stdout.trim();

  const emu = await tcpEmulator(procs, dir);
  const bridge = procs.cli(['bridge', '--server', info.url.replace('https:', 'wss:'), '--ca', pki.caCert, '--id', 'tls-shop', '--token', token,
    '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', 'raw', '--poll', '0']);
  await bridge.waitForLine(/^link online/, { stream: 'stderr', timeout: 20_000 });

  const payload = Buffer.from('a receipt over wss, '.repeat(2000));
  const file = join(dir, 'job.bin');
  writeFileSync(file, payload);
  // The CLI takes the private CA the way all of Node does.
  const print = await procs.run(['print', '--server', info.url, '--token', ADMIN, '--printer', 'tls-shop/0', file, '--json'], {
    env: { NODE_EXTRA_CA_CERTS: pki.caCert }, timeout: 60_000,
  });
  assert.equal(print.code, 0, `${print.stdout}\n${print.stderr}`);
  assert.equal((JSON.parse(print.stdout) as Json)['state'], 'done');
  await eventually(() => safeHash(emu.printed) === sha256(payload), 'the printer received the job');
  assert.equal(fileHash(emu.printed), sha256(payload));

  // Without the CA the CLI refuses the server's certificate.
  const untrusted = await procs.run(['printers', '--server', info.url, '--token', ADMIN], { env: { NODE_EXTRA_CA_CERTS: undefined } });
  assert.equal(untrusted.code, 1, untrusted.stdout);
  assert.match(untrusted.stderr, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/);

  // A bridge given another CA: the server's certificate is refused, said once, as TLS.
  const other = createTestPki(workDir(), 'some other CA');
  const started = Date.now();
  const refusing = procs.cli(['bridge', '--server', info.url.replace('https:', 'wss:'), '--ca', other.caCert, '--id', 'tls-shop', '--token', token,
    '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', 'raw', '--poll', '0']);
  const line = await refusing.waitForLine(/^error: TLS with the server at wss:/, { stream: 'stderr', timeout: 10_000 });
  assert.ok(Date.now() - started < 10_000);
  assert.match(line, /TLS with the server at wss:\/\/127\.0\.0\.1:\d+ failed \(unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)\): check the server's certificate/);
  assert.ok(!refusing.stderrLines.some((l) => l.startsWith('link online')), refusing.tail());

  const badCa = await procs.run(['bridge', '--server', info.url, '--ca', file, '--id', 'x', '--token', 'y', '--printer', 'tcp://127.0.0.1:9']);
  assert.equal(badCa.code, 2, badCa.stderr);
  assert.match(badCa.stderr, /--ca: .*job\.bin is not a PEM certificate/);
});

function safeHash(path: string): string | undefined {
  try {
    return fileHash(path);
  } catch {
    return undefined;
  }
}

async function eventually(check: () => boolean, what: string, timeout = 10_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > end) throw new Error(`never true within ${timeout} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
