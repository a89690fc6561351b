// One firmware scenario's world, all of it real: the firmware built for the
// Moddable SDK's Linux host and run by its runtime (tools/firmware/lin-host),
// a `printbridge serve` process at its default heartbeat, a printer
// emulator process on a PTY that the firmware opens as its serial port, a
// loopback TCP proxy between firmware and server so a test can cut or
// silence the link, and an admin client to submit jobs and read state.
//
// What the Linux host cannot have, a stand-in gives (manifests/lin): pins
// (outputs print their levels, inputs are set over the control port) and
// the Wi-Fi radio (joins through the same state sequence as the ESP32
// driver; the access point can be taken away over the control port).

import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import type { ClientEvent, JobView } from '../../protocol/client-messages.js';
import type { Dialect } from '../../protocol/device-messages.js';
import { buildLinFirmware, runLinFirmware, type FirmwareConfig, type RunningFirmware } from '../../tools/firmware/lin-host.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { tempDir } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

export const DEVICE_ID = 'lin-1';
const ADMIN = 'firmware-admin-token';

/** Link timings short enough that a scenario's waits stay brief; the server keeps its defaults. */
export const FAST_TIMINGS = {
  backoffBase: 200, backoffCap: 2_000, stableAfter: 5_000, connectTimeout: 8_000, helloTimeout: 8_000,
  pingInterval: 3_000, deadAfter: 9_000,
};

export interface WorldOptions {
  readonly dialect?: Dialect;
  /** More firmware settings (mcconfig key=value). */
  readonly config?: FirmwareConfig;
  /** More emulator arguments. */
  readonly emulator?: readonly string[];
}

export interface World {
  readonly dir: string;
  readonly fw: RunningFirmware;
  readonly emulator: Proc;
  readonly proxy: TcpProxy;
  readonly printedFile: string;
  readonly jobs: Map<string, JobView>;
  client: Client;
  server: Proc;
  readonly serverPort: number;
  /** The device's token, as the server issued it. */
  readonly deviceToken: string;
  /** Stops the server (SIGTERM) and starts it again on the same port and data. */
  restartServer(): Promise<void>;
  /** Sends one line to the Linux host's stand-ins ("pin 4 1", "wifi down"). */
  control(line: string): Promise<void>;
  /** Lines the firmware printed from index `from` on. */
  since(from: number): string[];
  close(): Promise<void>;
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startWorld(o: WorldOptions = {}): Promise<World> {
  const dir = tempDir('pb-fw-');
  const data = join(dir, 'data');
  const store = openStore(data);
  const token = addDevice(store, DEVICE_ID, []);
  store.close();
  const procs = new Processes();
  const env = { PRINTBRIDGE_ADMIN_TOKEN: ADMIN };
  let server = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], { env });
  const { port } = await server.waitForEvent<{ port: number }>('listening');
  const proxy = await startTcpProxy(port);
  const dialect = o.dialect ?? 'escpos';
  const printedFile = join(dir, 'printed.bin');
  const tty = join(dir, 'printer.tty');
  const emulator = procs.cli(['emulate', '--dialect', dialect, '--pty', tty, '--out', printedFile, ...(o.emulator ?? [])]);
  await emulator.waitForEvent('pty');
  const controlPort = await freeUdpPort();
  const mcso = await buildLinFirmware({
    id: DEVICE_ID, server: `ws://127.0.0.1:${proxy.port}`, uartDevice: tty, dialect, ssid: 'shop-wifi', password: 'secret',
    linControlPort: controlPort, wifiRetry: 500, wifiTimeout: 5_000, poll: 0, statsInterval: 1_000, statusInterval: 2_000, offlineRestart: 0,
    ...FAST_TIMINGS, ...o.config,
    // A board gets its token from mcconfig too; it is last so a scenario cannot drop it by accident.
    token: String(o.config?.['token'] ?? token),
  });
  const fwDir = join(dir, 'firmware');
  mkdirSync(fwDir);
  const fw = runLinFirmware(mcso, { cwd: fwDir });
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
  const udp = createSocket('udp4');
  const world: World = {
    dir, fw, emulator, proxy, printedFile, jobs, server, serverPort: port, deviceToken: token,
    client: await openClient(),
    async restartServer() {
      for (const c of clients.splice(0)) await c.close().catch(() => {});
      await world.server.kill('SIGTERM');
      server = procs.cli(['serve', '--host', '127.0.0.1', '--port', String(port), '--data', data, '--json'], { env });
      world.server = server;
      await server.waitForEvent('listening');
      world.client = await openClient();
    },
    control: (line) => new Promise<void>((resolve, reject) => udp.send(line, controlPort, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    since: (from) => fw.lines.slice(from),
    async close() {
      await fw.stop();
      // A failed effect means the host broke its contract with the core (bytes the
      // core counted written never left); an abort is a board reset. Either fails the scenario.
      const broken = fw.lines.filter((l) => /^error: \S+ failed|^abort:|XS abort/.test(l));
      udp.close();
      for (const c of clients.splice(0)) await c.close().catch(() => {});
      await proxy.close();
      await procs.killAll();
      if (broken.length > 0) throw new Error(`the firmware reported:\n${broken.join('\n')}`);
    },
  };
  return world;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Deterministic printable bytes with line feeds, `size` long. */
export function receipt(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 48 === 47 ? 0x0a : 0x20 + ((x >>> 16) % 95);
  }
  return out;
}

export async function submit(w: World, data: Uint8Array, printer = `${DEVICE_ID}/0`): Promise<string> {
  const job = (await w.client.request('job.submit', { printer, data: Buffer.from(data).toString('base64') })) as JobView;
  w.jobs.set(job.id, job);
  return job.id;
}

export function printed(w: World): Uint8Array {
  try {
    return new Uint8Array(readFileSync(w.printedFile));
  } catch {
    return new Uint8Array(0);
  }
}

export { until } from '../helpers/until.js';

export function count(lines: readonly string[], pattern: RegExp): number {
  return lines.filter((l) => pattern.test(l)).length;
}

/** Index of the last line matching `pattern`, or 0 when none does. */
export function lastIndex(lines: readonly string[], pattern: RegExp): number {
  for (let i = lines.length - 1; i >= 0; i--) if (pattern.test(lines[i] ?? '')) return i;
  return 0;
}

/** Waits until the printer has taken everything sent so far (its record stops growing), and returns its length. */
export async function quiet(w: World, forMs = 700, ms = 60_000): Promise<number> {
  let last = printed(w).length;
  let since = Date.now();
  const end = Date.now() + ms;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = printed(w).length;
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= forMs) {
      return now;
    }
    if (Date.now() > end) throw new Error(`the printer never went quiet (at ${now} bytes)`);
  }
}
