// The jobs bench's peer: a plain `ws` server streaming the same jobs to the
// same devices the obvious way. A job.submit over a client WebSocket (the
// request and reply shapes of /v1/client, enough for tools/client/client.ts)
// is one INSERT of the row with its bytes (SQLite, WAL, synchronous = FULL,
// as printbridge's store), then job.start, data frames within the device's
// credit window, the next frames on each ack, and one UPDATE when the
// device says job.done, which is also when the submitter hears of it. No
// progress is stored, nothing survives a restart mid-job, a device is not
// checked for its token: this is the floor of the work, not a design.
// Commands (over IPC): listen {dataDir}, writes.

import { openDatabase, type Database } from '../../server/store/db.js';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeDataFrame } from '../../protocol/frames.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { serveParent } from './fanout-proc.js';
import { countDbWrites, takeDbWrites } from './jobs-db-count.js';

interface Job {
  readonly id: string;
  readonly data: Buffer;
  readonly client: WebSocket;
  stream: number;
  sent: number;
  written: number;
}

interface Device {
  readonly ws: WebSocket;
  window: number;
  maxChunk: number;
  queue: Job[];
  job: Job | undefined;
  streams: number;
}

countDbWrites();
let db: Database | undefined;
const online = new Map<string, Device>();
const wss = new WebSocketServer({ noServer: true, maxPayload: 32 * 1024 * 1024 });
const http = createServer((_req, res) => res.writeHead(404).end());

http.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/v1/device') wss.handleUpgrade(req, socket, head, (ws) => device(ws, url.searchParams.get('id') ?? ''));
  else if (url.pathname === '/v1/client') wss.handleUpgrade(req, socket, head, client);
  else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
});

function store(): Database {
  if (db === undefined) throw new Error('not listening');
  return db;
}

function offer(d: Device): void {
  if (d.job !== undefined) return;
  const job = d.queue.shift();
  if (job === undefined) return;
  d.job = job;
  job.stream = d.streams++ & 0xffff;
  d.ws.send(JSON.stringify({ t: 'job.start', id: job.id, stream: job.stream, port: 0, size: job.data.length }));
}

function pump(d: Device, job: Job): void {
  while (job.sent < job.data.length && job.sent - job.written < d.window) {
    const n = Math.min(d.maxChunk, job.data.length - job.sent, d.window - (job.sent - job.written));
    d.ws.send(encodeDataFrame(job.stream, job.sent, job.data.subarray(job.sent, job.sent + n)));
    job.sent += n;
  }
}

function device(ws: WebSocket, id: string): void {
  ws.on('message', (raw, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(String(raw)) as { t: string; id?: string; window?: number; maxChunk?: number; written?: number; received?: number };
    const d = online.get(id);
    switch (m.t) {
      case 'hello':
        online.set(id, { ws, window: m.window ?? 8192, maxChunk: m.maxChunk ?? 1024, queue: [], job: undefined, streams: 0 });
        ws.send(JSON.stringify({ t: 'welcome', v: PROTOCOL_VERSION, hb: 25_000, time: Date.now() }));
        return;
      case 'job.accept': {
        const job = d?.job;
        if (d === undefined || job === undefined || job.id !== m.id) return;
        job.sent = m.received ?? 0;
        return pump(d, job);
      }
      case 'job.ack': {
        const job = d?.job;
        if (d === undefined || job === undefined || job.id !== m.id) return;
        job.written = m.written ?? job.written;
        return pump(d, job);
      }
      case 'job.done': {
        const job = d?.job;
        if (d === undefined || job === undefined || job.id !== m.id) return;
        store().prepare("UPDATE jobs SET state = 'done', written = size, data = NULL WHERE id = ?").run(job.id);
        job.client.send(JSON.stringify({ event: 'job.updated', job: { id: job.id, state: 'done', size: job.data.length, written: job.data.length } }));
        d.job = undefined;
        return offer(d);
      }
      case 'ping':
        return ws.send('{"t":"pong"}');
      default:
        return;
    }
  });
  ws.on('error', () => undefined);
  ws.on('close', () => {
    if (online.get(id)?.ws === ws) online.delete(id);
  });
}

function client(ws: WebSocket): void {
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { id: number; op: string; printer?: string; data?: string };
    if (m.op !== 'job.submit' || m.printer === undefined || m.data === undefined) {
      ws.send(JSON.stringify({ re: m.id, ok: false, error: { code: 'UNSUPPORTED', message: m.op } }));
      return;
    }
    const deviceId = m.printer.slice(0, m.printer.lastIndexOf('/'));
    const data = Buffer.from(m.data, 'base64');
    const job: Job = { id: randomUUID(), data, client: ws, stream: 0, sent: 0, written: 0 };
    store().prepare("INSERT INTO jobs (id, printer, state, size, data, written) VALUES (?, ?, 'queued', ?, ?, 0)").run(job.id, m.printer, data.length, data);
    ws.send(JSON.stringify({ re: m.id, ok: true, result: { id: job.id, printer: m.printer, state: 'queued', size: data.length, written: 0 } }));
    const d = online.get(deviceId);
    if (d === undefined) return;
    d.queue.push(job);
    offer(d);
  });
  ws.on('error', () => undefined);
}

serveParent(async (msg) => {
  switch (msg.cmd) {
    case 'listen': {
      db = openDatabase(join(String(msg['dataDir']), 'plain.db'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec('CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, printer TEXT NOT NULL, state TEXT NOT NULL, size INTEGER NOT NULL, data BLOB, written INTEGER NOT NULL)');
      takeDbWrites();
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      return { port: (http.address() as AddressInfo).port };
    }
    case 'writes':
      return { ...takeDbWrites() };
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
});
