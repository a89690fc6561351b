// One XS scenario's world: a real server on loopback with the device
// registered, a real printer emulator process on a TCP port, an admin client
// to submit jobs, and the XS board wired to both.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/server.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import type { ClientEvent, JobView } from '../../protocol/client-messages.js';
import type { Dialect } from '../../protocol/device-messages.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { tempDir } from '../helpers/server.js';
import { XsBoard, type BoardOptions } from './xs-board.js';

export const DEVICE_ID = 'xs-1';
export const SSID = 'shop-wifi';
const ADMIN = 'xs-admin-token';

/** Short link timings (board ms) so a scenario's waits stay brief at any scale. */
export const FAST_TIMINGS = {
  backoffBase: 200, backoffCap: 2_000, stableAfter: 5_000, connectTimeout: 8_000, helloTimeout: 8_000,
  pingInterval: 3_000, deadAfter: 9_000,
};

export interface Fixture {
  board: XsBoard;
  server: RunningServer;
  client: Client;
  emulator: Proc;
  outFile: string;
  jobs: Map<string, JobView>;
  restartServer(): Promise<void>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** `board.dialects` (the drivers the build carries) defaults to escpos, the dialect the board is configured for. */
  readonly board?: Partial<Omit<BoardOptions, 'printerPort'>>;
  /** The emulator's dialect (default escpos). */
  readonly printer?: Dialect;
  /** Server heartbeat (real ms); the default keeps the server from pinging during a scenario. */
  readonly heartbeatMs?: number;
}

export async function startFixture(o: FixtureOptions = {}): Promise<Fixture> {
  const dataDir = tempDir('pb-xs-');
  const store = openStore(dataDir);
  const token = addDevice(store, DEVICE_ID, []);
  store.close();
  const serverOptions = { host: '127.0.0.1', dataDir, adminToken: ADMIN, heartbeatMs: o.heartbeatMs ?? 60_000, log: () => {} };
  let server = await startServer({ ...serverOptions, port: 0 });
  const port = server.port;
  const procs = new Processes();
  const outFile = join(dataDir, 'printer.out');
  const emulator = procs.cli(['emulate', '--dialect', o.printer ?? 'escpos', '--tcp', '127.0.0.1:0', '--out', outFile]);
  const { port: printerPort } = await emulator.waitForEvent<{ port: number }>('listening');
  const jobs = new Map<string, JobView>();
  const clients: Client[] = [];
  const openClient = async (): Promise<Client> => {
    const c = await connectClient(`ws://127.0.0.1:${port}/v1/client`, ADMIN);
    c.on('event', (e: ClientEvent) => {
      if (e.event === 'job.updated') jobs.set(e.job.id, e.job);
    });
    await c.request('subscribe');
    clients.push(c);
    return c;
  };
  const board = new XsBoard({
    printerPort,
    accessPoints: [SSID],
    dialects: ['escpos'],
    ...o.board,
    config: {
      id: DEVICE_ID, token, server: `ws://127.0.0.1:${port}`, ssid: SSID, password: 'secret', dialect: 'escpos', poll: 0,
      wifiRetry: 500, wifiTimeout: 5_000, ledPins: '2', uartPort: 2, statsInterval: 1_000, statusInterval: 2_000, offlineRestart: 0,
      ...FAST_TIMINGS, ...o.board?.config,
    },
  });
  const fixture: Fixture = {
    board, server, emulator, outFile, jobs,
    client: await openClient(),
    async restartServer() {
      for (const c of clients.splice(0)) await c.close();
      await server.close();
      server = await startServer({ ...serverOptions, port });
      fixture.server = server;
      fixture.client = await openClient();
    },
    async close() {
      await board.close();
      for (const c of clients.splice(0)) await c.close().catch(() => {});
      await server.close();
      await procs.killAll();
    },
  };
  try {
    await board.start();
  } catch (e) {
    await fixture.close();
    throw e;
  }
  return fixture;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Deterministic printable bytes (ESC/POS text with line feeds), `size` long. */
export function receipt(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 48 === 47 ? 0x0a : 0x20 + ((x >>> 16) % 95);
  }
  return out;
}

export async function submit(f: Fixture, data: Uint8Array): Promise<string> {
  const job = (await f.client.request('job.submit', { printer: `${DEVICE_ID}/0`, data: Buffer.from(data).toString('base64') })) as JobView;
  f.jobs.set(job.id, job);
  return job.id;
}

export function printed(f: Fixture): Uint8Array {
  try {
    return new Uint8Array(readFileSync(f.outFile));
  } catch {
    return new Uint8Array(0);
  }
}

export function online(f: Fixture): boolean {
  return f.board.traces.some((t) => t.includes('info: online'));
}
