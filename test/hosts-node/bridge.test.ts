// runBridge, the Node host, against a scripted server on a real WebSocket and
// the printer emulator on a real TCP port. The server side here speaks the
// device protocol by hand so a test can see every message and upgrade.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { after, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { createServer as createNetServer } from 'node:net';
import { runBridge, type Bridge } from '../../device/hosts/node/bridge.js';
import { socketFailure } from '../../device/hosts/node/device-socket.js';
import type { LogLevel } from '../../device/core/types.js';
import { decodeDeviceMessage, encodeServerMessage, type DeviceMessage, type ServerMessage } from '../../protocol/device-messages.js';
import { encodeDataFrame } from '../../protocol/frames.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { Processes } from '../helpers/processes.js';
import { fileHash, received, sha256, tcpEmulator, tempDir } from '../tools/emulator-fixture.js';

const FAST = { backoffBase: 20, backoffCap: 100 };

const procs = new Processes();
const tmp = tempDir();
const bridges: Bridge[] = [];
const servers: WebSocketServer[] = [];
after(async () => {
  await Promise.all(bridges.map((b) => b.stop()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await procs.killAll();
  tmp.cleanup();
});

/** One device connection as the scripted server sees it. */
class Session {
  readonly messages: DeviceMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket, readonly request: IncomingMessage) {
    ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false, 'devices send text only');
      const m = decodeDeviceMessage(data.toString());
      assert.ok(m.ok, `device sent a valid message: ${data.toString()}`);
      this.messages.push(m.value);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  send(m: ServerMessage): void {
    this.ws.send(encodeServerMessage(m));
  }

  next<T extends DeviceMessage['t']>(t: T, from = 0): Promise<Extract<DeviceMessage, { t: T }>> {
    return this.until(() => this.messages.slice(from).find((m) => m.t === t) as Extract<DeviceMessage, { t: T }> | undefined, t);
  }

  until<T>(probe: () => T | undefined, what: string, timeout = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages.map((m) => m.t))}`)), timeout);
      this.waiters.add(check);
      check();
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** `refuse(n)` may turn the n-th upgrade (from 1) down with an HTTP status. */
async function scriptedServer(
  refuse?: (n: number) => number | undefined,
): Promise<{ url: string; sessions: Session[]; upgrades: () => number; nextSession(count: number): Promise<Session> }> {
  let upgrades = 0;
  const wss = new WebSocketServer({
    host: '127.0.0.1', port: 0,
    verifyClient: (_info, done) => {
      upgrades++;
      const status = refuse?.(upgrades);
      if (status === undefined) done(true);
      else done(false, status, 'refused by the test');
    },
  });
  servers.push(wss);
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const sessions: Session[] = [];
  const waiters = new Set<() => void>();
  wss.on('connection', (ws, req) => {
    sessions.push(new Session(ws, req));
    for (const w of [...waiters]) w();
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    sessions,
    upgrades: () => upgrades,
    nextSession: (count) =>
      new Promise((resolve) => {
        const check = (): void => {
          const s = sessions[count - 1];
          if (s) {
            waiters.delete(check);
            resolve(s);
          }
        };
        waiters.add(check);
        check();
      }),
  };
}

function welcome(s: Session): void {
  s.send({ t: 'welcome', v: PROTOCOL_VERSION, hb: 25_000, time: Date.now() });
}

async function start(server: string, printerPort: number, settingsPath?: string, logs?: string[]): Promise<Bridge> {
  const bridge = await runBridge({
    server,
    ...(settingsPath === undefined ? {} : { settingsPath }),
    id: 'node-1',
    token: 'secret-token',
    printers: [{ uri: `tcp://127.0.0.1:${printerPort}`, dialect: 'escpos', name: 'front', poll: 0 }],
    timings: FAST,
    log: (level: LogLevel, message: string) => {
      logs?.push(`${level}: ${message}`);
      if (process.env['PRINTBRIDGE_DEBUG']) console.error(`${level}: ${message}`);
    },
  });
  bridges.push(bridge);
  return bridge;
}

