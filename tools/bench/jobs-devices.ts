// One process of the jobs bench's devices: a slice of the N devices, each
// its own WebSocket at /v1/device speaking the device protocol as the bridge
// does (hello with window and maxChunk, job.accept, job.ack every quarter
// window, job.done), in front of a printer that takes bytes at PRINTER_RATE.
// The same devices serve both peers.
//
// Strict, as a device must be: a job.start while a job is on the port, a
// frame of another stream, at another offset than the next byte, larger than
// maxChunk, past the job's size or beyond the credit window, or bytes that
// differ from the job's (derived from the device's index, jobs-payload.ts)
// are errors; any error fails the bench rather than giving a figure.
//
// The printer takes bytes at PRINTER_RATE (jobs-payload.ts says why).
//
// Commands (from jobs.ts over IPC): connect {url, devices}, reset (forget
// jobs and counters), stats.

import WebSocket from 'ws';
import type { Socket } from 'node:net';
import { decodeDataFrame } from '../../protocol/frames.js';
import { DEFAULT_MAX_CHUNK, DEFAULT_WINDOW, PROTOCOL_VERSION } from '../../protocol/version.js';
import { serveParent, wallNow } from './fanout-proc.js';
import { JOB_BYTES, PRINTER_RATE, benchDeviceIndex, jobPayload } from './jobs-payload.js';

const WINDOW = DEFAULT_WINDOW;
const MAX_CHUNK = DEFAULT_MAX_CHUNK;
/** As the device core does: an ack once a quarter of the window reached the printer. */
const ACK_STEP = Math.floor(WINDOW / 4);
const TICK_MS = 10;
const CONCURRENT_CONNECTS = 200;

interface Job {
  readonly id: string;
  readonly stream: number;
  readonly size: number;
  readonly expected: Uint8Array;
  received: number;
  /** Bytes the printer has taken; fractional between ticks. */
  printed: number;
  acked: number;
}

interface Device {
  readonly id: string;
  readonly token: string;
  ws: WebSocket | undefined;
  job: Job | undefined;
}

let devices: Device[] = [];
let printing = new Set<Device>();
let done = 0;
let lastDoneAt = 0;
let firstFrameAt = 0;
let frames = 0;
let acks = 0;
let bytesIn0 = 0;
let bytesOut0 = 0;
const errors: string[] = [];

function fail(d: Device, what: string): void {
  if (errors.length < 20) errors.push(`${d.id}: ${what}`);
}

const send = (d: Device, m: Record<string, unknown>): void => d.ws?.send(JSON.stringify(m));

function onText(d: Device, text: string): void {
  const m = JSON.parse(text) as { t: string; [k: string]: unknown };
  switch (m.t) {
    case 'job.start': {
      const { id, stream, port, size } = m as unknown as { id: string; stream: number; port: number; size: number };
      if (d.job !== undefined) return fail(d, `job.start ${id} while ${d.job.id} is on the port`);
      if (port !== 0) return fail(d, `job.start for port ${port}`);
      if (size !== JOB_BYTES) return fail(d, `job.start with size ${size}, not ${JOB_BYTES}`);
      d.job = { id, stream, size, expected: jobPayload(size, benchDeviceIndex(d.id)), received: 0, printed: 0, acked: 0 };
      send(d, { t: 'job.accept', id, received: 0, written: 0, fresh: true });
      return;
    }
    case 'job.pause': case 'job.resume': case 'job.cancel':
      return fail(d, `unexpected ${m.t}`);
    case 'error':
      return fail(d, `server error ${String(m['code'])}: ${String(m['message'])}`);
    case 'ping':
      return send(d, { t: 'pong' });
    case 'control':
      return send(d, { t: 'control.result', ref: m['ref'], ok: true });
    default:
      return;
  }
}

