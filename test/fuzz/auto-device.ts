// A fake device (test/server/peers.ts) that plays a working printer on its
// own: it accepts every job offered, acknowledges each data frame, finishes
// the job once every byte arrived, and answers every control message. The
// fuzz tests need a device that completes work while hostile peers run.

import { PROTOCOL_VERSION } from '../../protocol/version.js';
import type { TestServer } from '../helpers/server.js';
import { FakeDevice, type PortSpec } from '../server/peers.js';

export interface AutoDevice {
  readonly device: FakeDevice;
  /** Jobs finished with job.done. */
  readonly done: Set<string>;
}

/** G-code printers answer commands with lines ending in `ok`; the others with bytes written. */
const ANSWER = { lines: ['ok T:20.0 /0.0 B:21.5 /0.0'], written: 1 };

export async function autoDevice(t: TestServer, id: string, token: string, ports: PortSpec[]): Promise<AutoDevice> {
  const device = await FakeDevice.connectRaw(t, id, token);
  const done = new Set<string>();
  const streams = new Map<number, { id: string; size: number }>();
  const send = (m: Record<string, unknown>): void => {
    if (device.ws.readyState === device.ws.OPEN) device.sendJson(m);
  };
  device.ws.on('message', (data, isBinary) => {
    // The inbox keeps what nobody claims; this device claims everything itself.
    device.inbox.items.length = 0;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) {
      if (bytes.length < 8) return;
      const job = streams.get(bytes.readUInt16BE(2));
      if (job === undefined) return;
      const written = bytes.readUInt32BE(4) + bytes.length - 8;
      send({ t: 'job.ack', id: job.id, written });
      if (written >= job.size) finish(job.id);
      return;
    }
    const m = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    switch (m['t']) {
      case 'job.start': {
        const job = { id: String(m['id']), size: Number(m['size']) };
        streams.set(Number(m['stream']), job);
        send({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
        if (job.size === 0) finish(job.id);
        return;
      }
      case 'control':
        return send({ t: 'control.result', ref: m['ref'], ok: true, data: ANSWER });
      case 'ping':
        return send({ t: 'pong' });
      default:
    }
  });
  const finish = (job: string): void => {
    if (done.has(job)) return;
    done.add(job);
    send({ t: 'job.done', id: job });
  };
  device.sendJson({ t: 'hello', v: PROTOCOL_VERSION, id, fw: 'fuzz-1.0', caps: [], window: 65536, maxChunk: 16384, ports });
  await device.json((m) => m['t'] === 'welcome', 'welcome');
  return { device, done };
}
