// The browser SDK against a real server over real sockets: the bundle that
// browsers load (build/web/sdk/printbridge.mjs), run in Node with `ws` as its
// WebSocket. Reconnects go through a TCP proxy that cuts every connection;
// timeouts and close codes use a plain `ws` server that answers nothing.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createContext, runInContext } from 'node:vm';
import { after, before, test } from 'node:test';
import { WebSocketServer } from 'ws';
import type { PrintbridgeClient } from '../../sdk/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { eventually, FakeDevice, registerDevice } from '../server/peers.js';
import { loadSdk, nextEvent, NodeWebSocket, printingDevice, SDK_CLASSIC, type SdkModule } from './sdk-fixture.js';

const TOKEN = 'test-admin-token';
let sdk: SdkModule;
let t: TestServer;
const clients: PrintbridgeClient[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

before(async () => {
  sdk = await loadSdk();
  t = await startTestServer();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const c of cleanups) await c();
  await t.close();
});

function client(opts: Partial<Parameters<SdkModule['connect']>[0]> = {}): PrintbridgeClient {
  const c = sdk.connect({ url: t.server.url, token: TOKEN, WebSocket: NodeWebSocket, backoff: { base: 20, max: 100 }, ...opts });
  clients.push(c);
  return c;
}

test('connects with the token in the query, says hello and answers calls', { timeout: 30_000 }, async () => {
  const c = client();
  assert.match(c.url, /^ws:\/\/127\.0\.0\.1:\d+\/v1\/client\?token=test-admin-token$/);
  await c.ready();
  assert.equal(c.state, 'open');
  assert.equal(c.server?.server, 'printbridge');
  assert.equal(await c.ping(), 'pong');
  assert.ok(Array.isArray(await c.devices()));
  assert.ok(Array.isArray(await c.printers()));
});

test('a server error rejects with its code; unknown printer, unknown job', { timeout: 30_000 }, async () => {
  const c = client();
  await assert.rejects(c.job('no-such-job'), (e: Error & { code: string }) => e.code === 'UNKNOWN_JOB' && e instanceof sdk.PrintbridgeError);
  await assert.rejects(c.print('nobody/0', 'hello'), (e: Error & { code: string }) => e.code === 'UNKNOWN_PRINTER');
});

test('print() resolves once the printer finished, with exactly the bytes sent', { timeout: 30_000 }, async () => {
  const d = await printingDevice(t, 'print-ok');
  const c = client();
  const updates: string[] = [];
  const data = new Uint8Array(5000).map((_, i) => (i * 7) & 255);
  const job = await c.print('print-ok/0', data, { onUpdate: (j) => updates.push(j.state) });
  assert.equal(job.state, 'done');
  assert.equal(job.size, 5000);
  assert.deepEqual(new Uint8Array(d.received.get(job.id)!), data);
  assert.equal(updates.at(-1), 'done');
  // Text is sent as UTF-8.
  const text = await c.print('print-ok/0', 'Grüße ✓ 🍕\n');
  assert.equal(d.received.get(text.id)!.toString('utf8'), 'Grüße ✓ 🍕\n');
  d.dev.close();
});

test('print() rejects with the job error code when the printer fails it, and with JOB_CANCELED when canceled', { timeout: 30_000 }, async () => {
  let holdId = '';
  const d = await printingDevice(t, 'print-bad', { outcome: (id) => (id === holdId ? { hold: true } : { fail: 'PRINTER_ERROR' }) });
  const c = client();
  await assert.rejects(c.print('print-bad/0', 'x'), (e: Error & { code: string; job?: { state: string } }) => {
    assert.equal(e.code, 'PRINTER_ERROR');
    assert.equal(e.job?.state, 'failed');
    return true;
  });
  // A job the device holds on to, canceled from another client.
  const other = client();
  const outcome = c.print('print-bad/0', 'never finishes', { onUpdate: (j) => (holdId = j.id) }).then(
    () => undefined,
    (e: Error & { code: string }) => e,
  );
  await eventually(() => holdId !== '' && d.received.has(holdId), 'the device got the job');
  await other.cancel(holdId);
  assert.equal((await outcome)?.code, 'JOB_CANCELED');
  d.dev.close();
});

