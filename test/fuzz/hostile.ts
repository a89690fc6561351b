// Hostile peers for the live fuzz (live-server.test.ts): each one loops
// until a deadline, sending seeded random input to one of the server's
// endpoints, reconnecting whenever the server closes it, and counts what
// happened. None of them asserts anything: being refused, closed or rate
// limited is the server doing its job. The test asserts what the
// well-behaved peers saw meanwhile.

import { connect } from 'node:net';
import { request } from 'node:http';
import fc from 'fast-check';
import WebSocket from 'ws';
import { encodeDataFrame } from '../../protocol/frames.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { deepText, hostileText, keyArb, messageText, mutated, objectText, valueText } from './arbitraries.js';
import { CLIENT_FIELDS, CLIENT_OPS, clientRequest, DEVICE_FIELDS, DEVICE_TYPES, deviceMessage } from './vocabulary.js';

export interface HostileContext {
  host: string;
  port: number;
  compatPort: number;
  /** A client token: what a page on the internet, or a stolen token, may hold. */
  clientToken: string;
  /** Printers the hostile input names: the hostile devices' and ones nobody has. Never the well-behaved client's. */
  printers: readonly string[];
  until: number;
}

/** What one hostile peer did: for the test's diagnostics and to prove it ran. */
export interface HostileStats {
  name: string;
  /** Messages, requests or connections sent. */
  sent: number;
  /** Answers of any kind: replies, HTTP statuses, closes. */
  answered: number;
  /** How the server ended connections (close code or HTTP status), and how often. */
  outcomes: Record<string, number>;
  /** Server answers that mean our fault, not the peer's (HTTP 500): reported by the test. */
  serverFaults: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function stats(name: string): HostileStats {
  return { name, sent: 0, answered: 0, outcomes: {}, serverFaults: [] };
}

function count(s: HostileStats, outcome: string | number): void {
  const key = String(outcome);
  s.outcomes[key] = (s.outcomes[key] ?? 0) + 1;
}

/** An endless seeded stream of values from `arb`. */
export function stream<T>(arb: fc.Arbitrary<T>, seed: number): () => T {
  let batch: T[] = [];
  let round = 0;
  return () => {
    if (batch.length === 0) batch = fc.sample(arb, { seed: seed + round++, numRuns: 50 });
    return batch.pop() as T;
  };
}

const binary = fc.uint8Array({ maxLength: 600 });

/** Opens a WebSocket; resolves with it once open, or with the HTTP status (or error) that refused it. */
function open(url: string): Promise<WebSocket | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: 5000 });
    ws.on('error', () => resolve('error'));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(`http ${res.statusCode ?? 0}`);
      ws.terminate();
    });
    ws.once('open', () => resolve(ws));
  });
}