test('connects with the token in a header, says hello, and prints a job byte for byte', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const server = await scriptedServer();
  const bridge = await start(server.url, emu.port);
  const s = await server.nextSession(1);

  assert.equal(s.request.headers.authorization, 'Bearer secret-token');
  assert.match(s.request.url ?? '', /^\/v1\/device\b/);
  const hello = await s.next('hello');
  assert.equal(hello.id, 'node-1');
  assert.deepEqual(hello.ports.map((p) => [p.port, p.dialect, p.name]), [[0, 'escpos', 'front']]);
  welcome(s);

  const payload = randomBytes(256 * 1024);
  s.send({ t: 'job.start', id: 'job-1', stream: 7, port: 0, size: payload.length });
  const accept = await s.next('job.accept');
  assert.deepEqual([accept.received, accept.written, accept.fresh], [0, 0, true]);

  // Stream under the credit window the device announced, as the server does.
  let sent = 0;
  let acked = 0;
  const pump = (): void => {
    while (sent < payload.length && sent - acked < hello.window) {
      const n = Math.min(hello.maxChunk, payload.length - sent, hello.window - (sent - acked));
      s.ws.send(encodeDataFrame(7, sent, payload.subarray(sent, sent + n)));
      sent += n;
    }
  };
  s.ws.on('message', (data) => {
    const m = decodeDeviceMessage(data.toString());
    if (m.ok && m.value.t === 'job.ack') {
      acked = m.value.written;
      pump();
    }
  });
  pump();

  await s.next('job.done');
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));

  const snap = bridge.snapshot();
  assert.equal(snap.link, 'online');
  assert.equal(snap.socket, 'open');
  assert.equal(snap.led, 'online');
  assert.deepEqual(snap.printers.map((p) => [p.port, p.label, p.open]), [[0, `tcp://127.0.0.1:${emu.port}`, true]]);
});

test('a lost connection is replaced by a new socket that says hello again', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const server = await scriptedServer();
  await start(server.url, emu.port);
  const first = await server.nextSession(1);
  await first.next('hello');
  welcome(first);
  first.ws.close(1001, 'server going away');

  const second = await server.nextSession(2);
  assert.notEqual(second.ws, first.ws);
  await second.next('hello');
  assert.equal(second.request.headers.authorization, 'Bearer secret-token');
});

test('reports the printer port state to the server', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const server = await scriptedServer();
  await start(server.url, emu.port);
  const s = await server.nextSession(1);
  await s.next('hello');
  welcome(s);
  const status = await s.until(
    () => s.messages.find((m): m is Extract<DeviceMessage, { t: 'status' }> => m.t === 'status' && m.ports[0]?.state === 'online'),
    'a status with port 0 online',
  );
  assert.equal(status.ports[0]?.port, 0);
});

test('stop() closes the socket and the printer connection and leaves no timer', async () => {
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const emu = await tcpEmulator(procs, tmp.dir);
  const server = await scriptedServer();
  const bridge = await start(server.url, emu.port);
  const s = await server.nextSession(1);
  await s.next('hello');
  welcome(s);
  await emu.proc.waitForEvent('connected');

  await bridge.stop();
  await s.until(() => s.closed, 'the server to see the close');
  assert.equal(s.closed?.code, 1001);
  await emu.proc.waitForEvent('disconnected');
  assert.equal(timers(), before, 'no timer left running');
  assert.equal(bridge.snapshot().socket, 'none');
});

test('settings from a config control are saved to the settings file', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const server = await scriptedServer();
  const settings = join(tmp.dir, 'settings-a.json');
  await start(server.url, emu.port, settings);
  const s = await server.nextSession(1);
  await s.next('hello');
  welcome(s);
  s.send({ t: 'control', ref: 'c1', name: 'config', args: { location: 'front desk' } });
  const result = await s.until(() => s.messages.find((m) => m.t === 'control.result' && m.ref === 'c1'), 'control.result');
  assert.equal(result.t === 'control.result' && result.ok, true);
  assert.deepEqual(JSON.parse(readFileSync(settings, 'utf8')), { location: 'front desk' });
});

test('saved settings win over the options the bridge was started with', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const configured = await scriptedServer();
  const saved = await scriptedServer();
  const settings = join(tmp.dir, 'settings-b.json');
  writeFileSync(settings, JSON.stringify({ server: saved.url }));
  await start(configured.url, emu.port, settings);
  const s = await saved.nextSession(1);
  await s.next('hello');
  assert.equal(configured.sessions.length, 0);
});

test('a restart control drops the socket and starts over with a new one', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const server = await scriptedServer();
  await start(server.url, emu.port);
  const first = await server.nextSession(1);
  await first.next('hello');
  welcome(first);
  first.send({ t: 'control', ref: 'r1', name: 'restart', args: {} });
  await first.until(() => first.messages.find((m) => m.t === 'control.result' && m.ref === 'r1'), 'control.result');
  await first.until(() => first.closed, 'the old socket to close');
  const second = await server.nextSession(2);
  await second.next('hello');
});

