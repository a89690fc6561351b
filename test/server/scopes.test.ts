// Token scopes over real sockets, on every transport that serves clients:
// /v1/client, REST /api/v1, the Printerlynx-style /api/v1/ws and the
// PrinterWebSocket compat listener. A default client token prints and
// nothing more: it cannot send a device `config` (a new server to connect
// to) or `restart` (FORBIDDEN naming devices:config), nor relay a printer
// command, nor act on another token's jobs; a token given the scope can.
// The checks live in the one dispatcher, so each transport answers alike.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SCOPES, SCOPES, type ClientRequestBody, type IssuedToken, type JobView } from '../../protocol/client-messages.js';
import { requiredScope } from '../../protocol/scopes.js';
import { openDatabase, MIGRATIONS, openStore } from '../../server/store/db.js';
import { findTokenByHash, hashClientToken } from '../../server/store/tokens.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { Conn, FakeDevice, TestClient, registerDevice, reportPorts } from './peers.js';

type Err = { code: string; message: string };

async function rest(t: TestServer, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${t.server.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function errorOf(reply: Record<string, unknown>): Err {
  assert.equal(reply['ok'], false, JSON.stringify(reply));
  return reply['error'] as Err;
}

/** A Printerlynx-style connection, authenticated with `token`. */
async function lynx(t: TestServer, token: string): Promise<Conn> {
  const c = await Conn.open(t.wsUrl('/api/v1/ws'));
  c.sendJson({ type: 'authentication', data: { token } });
  const auth = await c.json((m) => m['type'] === 'authentication', 'the authentication reply');
  assert.deepEqual(auth, { type: 'authentication', data: { status: 'OK' } });
  return c;
}

describe('scopes', () => {
  let t: TestServer;
  let admin: TestClient;
  let dev: FakeDevice;

  const issue = (fields: Record<string, unknown> = {}): Promise<IssuedToken> => admin.call<IssuedToken>('token.issue', fields);

  before(async () => {
    t = await startTestServer({ compat: { port: 0 } });
    admin = await TestClient.connect(t);
    dev = await FakeDevice.connect(t, 'sc-1', registerDevice(t, 'sc-1'));
  });
  after(async () => {
    admin?.close();
    dev?.close();
    await t?.close();
  });

  it('a default client token cannot send config or restart to the devices, over WebSocket or REST', async () => {
    const { token, scopes } = await issue();
    const browser = await TestClient.connect(t, token);
    const config = errorOf(await browser.request('control.send', { to: { all: true }, name: 'config', args: { server: 'ws://203.0.113.9:8080' } }));
    assert.equal(config.code, 'FORBIDDEN');
    assert.match(config.message, /control\.send "config" needs the scope devices:config/);
    assert.deepEqual(scopes, ['print']);
    const restart = errorOf(await browser.request('control.send', { to: { device: 'sc-1' }, name: 'restart' }));
    assert.deepEqual([restart.code, /needs the scope devices:config/.test(restart.message)], ['FORBIDDEN', true]);
    // Not even the harmless names: relaying control messages is a scope of its own.
    assert.match(errorOf(await browser.request('control.send', { to: { all: true }, name: 'identify' })).message, /needs the scope control$/);
    // A name this server does not know might change anything: the strong scope.
    assert.match(errorOf(await browser.request('control.send', { to: { all: true }, name: 'factory-reset' })).message, /needs the scope devices:config/);
    assert.match(errorOf(await browser.request('printer.command', { printer: 'sc-1/0', data: 'M112' })).message, /needs the scope printer:command/);
    assert.match(errorOf(await browser.request('control.send', { to: { all: true }, name: 'printer.command', args: { port: 0, data: 'x' } })).message, /needs the scope printer:command/);
    assert.match(errorOf(await browser.request('device.remove', { device: 'sc-1' })).message, /needs the scope devices/);
    assert.match(errorOf(await browser.request('clients.list')).message, /needs the scope tokens/);

    const viaRest = await rest(t, token, 'POST', '/control', { to: { all: true }, name: 'config', args: { server: 'ws://203.0.113.9:8080' } });
    assert.equal(viaRest.status, 403);
    assert.deepEqual([(viaRest.body['error'] as Err).code, /needs the scope devices:config/.test((viaRest.body['error'] as Err).message)], ['FORBIDDEN', true]);

    // Printing still works, and the device heard none of the refused messages.
    assert.equal((await browser.call<unknown[]>('printers.list')).length, 1);
    const identify = admin.call('control.send', { to: { device: 'sc-1' }, name: 'identify', timeout: 2000 });
    const first = await dev.json((m) => m['t'] === 'control', 'a control message');
    assert.equal(first['name'], 'identify', 'the first control message the device got is the admin\'s identify');
    dev.sendJson({ t: 'control.result', ref: first['ref'], ok: true });
    await identify;
    browser.close();
  });

  it('a token given devices:config or control can send what its scope allows, and only that', async () => {
    const strong = await issue({ scopes: ['print', 'devices:config'] });
    assert.deepEqual(strong.scopes, ['print', 'devices:config']);
    const ops = await TestClient.connect(t, strong.token);
    const sent = ops.call<{ reports: { status: string }[] }>('control.send', { to: { device: 'sc-1' }, name: 'config', args: { led: 'on' }, timeout: 2000 });
    const got = await dev.json((m) => m['t'] === 'control', 'the config message');
    assert.deepEqual([got['name'], got['args']], ['config', { led: 'on' }]);
    dev.sendJson({ t: 'control.result', ref: got['ref'], ok: true });
    assert.equal((await sent).reports[0]?.status, 'ok');
    assert.match(errorOf(await ops.request('control.send', { to: { all: true }, name: 'identify' })).message, /needs the scope control$/);
    ops.close();

    const blinker = await issue({ scopes: ['control'] });
    const viaRest = rest(t, blinker.token, 'POST', '/control', { to: { device: 'sc-1' }, name: 'identify', timeout: 2000 });
    const blink = await dev.json((m) => m['t'] === 'control', 'the identify message');
    assert.equal(blink['name'], 'identify');
    dev.sendJson({ t: 'control.result', ref: blink['ref'], ok: true });
    assert.equal((await viaRest).status, 200);
    const refused = await rest(t, blinker.token, 'POST', '/control', { to: { device: 'sc-1' }, name: 'restart' });
    assert.equal(refused.status, 403);
    // Without print, a control-only token does not even list printers.
    assert.match(((await rest(t, blinker.token, 'GET', '/printers')).body['error'] as Err).message, /printers\.list needs the scope print/);
  });

  it('Printerlynx: a default token prints but is refused printer_command; printer:command lets it through', async () => {
    const plain = await issue();
    const c = await lynx(t, plain.token);
    c.sendJson({ type: 'printer_command', data: { printer_uuid: 'sc-1/0', command: 'M112' } });
    const refused = await c.json((m) => m['type'] === 'printer_command', 'the printer_command reply');
    assert.deepEqual(refused['data'], { status: 'ERROR', code: 'FORBIDDEN', message: 'credentials do not allow this operation: printer.command needs the scope printer:command' });
    c.close();

    const strong = await issue({ scopes: ['print', 'printer:command'] });
    const ok = await lynx(t, strong.token);
    ok.sendJson({ type: 'printer_command', data: { printer_uuid: 'sc-1/0', command: 'M115' } });
    const relayed = await dev.json((m) => m['t'] === 'control' && m['name'] === 'printer.command', 'the relayed command');
    dev.sendJson({ t: 'control.result', ref: relayed['ref'], ok: true, data: { written: 4 } });
    const answer = await ok.json((m) => m['type'] === 'printer_command', 'the printer_command reply');
    assert.equal((answer['data'] as Record<string, unknown>)['status'], 'OK', JSON.stringify(answer));
    ok.close();
  });

  it('compat: a client token in ?token= acts with its scopes; one without print cannot print', async () => {
    const compat = t.server.compat;
    assert.ok(compat !== undefined);
    const noPrint = await issue({ scopes: ['control'] });
    const c = await Conn.open(`${compat.url}?token=${encodeURIComponent(noPrint.token)}`);
    c.sendJson({ call: 'print', uid: 'u1', params: { printer: { name: 'sc-1/0' }, data: ['hello'] } });
    const refused = await c.json((m) => m['uid'] === 'u1', 'the print reply');
    assert.deepEqual([refused['status'], refused['code']], ['error', 'FORBIDDEN']);
    assert.match(String(refused['message']), /job\.submit needs the scope print/);
    c.sendJson({ call: 'printers.find', uid: 'u2' });
    const find = await c.json((m) => m['uid'] === 'u2', 'the printers.find reply');
    assert.deepEqual([find['code'], find['result']], ['FORBIDDEN', undefined]);
    c.close();

    // The default token prints there, and is listed as itself.
    const plain = await issue();
    const p = await Conn.open(`${compat.url}?token=${encodeURIComponent(plain.token)}`);
    p.sendJson({ call: 'printers.find', uid: 'u3' });
    assert.deepEqual((await p.json((m) => m['uid'] === 'u3', 'the printers.find reply'))['result'], ['sc-1/0']);
    p.close();
  });

  it('Printerlynx: a token without print hears no status and cannot ask for it', async () => {
    const noPrint = await issue({ scopes: ['control'] });
    const c = await lynx(t, noPrint.token);
    c.sendJson({ type: 'printer_status', data: {} });
    const refused = await c.json((m) => m['type'] === 'printer_status' && (m['data'] as Record<string, unknown>)['status'] === 'ERROR', 'the refusal');
    assert.equal((refused['data'] as Record<string, unknown>)['code'], 'FORBIDDEN');
    assert.equal(c.inbox.items.length, 0, `nothing else was pushed: ${JSON.stringify(c.inbox.items)}`);
    c.close();
  });

  it('a client token acts on its own jobs; another token\'s (or the admin\'s) needs jobs:any', async () => {
    registerDevice(t, 'sc-off');
    reportPorts(t, 'sc-off');
    const [a, b, any] = await Promise.all([issue(), issue(), issue({ scopes: ['print', 'jobs:any'] })]);
    const ca = await TestClient.connect(t, a.token);
    const cb = await TestClient.connect(t, b.token);
    const cany = await TestClient.connect(t, any.token);
    const ja = await ca.call<JobView>('job.submit', { printer: 'sc-off/0', text: 'A', key: 'order-a' });
    const jb = await cb.call<JobView>('job.submit', { printer: 'sc-off/0', text: 'B' });
    const jadmin = await admin.call<JobView>('job.submit', { printer: 'sc-off/0', text: 'admin' });

    for (const op of ['job.get', 'job.cancel', 'job.pause', 'job.resume']) {
      const e = errorOf(await cb.request(op, { job: ja.id }));
      assert.equal(e.code, 'FORBIDDEN', op);
      assert.match(e.message, /needs the scope jobs:any/, op);
    }
    assert.equal(errorOf(await cb.request('job.cancel', { job: jadmin.id })).code, 'FORBIDDEN');
    // The same idempotency key does not hand over another token's job.
    assert.equal(errorOf(await cb.request('job.submit', { printer: 'sc-off/0', text: 'A', key: 'order-a' })).code, 'FORBIDDEN');
    assert.equal(errorOf(await cb.request('printer.cancel', { printer: 'sc-off/0' })).code, 'FORBIDDEN');
    const viaRest = await rest(t, b.token, 'POST', `/jobs/${ja.id}/cancel`);
    assert.deepEqual([viaRest.status, (viaRest.body['error'] as Err).code], [403, 'FORBIDDEN']);

    // Each sees only its own in jobs.list; jobs:any and the admin see all.
    assert.deepEqual((await cb.call<JobView[]>('jobs.list', { printer: 'sc-off/0' })).map((j) => j.id), [jb.id]);
    const all = (await cany.call<JobView[]>('jobs.list', { printer: 'sc-off/0' })).map((j) => j.id);
    assert.deepEqual(new Set(all), new Set([ja.id, jb.id, jadmin.id]));

    assert.equal((await ca.call<JobView>('job.pause', { job: ja.id })).state, 'paused');
    assert.equal((await ca.call<JobView>('job.cancel', { job: ja.id })).state, 'canceled');
    assert.equal((await cany.call<JobView>('job.cancel', { job: jb.id })).state, 'canceled');
    assert.equal((await cany.call<JobView>('job.cancel', { job: jadmin.id })).state, 'canceled');
    for (const c of [ca, cb, cany]) c.close();
  });

  it('token.issue grants only scopes the issuer holds; a default token cannot issue at all', async () => {
    const issuer = await issue({ scopes: ['print', 'tokens'] });
    const c = await TestClient.connect(t, issuer.token);
    const e = errorOf(await c.request('token.issue', { scopes: ['print', 'devices:config'] }));
    assert.deepEqual([e.code, /needs the scope devices:config/.test(e.message)], ['FORBIDDEN', true]);
    assert.deepEqual((await c.call<IssuedToken>('token.issue', {})).scopes, ['print']);
    assert.equal(errorOf(await c.request('token.issue', { scopes: ['root'] })).code, 'BAD_FIELD');
    assert.equal(errorOf(await c.request('token.issue', { scopes: [] })).code, 'BAD_FIELD');
    c.close();
    const plain = await TestClient.connect(t, (await issue()).token);
    assert.match(errorOf(await plain.request('token.issue', {})).message, /token\.issue needs the scope tokens/);
    // A subscriber without the tokens scope gets no client list in its snapshot.
    const snap = await plain.call<Record<string, unknown>>('subscribe');
    assert.equal(snap['clients'], undefined);
    plain.close();
    // The admin holds every scope.
    assert.deepEqual((await issue({ scopes: [...SCOPES] })).scopes, [...SCOPES]);
  });
});

describe('scopes: storage and table', () => {
  it('tokens issued before scopes existed keep printing only after the migration', () => {
    const dir = tempDir();
    const raw = openDatabase(`${dir}/printbridge.db`);
    for (const sql of MIGRATIONS.slice(0, 3)) raw.exec(sql);
    raw.pragma('user_version = 3');
    const token = `pbc.${'a'.repeat(16)}.${'b'.repeat(43)}`;
    raw.prepare('INSERT INTO client_tokens (id, token_hash, label, created, expires) VALUES (?, ?, ?, ?, ?)').run('a'.repeat(16), hashClientToken(token), 'old', 1, Date.now() + 60_000);
    raw.close();
    const store = openStore(dir);
    try {
      assert.deepEqual(findTokenByHash(store, token)?.scopes, [...DEFAULT_SCOPES]);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every op names its scope; config and restart need a stronger one than identify and status', () => {
    const control = (name: string): ClientRequestBody => ({ op: 'control.send', to: { all: true }, name, args: {} });
    assert.equal(requiredScope(control('identify')), 'control');
    assert.equal(requiredScope(control('status')), 'control');
    assert.equal(requiredScope(control('config')), 'devices:config');
    assert.equal(requiredScope(control('restart')), 'devices:config');
    assert.equal(requiredScope({ op: 'ping' }), undefined);
    assert.equal(requiredScope({ op: 'job.cancel', job: 'x' }), 'print');
    assert.equal(requiredScope({ op: 'printer.cancel', printer: 'x' }), 'jobs:any');
    assert.equal(requiredScope({ op: 'device.remove', device: 'x' }), 'devices');
    assert.equal(requiredScope({ op: 'token.revoke', token: 'x' }), 'tokens');
  });
});