/** Resolves when `ws` closes, with its code; counts every message it gets. */
function closed(ws: WebSocket, s: HostileStats): Promise<number> {
  ws.on('message', () => {
    s.answered += 1;
  });
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

/** Sends bursts from `next` for a few seconds, until the deadline or until the server closes; counts how it ended. */
async function barrage(ws: WebSocket, s: HostileStats, until: number, next: () => string | Uint8Array, burst = 8): Promise<void> {
  let code: number | undefined;
  const done = closed(ws, s).then((c) => {
    code = c;
  });
  const limitAt = Math.min(until, Date.now() + 2000 + Math.random() * 3000);
  while (ws.readyState === WebSocket.OPEN && Date.now() < limitAt) {
    for (let i = 0; i < burst && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(next());
      s.sent += 1;
    }
    await sleep(5 + Math.random() * 15);
  }
  // Still open: our time is up. Otherwise the server is closing it; its close code says why.
  const ours = ws.readyState === WebSocket.OPEN;
  if (ours) ws.terminate();
  // A close handshake the server never finishes is not waited for longer than this.
  await Promise.race([done, sleep(5000)]);
  ws.terminate();
  count(s, ours ? 'ours' : (code ?? 'ours'));
}

/** /v1/client with a client token: garbage JSON, wrong ops, random fields, valid requests mutated, binary frames. */
export async function clientGarbage(ctx: HostileContext, seed: number): Promise<HostileStats> {
  const s = stats('client garbage');
  const printer = fc.constantFrom(...ctx.printers);
  const next = stream(fc.oneof(
    { weight: 4, arbitrary: hostileText('op', CLIENT_OPS, CLIENT_FIELDS) },
    { weight: 4, arbitrary: mutated(clientRequest(4096, printer)) },
    { weight: 2, arbitrary: clientRequest(4096, printer).map((r) => JSON.stringify(r)) },
    { weight: 1, arbitrary: binary },
  ), seed);
  while (Date.now() < ctx.until) {
    const ws = await open(`ws://${ctx.host}:${ctx.port}/v1/client?token=${encodeURIComponent(ctx.clientToken)}`);
    if (typeof ws === 'string') {
      count(s, ws);
      await sleep(50);
      continue;
    }
    await barrage(ws, s, ctx.until, next);
  }
  return s;
}

/**
 * /v1/device as a registered device gone bad: a valid hello, then random
 * messages, valid ones mutated, random binary and data frames, and answers
 * to its job offers that lie about the job (wrong ids, counts past the size).
 */
export async function deviceGarbage(ctx: HostileContext, id: string, token: string, seed: number): Promise<HostileStats> {
  const s = stats(`device garbage (${id})`);
  const frame = fc.tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 0xffffffff }), fc.uint8Array({ maxLength: 300 })).map(([st, off, p]) => encodeDataFrame(st, off, p));
  const next = stream(fc.oneof(
    { weight: 4, arbitrary: hostileText('t', DEVICE_TYPES, DEVICE_FIELDS) },
    { weight: 4, arbitrary: mutated(deviceMessage) },
    { weight: 1, arbitrary: binary },
    { weight: 1, arbitrary: frame },
    // Around the device frame limit (64 KiB by default), on both sides of it.
    { weight: 1, arbitrary: fc.integer({ min: 50_000, max: 80_000 }).map((n) => JSON.stringify({ t: 'status', ports: [], led: 'online', uptime: 1, pad: 'x'.repeat(n) })) },
  ), seed);
  const lie = stream(fc.tuple(
    fc.constantFrom('job.accept', 'job.ack', 'job.done', 'job.fail', 'job.state'),
    fc.oneof(fc.nat(), fc.constant(-1), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(2 ** 53)),
    fc.boolean(),
  ), seed + 1);
  const answerFor = stream(fc.oneof(
    fc.integer({ min: 100, max: 50_000 }).map((depth) => (ref: string) => `{"t":"control.result","ref":${ref},"ok":true,"data":{"x":${deepText(depth)}}}`),
    fc.integer({ min: 1000, max: 60_000 }).map((n) => (ref: string) => JSON.stringify({ t: 'control.result', ref: JSON.parse(ref) as unknown, ok: true, data: { lines: ['x'.repeat(n)] } })),
    fc.tuple(valueText, fc.constantFrom('ok', 'code', 'data', 'message')).map(([v, k]) => (ref: string) => `{"t":"control.result","ref":${ref},"ok":false,${JSON.stringify(k)}:${v}}`),
    fc.tuple(keyArb, valueText).map(([k, v]) => (ref: string) => `{"t":"control.result","ref":${ref},"ok":true,"data":{${JSON.stringify(k)}:${v}}}`),
    fc.constant(undefined),
  ), seed + 2);
  while (Date.now() < ctx.until) {
    const ws = await open(`ws://${ctx.host}:${ctx.port}/v1/device?id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}`);
    if (typeof ws === 'string') {
      count(s, ws);
      await sleep(50);
      continue;
    }
    ws.send(JSON.stringify({ t: 'hello', v: PROTOCOL_VERSION, id, fw: 'bad-1', caps: [], window: 4096, maxChunk: 1024, ports: [{ port: 0, dialect: 'escpos' }] }));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(String(data)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (ws.readyState !== WebSocket.OPEN) return;
      if (m['t'] === 'control') {
        // An answer to a real control message (control.send, printer.command): deep, big, wrong, or none at all.
        const answer = answerFor();
        if (answer !== undefined) ws.send(answer(JSON.stringify(m['ref'])));
        s.sent += 1;
        return;
      }
      if (m['t'] !== 'job.start') return;
      const [t, n, fresh] = lie();
      ws.send(JSON.stringify({ t, id: m['id'], received: n, written: n, fresh, code: 'PRINTER_ERROR', message: 'no', state: 'paused' }));
      s.sent += 1;
    });
    await barrage(ws, s, ctx.until, next);
  }
  return s;
}

