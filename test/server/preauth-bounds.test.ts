// What a stranger can make the server hold before it knows who they are:
// Printerlynx /api/v1/ws connections before their authentication message
// (small frames, a deadline, a cap shared with every client listener that
// never keeps an authenticated user out), and HTTP connections that never
// finish their request head (a timeout and a cap). Real sockets on 127.0.0.1;
// the memory test runs `printbridge serve` as a process and reads its RSS.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CLOSE } from '../../protocol/errors.js';
import { DEFAULT_LIMITS } from '../../server/limits.js';
import { Processes } from '../helpers/processes.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { createTestPki } from '../helpers/tls-certs.js';
import { Conn, eventually, refusedStatus } from './peers.js';

const ADMIN = 'test-admin-token';
const procs = new Processes();
after(() => procs.killAll());

/** A raw TCP connection that has done the WebSocket handshake by hand, and what came back after it. */
interface RawWs {
  socket: Socket;
  /** Bytes after the 101 response: the server's frames. */
  frames: Buffer<ArrayBufferLike>;
  closed: Promise<void>;
  isClosed: boolean;
}

async function rawUpgrade(port: number, path: string): Promise<RawWs> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const raw: RawWs = { socket, frames: Buffer.alloc(0), closed: once(socket, 'close').then(() => undefined), isClosed: false };
  void raw.closed.then(() => (raw.isClosed = true));
  let head: Buffer | undefined = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      if (head === undefined) return void (raw.frames = Buffer.concat([raw.frames, chunk]));
      const got: Buffer = Buffer.concat([head, chunk]);
      head = got;
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = got.subarray(0, got.indexOf('\r\n')).toString();
      if (!status.includes(' 101 ')) return reject(new Error(`upgrade refused: ${status}`));
      raw.frames = Buffer.from(got.subarray(end + 4));
      head = undefined;
      resolve();
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed during the handshake')));
  });
  return raw;
}

/** The header of a masked text frame announcing `length` payload bytes. */
function frameHeader(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  randomBytes(4).copy(header, 10);
  return header;
}

/** The close code of the first close frame the server sent, if any. */
function closeCode(frames: Buffer): number | undefined {
  return frames.length >= 4 && frames[0] === 0x88 ? frames.readUInt16BE(2) : undefined;
}

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]) * 1024;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `promise`, or a failure saying `why()` if it takes longer than `ms`. */
async function within<T>(ms: number, promise: Promise<T>, why: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why())), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function withServer(opts: Parameters<typeof startTestServer>[0], run: (t: TestServer) => Promise<void>): Promise<void> {
  const t = await startTestServer(opts);
  try {
    await run(t);
  } finally {
    await t.close();
  }
}