function onBinary(d: Device, bytes: Buffer): void {
  const job = d.job;
  if (job === undefined) return fail(d, 'data frame with no job');
  const r = decodeDataFrame(bytes, MAX_CHUNK);
  if (!r.ok) return fail(d, `bad frame: ${r.error.code} ${r.error.message}`);
  const { stream, offset, payload } = r.frame;
  if (stream !== job.stream) return fail(d, `frame of stream ${stream}, job is ${job.stream}`);
  if (offset !== job.received) return fail(d, `frame at ${offset}, expected ${job.received}`);
  if (payload.length === 0 || offset + payload.length > job.size) return fail(d, `frame of ${payload.length} at ${offset} of ${job.size}`);
  if (offset + payload.length - job.acked > WINDOW) return fail(d, `frame beyond the credit window (${offset + payload.length} > ${job.acked} + ${WINDOW})`);
  if (Buffer.compare(payload, job.expected.subarray(offset, offset + payload.length)) !== 0) return fail(d, `wrong bytes at ${offset}`);
  if (firstFrameAt === 0) firstFrameAt = wallNow();
  frames += 1;
  job.received += payload.length;
  printing.add(d);
}

/** The printers take what they hold at PRINTER_RATE; acks and job.done follow as the device core sends them. */
function tick(dt: number): void {
  const budget = (PRINTER_RATE * dt) / 1000;
  for (const d of printing) {
    const job = d.job;
    if (job === undefined) {
      printing.delete(d);
      continue;
    }
    job.printed = Math.min(job.received, job.printed + budget);
    const written = Math.floor(job.printed);
    if (written - job.acked >= ACK_STEP || (written === job.size && job.acked < job.size)) {
      job.acked = written;
      acks += 1;
      send(d, { t: 'job.ack', id: job.id, written });
    }
    if (job.printed >= job.received) printing.delete(d);
    if (job.acked === job.size) {
      send(d, { t: 'job.done', id: job.id });
      d.job = undefined;
      done += 1;
      lastDoneAt = wallNow();
    }
  }
}

let last = wallNow();
setInterval(() => {
  const now = wallNow();
  tick(now - last);
  last = now;
}, TICK_MS).unref();

function socketOf(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket })._socket;
}

function wireBytes(): { bytesIn: number; bytesOut: number } {
  let bytesIn = 0;
  let bytesOut = 0;
  for (const d of devices) {
    const s = d.ws === undefined ? undefined : socketOf(d.ws);
    bytesIn += s?.bytesRead ?? 0;
    bytesOut += s?.bytesWritten ?? 0;
  }
  return { bytesIn, bytesOut };
}

function connectOne(base: string, d: Device): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}?id=${encodeURIComponent(d.id)}&token=${encodeURIComponent(d.token)}`, { perMessageDeflate: false });
    let welcomed = false;
    ws.on('open', () => {
      ws.send(JSON.stringify({ t: 'hello', v: PROTOCOL_VERSION, id: d.id, fw: 'bench-1', caps: [], window: WINDOW, maxChunk: MAX_CHUNK, ports: [{ port: 0, dialect: 'escpos' }] }));
    });
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) return onBinary(d, data);
      if (!welcomed) {
        const m = JSON.parse(String(data)) as { t: string };
        if (m.t !== 'welcome') return reject(new Error(`${d.id}: ${String(data)} before welcome`));
        welcomed = true;
        d.ws = ws;
        return resolve();
      }
      onText(d, String(data));
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      if (d.ws === ws) {
        d.ws = undefined;
        fail(d, `connection closed (${code})`);
      }
      if (!welcomed) reject(new Error(`${d.id} closed before welcome (${code})`));
    });
  });
}

async function connectAll(base: string): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < devices.length) {
      const d = devices[next++];
      if (d !== undefined) await connectOne(base, d);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_CONNECTS, devices.length) }, worker));
}

serveParent(async (msg) => {
  switch (msg.cmd) {
    case 'connect':
      devices = (msg['devices'] as { id: string; token: string }[]).map((d) => ({ ...d, ws: undefined, job: undefined }));
      await connectAll(String(msg['url']));
      return {};
    case 'reset': {
      printing = new Set();
      for (const d of devices) d.job = undefined;
      done = 0;
      lastDoneAt = 0;
      firstFrameAt = 0;
      frames = 0;
      acks = 0;
      errors.length = 0;
      ({ bytesIn: bytesIn0, bytesOut: bytesOut0 } = wireBytes());
      return {};
    }
    case 'stats': {
      const { bytesIn, bytesOut } = wireBytes();
      return { done, lastDoneAt, firstFrameAt, frames, acks, bytesIn: bytesIn - bytesIn0, bytesOut: bytesOut - bytesOut0, errors };
    }
    case 'close':
      for (const d of devices) d.ws?.close(1000);
      return {};
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
});