test('subscribe() before the connection is open takes the opening snapshot: one subscribe, one snapshot', { timeout: 30_000 }, async () => {
  const c = client();
  let snapshots = 0;
  c.on('snapshot', () => snapshots++);
  const snap = await c.subscribe();
  assert.ok(Array.isArray(snap.devices));
  assert.equal(await c.ping(), 'pong'); // anything a second subscribe would have sent has arrived by now
  assert.equal(snapshots, 1);
});

test('the package exports resolve: printbridge/sdk is the ESM bundle', { timeout: 30_000 }, async () => {
  const name = 'printbridge/sdk';
  const viaExports = (await import(name)) as SdkModule;
  assert.equal(typeof viaExports.connect, 'function');
  assert.equal(typeof viaExports.LiveState, 'function');
});

test('subscribe() delivers a snapshot and then typed events', { timeout: 30_000 }, async () => {
  const c = client();
  await c.ready();
  const snap = await c.subscribe();
  assert.ok(Array.isArray(snap.devices) && Array.isArray(snap.printers) && Array.isArray(snap.jobs));
  const online = nextEvent(c, 'device.online', (d) => (d.id === 'events-1' ? d : undefined));
  const d = await printingDevice(t, 'events-1');
  const dev = await online;
  assert.equal(dev.online, true);
  const paperOut = nextEvent(c, 'printer.status', (p) => (p.id === 'events-1/0' && p.status === 'paper-out' ? p : undefined));
  d.status('paper-out', { detail: 'paper end sensor' });
  assert.equal((await paperOut).detail, 'paper end sensor');
  const delivered = nextEvent(c, 'control.delivered', (r) => r);
  const result = await c.identify('events-1', 3);
  assert.deepEqual(result.reports.map((r) => [r.device, r.status]), [['events-1', 'ok']]);
  assert.equal((await delivered).ref, result.ref);
  const offline = nextEvent(c, 'device.offline', (x) => (x.id === 'events-1' ? x : undefined));
  d.dev.close();
  assert.equal((await offline).online, false);
});

test('print() and submit() take {text} and {lines} with eol and encoding; a string with either goes as text', { timeout: 30_000 }, async () => {
  const d = await printingDevice(t, 'text-1');
  const c = client();
  const latin = await c.print('text-1/0', 'Grüße\nTotal', { encoding: 'latin1', eol: 'crlf' });
  assert.deepEqual(d.received.get(latin.id), Buffer.from('Grüße\r\nTotal', 'latin1'));
  const lines = ['A', 'B'];
  const printing = c.print('text-1/0', { lines }, { eol: 'crlf' });
  lines.push('added after the call');
  const fromLines = await printing;
  assert.equal(d.received.get(fromLines.id)!.toString('latin1'), 'A\r\nB\r\n', 'lines each end with eol; the call kept its own copy');
  const text = await c.print('text-1/0', { text: 'x\ny' }, { eol: 'none', encoding: 'cp437' });
  assert.equal(d.received.get(text.id)!.toString('latin1'), 'xy');
  const queued = await c.submit('text-1/0', { lines: ['é'] }, { encoding: 'cp437', key: 'sdk-text-key' });
  assert.equal(queued.size, 2, 'é is one byte in cp437, then lf');
  assert.equal((await c.submit('text-1/0', { lines: ['é'] }, { encoding: 'cp437', key: 'sdk-text-key' })).id, queued.id, 'same key, same job');
  await assert.rejects(c.print('text-1/0', { text: '€' }, { encoding: 'cp437' }), (e: Error & { code: string }) => e.code === 'UNENCODABLE');
  await assert.rejects(c.print('text-1/0', new Uint8Array([1]), { eol: 'crlf' }), TypeError);
  await assert.rejects(c.submit('text-1/0', { nothing: true } as never), TypeError);
  d.dev.close();
});