/** Upgrades to /v1/device with ids and tokens that are wrong, malformed or missing. */
export async function deviceLogins(ctx: HostileContext, seed: number): Promise<HostileStats> {
  const s = stats('device logins');
  const next = stream(fc.tuple(fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('bad-dev-0', '', '..', 'a'.repeat(65))), fc.string({ maxLength: 80 })), seed);
  while (Date.now() < ctx.until) {
    const [id, token] = next();
    const r = await open(`ws://${ctx.host}:${ctx.port}/v1/device?id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}`);
    s.sent += 1;
    if (typeof r === 'string') count(s, r);
    else {
      count(s, 'accepted');
      r.terminate();
    }
    s.answered += 1;
    await sleep(20);
  }
  return s;
}

/** The Printerlynx API at /api/v1/ws: garbage before login, or (`login`) after logging in with a client token. */
export async function lynxGarbage(ctx: HostileContext, seed: number, login: boolean): Promise<HostileStats> {
  const s = stats(`printerlynx garbage ${login ? 'after' : 'before'} login`);
  const types = ['authentication', 'print_job', 'printer_command', 'agent_status', 'printer_status'];
  const fields = ['token', 'type', 'printer_uuid', 'agent_uuid', 'job_uuid', 'file', 'file_base64', 'command', 'name'];
  const lynx = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...types), messageText('type', ['START', 'PAUSE', 'RESUME', 'CANCEL'], fields)).map(([t, d]) => objectText([['type', JSON.stringify(t)], ['data', d]])) },
    { weight: 2, arbitrary: hostileText('type', types, ['data']) },
    {
      weight: 2,
      arbitrary: fc.record({
        type: fc.constantFrom('print_job', 'printer_command'),
        data: fc.record({ type: fc.constantFrom('START', 'PAUSE', 'CANCEL'), printer_uuid: fc.constantFrom(...ctx.printers), file: fc.string({ maxLength: 200 }), command: fc.string({ maxLength: 40 }) }),
      }).map((m) => JSON.stringify(m)),
    },
  );
  const next = stream(fc.oneof({ weight: 9, arbitrary: lynx }, { weight: 1, arbitrary: binary }), seed);
  while (Date.now() < ctx.until) {
    const ws = await open(`ws://${ctx.host}:${ctx.port}/api/v1/ws`);
    if (typeof ws === 'string') {
      count(s, ws);
      await sleep(50);
      continue;
    }
    if (login) ws.send(JSON.stringify({ type: 'authentication', data: { token: ctx.clientToken } }));
    await barrage(ws, s, ctx.until, next, 4);
  }
  return s;
}

/** The PrinterWebSocket listener: hostile calls and prints to printers that fail or do not exist. */
export async function pwsGarbage(ctx: HostileContext, seed: number): Promise<HostileStats> {
  const s = stats('compat garbage');
  const calls = ['printers.find', 'server.version', 'print', 'printerStatus'];
  const next = stream(fc.oneof(
    { weight: 3, arbitrary: hostileText('call', calls, ['call', 'uid', 'params', 'PrinterName']) },
    {
      weight: 2,
      arbitrary: fc.record({
        call: fc.constantFrom(...calls), uid: fc.oneof(fc.string(), fc.integer()), PrinterName: fc.constantFrom(...ctx.printers),
        params: fc.record({ printer: fc.record({ name: fc.constantFrom(...ctx.printers) }), data: fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }) }),
      }).map((m) => JSON.stringify(m)),
    },
    { weight: 1, arbitrary: fc.tuple(keyArb, valueText).map(([k, v]) => objectText([['call', '"print"'], [k, v]])) },
    { weight: 1, arbitrary: binary },
  ), seed);
  while (Date.now() < ctx.until) {
    const ws = await open(`ws://${ctx.host}:${ctx.compatPort}/`);
    if (typeof ws === 'string') {
      count(s, ws);
      await sleep(50);
      continue;
    }
    await barrage(ws, s, ctx.until, next);
  }
  return s;
}

const HALF_REQUESTS = [
  'GET / HTTP/1.1\r\nHost: x\r\n',
  'GET /v1/client HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n',
  'POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"printer":',
  'GET /v1/device?id=x&token=y HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
  'GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 99\r\n\r\n',
  'GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nzz\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
];

