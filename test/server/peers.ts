// Raw `ws` peers that speak the protocol by hand, for driving a real server
// over real sockets: an Inbox that lets a test wait for "the next message
// like this", a scripted fake device and a client.

import { once } from 'node:events';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { ClientOptions } from 'ws';
import type { PortInfo } from '../../protocol/device-messages.js';
import { DEFAULT_MAX_CHUNK, PROTOCOL_VERSION } from '../../protocol/version.js';
import type { TestServer } from '../helpers/server.js';
import { openStore } from '../../server/store/db.js';
import { addDevice, recordHello } from '../../server/store/devices.js';

/** Long enough never to fire on a healthy run; it only turns a hang into a readable failure. */
const WAIT_MS = 5000;

export type Item = { kind: 'text'; json: Record<string, unknown>; raw: string } | { kind: 'binary'; bytes: Buffer };

interface Waiter {
  pred: (item: Item) => boolean;
  resolve: (item: Item) => void;
}

export class Inbox {
  readonly items: Item[] = [];
  private readonly waiters: Waiter[] = [];

  push(item: Item): void {
    const i = this.waiters.findIndex((w) => w.pred(item));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w?.resolve(item);
      return;
    }
    this.items.push(item);
  }

  take(pred: (item: Item) => boolean, what: string): Promise<Item> {
    const i = this.items.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0] as Item);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pred,
        resolve: (item) => {
          clearTimeout(timer);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const seen = this.items.map((x) => (x.kind === 'text' ? x.raw.slice(0, 200) : `<${x.bytes.length} bytes>`));
        reject(new Error(`no ${what} arrived; unclaimed: ${JSON.stringify(seen)}`));
      }, WAIT_MS);
      this.waiters.push(waiter);
    });
  }
}

export interface Closed {
  code: number;
  reason: string;
}

/** One WebSocket with everything it receives kept in order until a test claims it. */
export class Conn {
  readonly inbox = new Inbox();
  readonly closed: Promise<Closed>;
  /** The TCP socket under the WebSocket, to pause reading and play a peer that stopped reading. */
  socket: Socket | undefined;

  constructor(readonly ws: WebSocket) {
    ws.once('upgrade', (res) => {
      this.socket = res.socket as Socket;
    });
    ws.on('message', (data, isBinary) => {
      const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (isBinary) return this.inbox.push({ kind: 'binary', bytes });
      const raw = bytes.toString('utf8');
      this.inbox.push({ kind: 'text', json: JSON.parse(raw) as Record<string, unknown>, raw });
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(url: string, options: ClientOptions = {}): Promise<Conn> {
    const ws = new WebSocket(url, options);
    const conn = new Conn(ws);
    await Promise.race([
      once(ws, 'open'),
      once(ws, 'unexpected-response').then(() => {
        throw new Error(`upgrade to ${url} was refused`);
      }),
    ]);
    return conn;
  }

  /** The close code, once the connection closes; fails instead of hanging if it does not. */
  async closeCode(): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the connection did not close')), WAIT_MS);
    });
    try {
      return (await Promise.race([this.closed, timeout])).code;
    } finally {
      clearTimeout(timer);
    }
  }

  sendJson(value: unknown): void {
    this.ws.send(JSON.stringify(value));
  }