test('printer() and command(): the device gets the command, the caller the printer\'s answer', { timeout: 30_000 }, async () => {
  const dev = await FakeDevice.connect(t, 'cmd-1', registerDevice(t, 'cmd-1'), { ports: [{ port: 0, dialect: 'gcode', name: 'prusa' }] });
  const c = client();
  await eventually(async () => (await c.printers()).some((p) => p.id === 'cmd-1/0'), 'the printer is known');
  const p = await c.printer('cmd-1/0');
  assert.equal(p.dialect, 'gcode');
  await assert.rejects(c.printer('nobody/0'), (e: Error & { code: string }) => e.code === 'UNKNOWN_PRINTER');

  const answer = c.command('cmd-1/0', 'M105');
  const m = await dev.json((x) => x['t'] === 'control', 'control');
  assert.deepEqual(m['args'], { port: 0, data: 'M105' });
  dev.sendJson({ t: 'control.result', ref: m['ref'], ok: true, data: { lines: ['T:21.0 /0.0', 'ok'] } });
  const r = await answer;
  assert.deepEqual(r.lines, ['T:21.0 /0.0', 'ok']);
  assert.equal(r.printer, 'cmd-1/0');

  const urgent = c.command('cmd-1/0', new Uint8Array([0x4d, 0x31, 0x31, 0x32, 0xff]), { emergency: true, timeout: 2_000 });
  const m2 = await dev.json((x) => x['t'] === 'control', 'control');
  assert.deepEqual(m2['args'], { port: 0, data: 'M112\u00ff', emergency: true }, 'bytes go one per character');
  dev.sendJson({ t: 'control.result', ref: m2['ref'], ok: false, code: 'PORT_BUSY', message: 'printing' });
  await assert.rejects(urgent, (e: Error & { code: string }) => e.code === 'PORT_BUSY');
  dev.close();
});

test('clients(), the snapshot and the client.* events show who is connected; LiveState follows them', { timeout: 30_000 }, async () => {
  const watcher = client();
  const live = new sdk.LiveState(watcher);
  const snap = await watcher.subscribe();
  assert.ok((snap.clients ?? []).length >= 1, 'the snapshot lists the clients, the subscriber itself included');
  const before = new Set(live.clients.keys());
  const connected = nextEvent(watcher, 'client.connected');
  const other = client();
  await other.ready();
  const seen = await connected;
  assert.equal(seen.transport, 'ws');
  assert.equal(seen.token, 'admin');
  assert.ok(live.clients.has(seen.id) && !before.has(seen.id), 'LiveState added the new client');
  const listed = await watcher.clients();
  assert.ok(listed.some((x) => x.id === seen.id));
  assert.ok(listed.some((x) => x.subscribed), 'the watcher is listed as subscribed');
  const gone = nextEvent(watcher, 'client.disconnected', (x) => (x.id === seen.id ? x : undefined));
  await other.close();
  await gone;
  assert.ok(!live.clients.has(seen.id), 'LiveState dropped it');
  live.setClients(await watcher.clients());
  assert.deepEqual(live.clientList().map((x) => x.id), (await watcher.clients()).map((x) => x.id));
  live.detach();
});

test('issueToken() and revokeToken(): a client token connects, cannot issue, and is cut off when revoked', { timeout: 30_000 }, async () => {
  const c = client();
  const issued = await c.issueToken(60, 'sdk test');
  assert.equal(issued.label, 'sdk test');
  assert.ok(issued.expires > Date.now() && issued.expires <= Date.now() + 61_000);
  const holder = client({ token: issued.token });
  await holder.ready();
  await assert.rejects(holder.issueToken(), (e: Error & { code: string }) => e.code === 'FORBIDDEN');
  const stopped = nextEvent(holder, 'error');
  const revoked = await c.revokeToken(issued.id);
  assert.deepEqual(revoked, { id: issued.id, revoked: true, closed: 1 });
  assert.equal((await stopped).code, 'REVOKED');
  assert.equal(holder.state, 'closed');
});

test('reconnects after the link is cut, resubscribes and delivers a fresh snapshot', { timeout: 30_000 }, async () => {
  const proxy = await startTcpProxy(t.server.port);
  cleanups.push(() => proxy.close());
  const c = client({ url: `http://127.0.0.1:${proxy.port}`, subscribe: true });
  const first = await nextEvent(c, 'snapshot');
  assert.ok(Array.isArray(first.devices));
  await c.ready();

  const closed = nextEvent(c, 'close');
  const snapshotAgain = nextEvent(c, 'snapshot');
  const reopened = nextEvent(c, 'open', (o) => (o.reconnected ? o : undefined));
  // While the link is down, a device comes online: only the new snapshot can tell.
  proxy.setRefusing(true);
  const d = await printingDevice(t, 'while-away');
  const close = await closed;
  assert.equal(typeof close.retryIn, 'number');
  assert.ok(close.retryIn! >= 0 && close.retryIn! < 100, `retryIn ${close.retryIn} is inside the backoff window`);
  proxy.setRefusing(false);
  await reopened;
  const snap = await snapshotAgain;
  assert.ok(snap.devices.some((x) => x.id === 'while-away' && x.online), 'the fresh snapshot shows what happened while away');
  // Calls work again, and events flow (the subscription was renewed).
  assert.equal(await c.ping(), 'pong');
  const offline = nextEvent(c, 'device.offline', (x) => (x.id === 'while-away' ? x : undefined));
  d.dev.close();
  await offline;
});