/** Raw TCP to both ports: random bytes, half requests, and requests sent a few bytes at a time. */
export async function tcpGarbage(ctx: HostileContext, seed: number): Promise<HostileStats> {
  const s = stats('tcp garbage');
  const next = stream(fc.tuple(
    fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.constantFrom(...HALF_REQUESTS).map((t) => Buffer.from(t, 'latin1')), fc.tuple(fc.constantFrom(...HALF_REQUESTS), fc.uint8Array({ maxLength: 200 })).map(([t, b]) => Buffer.concat([Buffer.from(t, 'latin1'), b]))),
    fc.boolean(), fc.boolean(), fc.integer({ min: 10, max: 1500 }),
  ), seed);
  const one = async (): Promise<void> => {
    const [bytes, compat, trickle, holdMs] = next();
    const socket = connect(compat ? ctx.compatPort : ctx.port, ctx.host);
    socket.on('error', () => undefined);
    socket.on('data', () => {
      s.answered += 1;
    });
    const ended = new Promise<void>((r) => socket.once('close', () => r()));
    s.sent += 1;
    if (trickle) {
      // Slowloris: a few bytes at a time for as long as we hold the socket.
      for (let i = 0; i < bytes.length && !socket.destroyed; i += 4) {
        socket.write(bytes.subarray(i, i + 4));
        await sleep(holdMs / Math.max(1, bytes.length / 4));
      }
    } else {
      socket.write(bytes);
      await Promise.race([ended, sleep(holdMs)]);
    }
    count(s, socket.destroyed ? 'closed by server' : 'held');
    socket.destroy();
  };
  const lanes = Array.from({ length: 6 }, async () => {
    while (Date.now() < ctx.until) await one();
  });
  await Promise.all(lanes);
  return s;
}

/** REST with random methods, paths, headers and bodies. */
export async function restGarbage(ctx: HostileContext, seed: number): Promise<HostileStats> {
  const s = stats('rest garbage');
  const segment = fc.oneof(fc.constantFrom('printers', 'jobs', 'devices', 'tokens', 'clients', 'control', 'command', 'pause', 'cancel', '..', '%2e%2e', '%00', '', 'healthz'), fc.string({ maxLength: 12 }).map(encodeURIComponent), fc.constantFrom(...ctx.printers));
  const next = stream(fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'FOO', 'CONNECTX'),
    path: fc.tuple(fc.constantFrom('/api/v1', '/api/v1/', '/api', '/', '/healthz', '/sdk', '/v1/client'), fc.array(segment, { maxLength: 4 }), fc.option(fc.string({ maxLength: 20 }))).map(([p, segs, q]) => `${p}${segs.length > 0 ? '/' : ''}${segs.join('/')}${q === null ? '' : `?${encodeURIComponent(q)}&limit=${q.length}`}`),
    auth: fc.constantFrom('client', 'none', 'garbage'),
    type: fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', 'application/json; charset=utf-16', ''),
    body: fc.oneof(hostileText('op', CLIENT_OPS, CLIENT_FIELDS), valueText, fc.uint8Array({ maxLength: 500 }).map((b) => Buffer.from(b).toString('latin1')), fc.constant('')),
  }), seed);
  while (Date.now() < ctx.until) {
    const r = next();
    const headers: Record<string, string> = {};
    if (r.auth === 'client') headers['authorization'] = `Bearer ${ctx.clientToken}`;
    if (r.auth === 'garbage') headers['authorization'] = 'Bearer pbc.0000000000000000.not-a-token';
    if (r.type !== '') headers['content-type'] = r.type;
    s.sent += 1;
    const status = await new Promise<number | string>((resolve) => {
      // The path is sent as written; Node refuses only characters HTTP cannot carry, which we never build.
      const req = request({ host: ctx.host, port: ctx.port, method: r.method, path: r.path, headers, timeout: 5000 }, (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', () => resolve('reset'));
      });
      req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? ''}`));
      req.on('timeout', () => {
        req.destroy();
        resolve('timeout');
      });
      if (r.method !== 'GET' && r.method !== 'HEAD') req.end(Buffer.from(r.body, 'utf8'));
      else req.end();
    });
    s.answered += 1;
    count(s, status);
    if (typeof status === 'number' && status >= 500 && status !== 503) s.serverFaults.push(`${r.method} ${r.path} (${r.type}) ${r.body.slice(0, 120)} → ${status}`);
    await sleep(3);
  }
  return s;
}
