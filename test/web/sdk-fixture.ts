// Shared by the SDK tests: the built SDK bundle (build/web/sdk/printbridge.mjs,
// exactly what browsers get) loaded into Node with `ws` as its WebSocket, and
// a scripted device on a real socket that prints whatever it is sent.

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import type * as Sdk from '../../sdk/index.js';
import { REPO_ROOT } from '../helpers/processes.js';
import type { TestServer } from '../helpers/server.js';
import { FakeDevice, registerDevice, type DeviceOptions } from '../server/peers.js';

export type SdkModule = typeof Sdk;

export const SDK_ESM = join(REPO_ROOT, 'build/web/sdk/printbridge.mjs');
export const SDK_CLASSIC = join(REPO_ROOT, 'build/web/sdk/printbridge.js');

export async function loadSdk(): Promise<SdkModule> {
  return (await import(pathToFileURL(SDK_ESM).href)) as SdkModule;
}

/** ws's WebSocket has the browser's on* properties and string `data` for text. */
export const NodeWebSocket = WebSocket as unknown as Sdk.WebSocketConstructor;

export interface PrintingDevice {
  dev: FakeDevice;
  /** Bytes received per job id. */
  received: Map<string, Buffer>;
  /** Sends a status report for port 0. */
  status(state: string, extra?: Record<string, unknown>): void;
}

export interface Script {
  /** What to do once a job's bytes are all in: finish it (default), fail it with a code, or hold it. */
  outcome?: (jobId: string) => { done: true } | { fail: string } | { hold: true };
}

/** A device that accepts every job, takes its frames, acks them and reports done (or what `script` says). */
export async function printingDevice(t: TestServer, id: string, script: Script = {}, opts: DeviceOptions = {}): Promise<PrintingDevice> {
  const token = registerDevice(t, id, ['shop']);
  const dev = await FakeDevice.connect(t, id, token, opts);
  const received = new Map<string, Buffer>();
  const jobs = new Map<number, { id: string; size: number; got: Buffer[] }>();
  const status = (state: string, extra: Record<string, unknown> = {}): void =>
    dev.sendJson({ t: 'status', ports: [{ port: 0, state, ...extra }], led: 'online', uptime: 42, heap: 123_456, rssi: -61 });
  dev.ws.on('message', (data, isBinary) => {
    const bytes = data as Buffer;
    if (isBinary) {
      const stream = bytes.readUInt16BE(2);
      const job = jobs.get(stream);
      if (!job) return;
      job.got.push(Buffer.from(bytes.subarray(8)));
      const total = Buffer.concat(job.got);
      received.set(job.id, total);
      dev.sendJson({ t: 'job.ack', id: job.id, written: total.length });
      if (total.length >= job.size) finish(job.id);
      return;
    }
    const m = JSON.parse(bytes.toString()) as Record<string, unknown>;
    if (m['t'] === 'job.start') {
      const jobId = String(m['id']);
      const size = Number(m['size']);
      jobs.set(Number(m['stream']), { id: jobId, size, got: [] });
      dev.sendJson({ t: 'job.accept', id: jobId, received: 0, written: 0, fresh: true });
      if (size === 0) finish(jobId);
    } else if (m['t'] === 'control') {
      dev.sendJson({ t: 'control.result', ref: m['ref'], ok: true, data: { name: m['name'] } });
    } else if (m['t'] === 'job.cancel') {
      dev.sendJson({ t: 'job.fail', id: m['id'], code: 'JOB_CANCELED', message: 'canceled' });
    }
  });
  const finish = (jobId: string): void => {
    const outcome = script.outcome?.(jobId) ?? { done: true };
    if ('done' in outcome) dev.sendJson({ t: 'job.done', id: jobId });
    else if ('fail' in outcome) dev.sendJson({ t: 'job.fail', id: jobId, code: outcome.fail, message: 'the printer said no' });
  };
  status('online');
  return { dev, received, status };
}

/** Resolves with the first value `pick` returns for an event of `client`. */
export function nextEvent<K extends keyof Sdk.ClientEvents, R = Sdk.ClientEvents[K]>(
  client: Sdk.PrintbridgeClient,
  name: K,
  pick: (payload: Sdk.ClientEvents[K]) => R | undefined = (p) => p as unknown as R,
  timeout = 10_000,
): Promise<R> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(name)} event within ${timeout} ms`));
    }, timeout);
    const off = client.on(name, (payload) => {
      const r = pick(payload);
      if (r === undefined) return;
      clearTimeout(timer);
      off();
      resolve(r);
    });
  });
}