test('a print survives a cut link: resubmitted under its key, printed once, resolved once', { timeout: 30_000 }, async () => {
  const proxy = await startTcpProxy(t.server.port);
  cleanups.push(() => proxy.close());
  const d = await printingDevice(t, 'cut-print', { outcome: () => ({ hold: true }) });
  const c = client({ url: `http://127.0.0.1:${proxy.port}` });
  await c.ready();
  let jobId = '';
  const printing = c.print('cut-print/0', 'survives', { onUpdate: (j) => (jobId = j.id) });
  await eventually(() => jobId !== '' && d.received.has(jobId), 'the device got the job');
  const reopened = nextEvent(c, 'open', (o) => (o.reconnected ? o : undefined));
  proxy.cut();
  await reopened;
  // The device finishes the job while the SDK is on its new connection.
  d.dev.sendJson({ t: 'job.done', id: jobId });
  const job = await printing;
  assert.equal(job.id, jobId);
  assert.equal(job.state, 'done');
  const all = await c.jobs({ printer: 'cut-print/0' });
  assert.equal(all.length, 1, 'the resubmission did not create a second job');
  d.dev.close();
});

test('requests made while disconnected wait for the connection; non-repeatable ones in flight fail with CONNECTION_LOST', { timeout: 30_000 }, async () => {
  const proxy = await startTcpProxy(t.server.port);
  cleanups.push(() => proxy.close());
  proxy.setRefusing(true);
  const c = client({ url: `http://127.0.0.1:${proxy.port}` });
  const devices = c.devices();
  await nextEvent(c, 'close');
  proxy.setRefusing(false);
  assert.ok(Array.isArray(await devices), 'the queued call went out once connected');
  assert.equal(c.state, 'open');

  // A device that never answers control messages keeps a control.send in flight.
  const token = registerDevice(t, 'mute');
  const mute = await FakeDevice.connect(t, 'mute', token);
  const control = c.control('mute', 'identify', {}, { timeout: 30_000 }).then(
    () => undefined,
    (e: Error & { code: string }) => e,
  );
  await mute.json((m) => m['t'] === 'control', 'the control message');
  const list = c.jobs();
  proxy.cut();
  assert.equal((await control)?.code, 'CONNECTION_LOST', 'control.send may have been carried out: not repeated');
  assert.ok(Array.isArray(await list), 'a read in flight is repeated on the next connection');
  mute.close();
});

/** A plain WebSocket server that answers hello (if asked to) and nothing else. */
async function silentServer(answerHello: boolean): Promise<{ port: number; connections: () => number }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { id: number; op: string };
      if (answerHello && m.op === 'hello') ws.send(JSON.stringify({ re: m.id, ok: true, result: { server: 'silent', version: '0', v: [1, 1] } }));
    });
  });
  return { port: (wss.address() as { port: number }).port, connections: () => connections };
}

test('an unanswered hello fails the opening: the socket is dropped and a fresh one tried', { timeout: 30_000 }, async () => {
  const s = await silentServer(false);
  const c = client({ url: `ws://127.0.0.1:${s.port}`, timeout: 300 });
  await eventually(() => s.connections() >= 2, 'a fresh socket after the unanswered hello');
  assert.notEqual(c.state, 'open');
  await c.close();
  assert.equal(c.state, 'closed');
  await assert.rejects(c.ping(), (e: Error & { code: string }) => e.code === 'CLOSED');
});

test('per-call timeout, and the heartbeat drops a connection whose pings go unanswered', { timeout: 30_000 }, async () => {
  const s = await silentServer(true);
  const c = client({ url: `ws://127.0.0.1:${s.port}`, timeout: 300, heartbeat: 200 });
  await c.ready();
  assert.equal(c.server?.server, 'silent');
  await assert.rejects(c.ping(), (e: Error & { code: string }) => e.code === 'TIMEOUT');
  // Idle 200 ms → ping → no answer in 300 ms → the socket is given up and another opened.
  await eventually(() => s.connections() >= 2, 'a reconnect after the unanswered heartbeat');
  await c.close();
});