  sendRaw(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  async json(pred: (m: Record<string, unknown>) => boolean = () => true, what = 'text message'): Promise<Record<string, unknown>> {
    const item = await this.inbox.take((x) => x.kind === 'text' && pred(x.json), what);
    return (item as Extract<Item, { kind: 'text' }>).json;
  }

  async binary(what = 'binary frame'): Promise<Buffer> {
    const item = await this.inbox.take((x) => x.kind === 'binary', what);
    return (item as Extract<Item, { kind: 'binary' }>).bytes;
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Polls `check` until it returns true; for state the server changes after the peer has already moved on. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never became true: ${what}`);
}

export async function health(t: TestServer): Promise<{ devices: number; clients: number }> {
  const res = await fetch(`${t.server.url}/healthz`);
  return (await res.json()) as { devices: number; clients: number };
}

/** Registers a device the way the CLI does while the server runs: through its own handle on the same file. */
export function registerDevice(t: TestServer, id: string, tags: string[] = []): string {
  const store = openStore(t.dataDir);
  try {
    return addDevice(store, id, tags);
  } finally {
    store.close();
  }
}

/**
 * Makes the store look as if the device had said hello once with `ports` and
 * gone away: its printers are known and take jobs while it is offline (a
 * device that never reported ports has none).
 */
export function reportPorts(t: TestServer, id: string, ports: PortSpec[] = [{ port: 0, dialect: 'escpos' }]): void {
  const store = openStore(t.dataDir);
  try {
    // As the device would say it; the dialects are the test's to get right.
    recordHello(store, id, { fw: 'fake-1.0', ports: ports as PortInfo[] }, Date.now());
  } finally {
    store.close();
  }
}

/** The HTTP status a refused upgrade answered with. */
export function refusedStatus(url: string, options: ClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error(`upgrade to ${url} was accepted`));
    });
    ws.on('error', (e) => reject(e));
  });
}

export interface PortSpec {
  port: number;
  dialect: string;
  name?: string;
  confirms?: boolean;
}

export interface DeviceOptions {
  window?: number;
  maxChunk?: number;
  ports?: PortSpec[];
  fw?: string;
  /** Carry credentials as headers instead of in the query string. */
  headers?: boolean;
  ws?: ClientOptions;
}

export function deviceUrl(t: TestServer, id: string, token: string): string {
  return t.wsUrl(`/v1/device?id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}`);
}

export class FakeDevice extends Conn {
  window = 8192;
  maxChunk = DEFAULT_MAX_CHUNK;
  id = '';

  /** Connects and authenticates but does not say hello. */
  static async connectRaw(t: TestServer, id: string, token: string, opts: DeviceOptions = {}): Promise<FakeDevice> {
    const url = opts.headers === true ? t.wsUrl('/v1/device') : deviceUrl(t, id, token);
    const headers = opts.headers === true ? { authorization: `Bearer ${token}`, 'x-printbridge-device': id } : undefined;
    const ws = new WebSocket(url, { ...opts.ws, headers });
    const dev = new FakeDevice(ws);
    dev.id = id;
    await once(ws, 'open');
    return dev;
  }

  /** Connects, says hello and waits for welcome. */
  static async connect(t: TestServer, id: string, token: string, opts: DeviceOptions = {}): Promise<FakeDevice> {
    const dev = await FakeDevice.connectRaw(t, id, token, opts);
    dev.window = opts.window ?? dev.window;
    dev.maxChunk = opts.maxChunk ?? dev.maxChunk;
    dev.sendJson({
      t: 'hello', v: PROTOCOL_VERSION, id, fw: opts.fw ?? 'fake-1.0', caps: [],
      window: dev.window, maxChunk: dev.maxChunk, ports: opts.ports ?? [{ port: 0, dialect: 'escpos' }],
    });
    await dev.json((m) => m['t'] === 'welcome', 'welcome');
    return dev;
  }

  jobStart(): Promise<Record<string, unknown>> {
    return this.json((m) => m['t'] === 'job.start', 'job.start');
  }

  async frame(): Promise<{ stream: number; offset: number; payload: Buffer }> {
    const b = await this.binary('data frame');
    return { stream: b.readUInt16BE(2), offset: b.readUInt32BE(4), payload: b.subarray(8) };
  }
}

export class TestClient extends Conn {
  private seq = 0;

  static async connect(t: TestServer, token = 'test-admin-token'): Promise<TestClient> {
    const ws = new WebSocket(t.wsUrl(`/v1/client?token=${encodeURIComponent(token)}`));
    const c = new TestClient(ws);
    await once(ws, 'open');
    return c;
  }

  /** Sends a request and resolves with its whole reply ({re, ok, result | error}). */
  async request(op: string, fields: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = `r${++this.seq}`;
    this.sendJson({ id, op, ...fields });
    return this.json((m) => m['re'] === id, `reply to ${op}`);
  }

  /** Like request, but fails unless the reply is ok, and returns its result. */
  async call<T = unknown>(op: string, fields: Record<string, unknown> = {}): Promise<T> {
    const reply = await this.request(op, fields);
    if (reply['ok'] !== true) throw new Error(`${op} failed: ${JSON.stringify(reply['error'])}`);
    return reply['result'] as T;
  }

  event(name: string, pred: (e: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    return this.json((m) => m['event'] === name && pred(m), `${name} event`);
  }
}

export interface RestAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** One REST call to /api/v1 with a bearer token: a JSON body, or raw bytes as application/octet-stream. */
export async function rest(t: TestServer, token: string, method: string, path: string, body?: unknown | { raw: Buffer }): Promise<RestAnswer> {
  const raw = body instanceof Object && 'raw' in body && Buffer.isBuffer((body as { raw: unknown }).raw) ? (body as { raw: Buffer }).raw : undefined;
  const type: Record<string, string> = body === undefined ? {} : { 'content-type': raw !== undefined ? 'application/octet-stream' : 'application/json' };
  const res = await fetch(`${t.server.url}/api/v1${path}`, {
    method, headers: { authorization: `Bearer ${token}`, ...type }, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/**
 * The device takes the job it is offered next (`job`, when given) whole,
 * reports every byte written and the job done; resolves with the bytes.
 */
export async function deviceDoes(dev: FakeDevice, expected?: string): Promise<Buffer> {
  const start = await dev.jobStart();
  const job = start['id'] as string;
  if (expected !== undefined && job !== expected) throw new Error(`offered ${job}, expected ${expected}`);
  dev.sendJson({ t: 'job.accept', id: job, received: 0, written: 0, fresh: true });
  const parts: Buffer[] = [];
  let size = 0;
  while (size < (start['size'] as number)) {
    const f = await dev.frame();
    parts.push(f.payload);
    size += f.payload.length;
  }
  dev.sendJson({ t: 'job.ack', id: job, written: size });
  dev.sendJson({ t: 'job.done', id: job });
  return Buffer.concat(parts);
}