test('an upgrade refused with HTTP 401 reaches the core with its status, and the bridge keeps trying', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const server = await scriptedServer((n) => (n <= 2 ? 401 : undefined));
  const logs: string[] = [];
  const bridge = await start(server.url, emu.port, undefined, logs);
  const s = await server.nextSession(1);
  await s.next('hello');
  assert.equal(server.upgrades(), 3);
  // Two refusals within a minute: said once.
  const refusals = logs.filter((l) => l.startsWith('error: ') && l.includes('HTTP 401') && l.includes('unknown id or wrong token'));
  assert.equal(refusals.length, 1, logs.join('\n'));
  assert.ok(!logs.some((l) => l.includes('secret-token')), 'the token is never logged');
  welcome(s);
  await eventually(() => (bridge.snapshot().link === 'online' ? true : undefined), 'online');
  assert.deepEqual({ ...bridge.snapshot().problem, message: undefined }, { cause: 'unauthorized', message: undefined, attempts: 2 });
});

/** Polls `probe` until it gives a value. */
async function eventually<T>(probe: () => T | undefined, what: string, timeout = 10_000): Promise<T> {
  const end = Date.now() + timeout;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A port on 127.0.0.1 where nothing listens (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

const SOCKET_FAILURES: ReadonlyArray<{ what: string; url: () => Promise<string>; cause: string; says: RegExp }> = [
  { what: 'a closed port', url: async () => `ws://127.0.0.1:${await closedPort()}`, cause: 'unreachable', says: /cannot reach the server at ws:\/\/127\.0\.0\.1:\d+ \(connection refused/ },
  { what: 'a host name that does not resolve', url: async () => 'ws://no-such-host.invalid:8080', cause: 'unreachable', says: /host name not found/ },
  { what: 'wss:// to a server without TLS', url: async () => (await scriptedServer()).url.replace('ws://', 'wss://'), cause: 'tls', says: /TLS with the server at wss:.* failed/ },
  { what: 'a server that answers 404', url: async () => (await scriptedServer(() => 404)).url, cause: 'rejected', says: /answered HTTP 404/ },
];

for (const f of SOCKET_FAILURES) {
  test(`${f.what}: the host's failure reaches the core as '${f.cause}', said once however often it retries`, async () => {
    const emu = await tcpEmulator(procs, tmp.dir);
    const logs: string[] = [];
    const bridge = await start(await f.url(), emu.port, undefined, logs);
    await eventually(() => bridge.snapshot().problem, 'a diagnosis');
    // With a 100 ms backoff cap it tries many times in a second.
    await eventually(() => ((bridge.snapshot().problem?.attempts ?? 0) >= 5 ? true : undefined), 'five attempts');
    const snap = bridge.snapshot();
    assert.equal(snap.problem?.cause, f.cause, snap.problem?.message);
    assert.match(snap.problem?.message ?? '', f.says);
    const said = logs.filter((l) => l.startsWith('warn: ') || l.startsWith('error: '));
    assert.equal(said.length, 1, said.join('\n'));
    await bridge.stop();
  });
}

test('socketFailure maps Node\'s error codes to the core\'s socket failures', () => {
  const err = (code: string | undefined, message = 'x'): NodeJS.ErrnoException => Object.assign(new Error(message), code === undefined ? {} : { code });
  assert.equal(socketFailure(err('ECONNREFUSED')), 'refused');
  assert.equal(socketFailure(err('ENOTFOUND')), 'dns');
  assert.equal(socketFailure(err('EAI_AGAIN')), 'dns');
  assert.equal(socketFailure(err('ETIMEDOUT')), 'timeout');
  assert.equal(socketFailure(err('EHOSTUNREACH')), 'unreachable');
  assert.equal(socketFailure(err('ENETUNREACH')), 'unreachable');
  for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_WRONG_VERSION_NUMBER']) {
    assert.equal(socketFailure(err(code)), 'tls', code);
  }
  assert.equal(socketFailure(err('EPROTO', 'error:0A00010B:SSL routines::wrong version number')), 'tls');
  assert.equal(socketFailure(err('ECONNRESET', 'Client network socket disconnected before secure TLS connection was established')), 'tls');
  assert.equal(socketFailure(err('ECONNRESET', 'socket hang up')), undefined);
  assert.equal(socketFailure(err(undefined, 'Unexpected server response')), undefined);
});

test('a REPLACED close stops the link: one warning naming 4001, and no new socket', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const server = await scriptedServer();
  const logs: string[] = [];
  const bridge = await start(server.url, emu.port, undefined, logs);
  const s = await server.nextSession(1);
  await s.next('hello');
  welcome(s);
  await s.next('status');
  s.ws.close(4001, 'replaced');
  await s.until(() => (bridge.snapshot().link === 'stopped' ? true : undefined), 'the link to stop');
  // With a 100 ms backoff cap, a bridge that went on would have come back many times by now.
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(server.upgrades(), 1);
  assert.equal(bridge.snapshot().link, 'stopped');
  assert.equal(bridge.snapshot().led, 'refused');
  assert.equal(logs.filter((l) => l.startsWith('error: ') && l.includes('4001 REPLACED')).length, 1, logs.join('\n'));
  assert.equal(bridge.snapshot().problem?.cause, 'replaced');
});
