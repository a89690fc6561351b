// One process of the fanout bench's devices: holds a slice of the N devices,
// each its own WebSocket at /v1/device with id and token, saying hello and
// answering every control message with control.result. The same devices
// serve both peers (printbridge and the plain server speak the same frames).
//
// Commands (from fanout.ts over IPC): connect {url, devices}, reset (forget
// what was received), stats (how many control messages arrived and when the
// last one did), storm (every socket dropped at once, then all reconnect).

import WebSocket from 'ws';
import { PROTOCOL_VERSION, DEFAULT_MAX_CHUNK } from '../../protocol/version.js';
import { serveParent, wallNow } from './fanout-proc.js';

interface Device {
  readonly id: string;
  readonly token: string;
  ws: WebSocket | undefined;
}

/** Upgrades one process has in flight at once, as a fleet of real devices spreads them over time. */
const CONCURRENT_CONNECTS = 200;
const RETRIES = 20;

let base = '';
let devices: Device[] = [];
let received = 0;
let lastReceivedAt = 0;
let retried = 0;

function connectOne(d: Device): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}?id=${encodeURIComponent(d.id)}&token=${encodeURIComponent(d.token)}`, { perMessageDeflate: false });
    let welcomed = false;
    ws.on('open', () => {
      ws.send(JSON.stringify({ t: 'hello', v: PROTOCOL_VERSION, id: d.id, fw: 'bench-1', caps: [], window: 8192, maxChunk: DEFAULT_MAX_CHUNK, ports: [{ port: 0, dialect: 'escpos' }] }));
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(String(data)) as { t: string; ref?: string };
      switch (m.t) {
        case 'welcome':
          welcomed = true;
          d.ws = ws;
          resolve();
          return;
        case 'control':
          received++;
          lastReceivedAt = wallNow();
          ws.send(JSON.stringify({ t: 'control.result', ref: m.ref, ok: true }));
          return;
        case 'ping':
          ws.send('{"t":"pong"}');
          return;
        default:
          return;
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      if (d.ws === ws) d.ws = undefined;
      if (!welcomed) reject(new Error(`${d.id} closed before welcome (${code})`));
    });
  });
}

async function connectWithRetry(d: Device): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connectOne(d);
    } catch (e) {
      if (attempt >= RETRIES) throw e;
      retried++;
      await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
    }
  }
}

async function connectAll(): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < devices.length) {
      const d = devices[next++];
      if (d !== undefined) await connectWithRetry(d);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_CONNECTS, devices.length) }, worker));
}

serveParent(async (msg) => {
  switch (msg.cmd) {
    case 'connect':
      base = String(msg['url']);
      devices = (msg['devices'] as { id: string; token: string }[]).map((d) => ({ ...d, ws: undefined }));
      await connectAll();
      return { retried };
    case 'reset':
      received = 0;
      lastReceivedAt = 0;
      return {};
    case 'stats':
      return { received, lastReceivedAt };
    case 'storm':
      for (const d of devices) d.ws?.terminate();
      for (const d of devices) d.ws = undefined;
      retried = 0;
      await connectAll();
      return { retried };
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
});