test('a close code that forbids retrying stops the client with that code', { timeout: 30_000 }, async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    ws.close(4006, 'revoked');
  });
  const port = (wss.address() as { port: number }).port;
  const c = client({ url: `ws://127.0.0.1:${port}` });
  const error = await nextEvent(c, 'error');
  assert.equal(error.code, 'REVOKED');
  assert.equal(c.state, 'closed');
  assert.equal(connections, 1);
});

test('a wrong token never opens; the client keeps retrying with backoff until closed', { timeout: 30_000 }, async () => {
  const c = client({ token: 'wrong' });
  const closes: number[] = [];
  c.on('close', (e) => closes.push(e.retryIn ?? -1));
  await eventually(() => closes.length >= 3, 'three refused attempts');
  assert.ok(closes.every((d) => d >= 0 && d < 100));
  assert.notEqual(c.state, 'open');
  await c.close();
  assert.equal(c.state, 'closed');
});

test('the classic script defines the global printbridge', { timeout: 30_000 }, () => {
  const context = createContext({});
  runInContext(readFileSync(SDK_CLASSIC, 'utf8'), context);
  const pb = (context as { printbridge?: Partial<SdkModule> }).printbridge;
  assert.equal(typeof pb?.connect, 'function');
  assert.equal(typeof pb?.testPage, 'function');
  assert.throws(() => pb!.connect!({ token: 'x' }), /WebSocket|url/);
});

test('encoding and backoff: base64 and UTF-8 agree with Node, delays stay inside the capped window', { timeout: 30_000 }, () => {
  for (const n of [0, 1, 2, 3, 4, 1000, 65_537]) {
    const bytes = new Uint8Array(n).map((_, i) => (i * 31 + n) & 255);
    assert.equal(sdk.base64(bytes), Buffer.from(bytes).toString('base64'), `base64 of ${n} bytes`);
  }
  for (const s of ['', 'abc', 'Grüße', '✓ 🍕 \u{10FFFF}', 'lone \ud800 surrogate']) assert.deepEqual(Buffer.from(sdk.utf8(s)), Buffer.from(s, 'utf8'));
  assert.equal(sdk.backoffWindow(0, { base: 500, max: 30_000 }), 500);
  assert.equal(sdk.backoffWindow(3, { base: 500, max: 30_000 }), 4000);
  assert.equal(sdk.backoffWindow(50, { base: 500, max: 30_000 }), 30_000);
  assert.equal(sdk.backoffDelay(3, () => 0.999, { base: 500, max: 30_000 }), 3996);
  assert.equal(sdk.backoffDelay(3, () => 0, { base: 500, max: 30_000 }), 0);
  assert.equal(sdk.clientUrl('https://x.example/pb/', 'a b', undefined), 'wss://x.example/pb/v1/client?token=a%20b');
  assert.equal(sdk.clientUrl('/v1/client', 't', 'ws://here:1'), 'ws://here:1/v1/client?token=t');
});

test('a device removed while offline leaves LiveState with its printers, and the event says which', { timeout: 30_000 }, async () => {
  const watcher = client();
  const live = new sdk.LiveState(watcher);
  const token = registerDevice(t, 'leaving-1', []);
  const dev = await FakeDevice.connect(t, 'leaving-1', token, { ports: [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'zpl' }] });
  dev.close();
  await watcher.subscribe();
  await eventually(() => live.devices.get('leaving-1')?.online === false && live.printers.has('leaving-1/1'), 'the offline device and its printers are known');
  const removed = nextEvent(watcher, 'device.removed');
  await watcher.request('device.remove', { device: 'leaving-1' });
  const last = await removed;
  assert.equal(last.id, 'leaving-1');
  assert.deepEqual(last.ports.map((p) => p.port), [0, 1]);
  assert.ok(!live.devices.has('leaving-1'), 'LiveState dropped the device');
  assert.ok(!live.printers.has('leaving-1/0') && !live.printers.has('leaving-1/1'), 'and its printers');
  live.detach();
});