test('100 unauthenticated Printerlynx sockets each sending a 1 MiB frame cost the server little memory and are closed with 1009', async () => {
  const dir = tempDir('printbridge-preauth-');
  try {
    const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'data'), '--json'], {
      env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN },
    });
    const { port } = await serve.waitForEvent<{ port: number }>('listening');
    const pid = serve.pid!;
    // Warm up the paths taken below so that loading their code is not counted as growth.
    for (let i = 0; i < 5; i++) {
      const warm = await rawUpgrade(port, '/api/v1/ws');
      warm.socket.write(frameHeader(1024 * 1024));
      await warm.closed;
    }
    await sleep(300);
    const before = rssBytes(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
    try {
      const MiB = 1024 * 1024;
      const sockets = await Promise.all(Array.from({ length: 100 }, () => rawUpgrade(port, '/api/v1/ws')));
      const started = Date.now();
      // All of the frame but its last byte: a server that buffers frames of
      // this size has to hold each of them until its end arrives.
      const body = randomBytes(MiB - 1);
      for (const s of sockets) {
        s.socket.write(frameHeader(MiB));
        s.socket.write(body);
      }
      // Well before the 10 s login deadline, which would also close them.
      await within(5000, Promise.all(sockets.map((s) => s.closed)), () => {
        const growth = Math.max(peak, rssBytes(pid)) - before;
        return `${sockets.filter((s) => !s.isClosed).length} of 100 sockets still open after 5 s; RSS grew by ${(growth / MiB).toFixed(1)} MiB`;
      });
      const elapsed = Date.now() - started;
      const codes = new Set(sockets.map((s) => closeCode(s.frames)));
      assert.deepEqual([...codes], [CLOSE.TOO_BIG.code], 'each is refused from its frame header with 1009');
      peak = Math.max(peak, rssBytes(pid));
      const growth = peak - before;
      process.stdout.write(`# RSS before ${(before / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB (+${(growth / MiB).toFixed(1)} MiB), all closed in ${elapsed} ms\n`);
      // 100 MiB arrived; a server that buffered it would grow by at least that.
      assert.ok(growth < 40 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
    } finally {
      clearInterval(sampler);
      await serve.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a pre-auth socket is held to small frames; once authenticated it takes large ones', async () => {
  await withServer({}, async (t) => {
    const stranger = await Conn.open(t.wsUrl('/api/v1/ws'));
    stranger.sendRaw(JSON.stringify({ type: 'authentication', data: { token: 'x'.repeat(DEFAULT_LIMITS.maxPreAuthFrame) } })); // just over it with the JSON around
    assert.equal(await stranger.closeCode(), CLOSE.TOO_BIG.code);

    const user = await Conn.open(t.wsUrl('/api/v1/ws'));
    user.sendJson({ type: 'authentication', data: { token: ADMIN } });
    const auth = await user.json((m) => m['type'] === 'authentication');
    assert.equal((auth['data'] as Record<string, unknown>)['status'], 'OK');
    // 64 KiB, far over the pre-auth bound: answered (no such printer), not closed.
    user.sendJson({ type: 'print_job', data: { type: 'START', printer_uuid: 'nobody/0', file: 'G28\n'.repeat(16 * 1024) } });
    const reply = await user.json((m) => m['type'] === 'print_job');
    assert.equal((reply['data'] as Record<string, unknown>)['code'], 'UNKNOWN_PRINTER');
    user.close();
  });
});

test('pre-auth sockets have their own cap (the oldest gives way, 1013) and a login deadline (4003) that frees their slots', async () => {
  await withServer({ helloTimeoutMs: 600, limits: { maxPreAuthClients: 3 } }, async (t) => {
    const idle = [];
    for (let i = 0; i < 3; i++) idle.push(await Conn.open(t.wsUrl('/api/v1/ws')));
    const newest = await Conn.open(t.wsUrl('/api/v1/ws'));
    assert.equal(await idle[0]!.closeCode(), CLOSE.TRY_AGAIN.code, 'the oldest pre-auth socket made room');
    const started = Date.now();
    for (const c of [idle[1]!, idle[2]!, newest]) assert.equal(await c.closeCode(), CLOSE.HELLO_TIMEOUT.code);
    assert.ok(Date.now() - started < 3000, 'closed at the deadline');
    // Their slots are free: three more fit without anyone being evicted.
    const again = [];
    for (let i = 0; i < 3; i++) again.push(await Conn.open(t.wsUrl('/api/v1/ws')));
    await sleep(100);
    for (const c of again) assert.equal(c.ws.readyState, c.ws.OPEN);
    for (const c of again) c.terminate();
  });
});

test('with every client slot held by idle pre-auth sockets, authenticated users of every endpoint still get in; the bound is shared across listeners', async () => {
  await withServer({ limits: { maxClients: 4, maxPreAuthClients: 4 }, compat: { port: 0 } }, async (t) => {
    const idle = [];
    for (let i = 0; i < 4; i++) idle.push(await Conn.open(t.wsUrl('/api/v1/ws')));

    // A Printerlynx user: its own pre-auth slot is made by evicting the oldest idle one.
    const lynx = await Conn.open(t.wsUrl('/api/v1/ws'));
    lynx.sendJson({ type: 'authentication', data: { token: ADMIN } });
    const auth = await lynx.json((m) => m['type'] === 'authentication');
    assert.equal((auth['data'] as Record<string, unknown>)['status'], 'OK');

    // /v1/client, authenticated in its upgrade, also takes an idle socket's slot.
    const client = await Conn.open(t.wsUrl('/v1/client'), { headers: { authorization: `Bearer ${ADMIN}` } });
    client.sendJson({ op: 'ping', id: 1 });
    assert.equal((await client.json((m) => m['re'] === 1))['result'], 'pong');

    const rest = await fetch(`${t.server.url}/api/v1/printers`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(rest.status, 200);
    await rest.arrayBuffer();
    assert.equal((await fetch(`${t.server.url}/healthz`)).status, 200);

    const evicted = await Promise.all(idle.slice(0, 2).map((c) => c.closeCode()));
    assert.deepEqual(evicted, [CLOSE.TRY_AGAIN.code, CLOSE.TRY_AGAIN.code]);

    // Two more authenticated clients fill the bound (evicting the last idle ones) ...
    const more = [
      await Conn.open(t.wsUrl('/v1/client'), { headers: { authorization: `Bearer ${ADMIN}` } }),
      await Conn.open(`ws://127.0.0.1:${t.server.compat?.port}/`),
    ];
    // ... which is one bound for every listener: the next one, on any of them, is refused.
    assert.equal(await refusedStatus(t.wsUrl('/v1/client'), { headers: { authorization: `Bearer ${ADMIN}` } }), 503);
    assert.equal(await refusedStatus(`ws://127.0.0.1:${t.server.compat?.port}/`), 503);
    assert.equal(await refusedStatus(t.wsUrl('/api/v1/ws')), 503);
    for (const c of [lynx, client, ...more]) c.terminate();
    // Closed connections give their slots back.
    await eventually(() => adminGetsIn(t), 'a slot is free again');
  });
});

test('slow openers (request head never finished) are capped in number and dropped after the head timeout', async () => {
  await withServer({ limits: { headersTimeoutMs: 800, maxPendingHttp: 20 } }, async (t) => {
    const sockets: { socket: Socket; closed: boolean }[] = [];
    for (let i = 0; i < 60; i++) {
      const socket = connect(t.server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      const entry = { socket, closed: false };
      socket.once('close', () => (entry.closed = true));
      sockets.push(entry);
    }
    const started = Date.now();
    await eventually(() => sockets.filter((s) => !s.closed).length <= 20, 'at most 20 slow openers held');
    // Everyone else is still served meanwhile.
    const health = await fetch(`${t.server.url}/healthz`);
    assert.equal(health.status, 200);
    await health.arrayBuffer();
    await within(5000, Promise.all(sockets.map((s) => (s.closed ? undefined : once(s.socket, 'close')))), () => `${sockets.filter((s) => !s.closed).length} slow openers still held after 5 s`);
    process.stdout.write(`# 60 slow openers: all dropped ${Date.now() - started} ms after the last one opened\n`);
  });
});

test('a request whose body trickles is dropped at the request timeout', async () => {
  await withServer({ limits: { headersTimeoutMs: 400, requestTimeoutMs: 800 } }, async (t) => {
    const socket = connect(t.server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const started = Date.now();
    socket.write(`POST /api/v1/jobs?printer=nobody/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n`);
    const trickle = setInterval(() => socket.write('x'), 100);
    try {
      await within(5000, once(socket, 'close'), () => 'the slow request was still open after 5 s');
    } finally {
      clearInterval(trickle);
    }
    assert.ok(Date.now() - started >= 700, 'not before its time');
  });
});

test('over TLS, connections that never finish their handshake are slow openers too; a served client is never taken for one', async () => {
  const dir = tempDir('printbridge-preauth-tls-');
  try {
    const pki = createTestPki(dir);
    const ca = readFileSync(pki.caCert);
    await withServer({ tls: pki.issue('server', 1), limits: { maxPendingHttp: 10 } }, async (t) => {
      const user = await Conn.open(t.wsUrl('/v1/client').replace('ws:', 'wss:'), { ca, headers: { authorization: `Bearer ${ADMIN}` } });
      const sockets: { socket: Socket; closed: boolean }[] = [];
      for (let i = 0; i < 30; i++) {
        const socket = connect(t.server.port, '127.0.0.1');
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        const entry = { socket, closed: false };
        socket.once('close', () => (entry.closed = true));
        sockets.push(entry);
      }
      await eventually(() => sockets.filter((s) => !s.closed).length <= 10, 'at most 10 silent TLS openers held');
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest(`${t.server.url}/healthz`, { ca, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 200);
      user.sendJson({ op: 'ping', id: 1 });
      assert.equal((await user.json((m) => m['re'] === 1))['result'], 'pong', 'the authenticated wss client was not dropped as a slow opener');
      for (const s of sockets) s.socket.destroy();
      user.close();
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the listener holds at most maxConnections sockets; more are dropped at once', async () => {
  await withServer({ limits: { maxConnections: 5 } }, async (t) => {
    const held = [];
    for (let i = 0; i < 5; i++) held.push(await Conn.open(t.wsUrl('/v1/client'), { headers: { authorization: `Bearer ${ADMIN}` } }));
    await assert.rejects(Conn.open(t.wsUrl('/v1/client'), { headers: { authorization: `Bearer ${ADMIN}` } }));
    held[0]!.terminate();
    await held[0]!.closed;
    await eventually(() => adminGetsIn(t), 'room again once one closed');
    for (const c of held) c.terminate();
  });
});

/** Whether an admin's /v1/client connection is let in now (it is closed again at once). */
async function adminGetsIn(t: TestServer): Promise<boolean> {
  try {
    (await Conn.open(t.wsUrl('/v1/client'), { headers: { authorization: `Bearer ${ADMIN}` } })).terminate();
    return true;
  } catch {
    return false;
  }
}
