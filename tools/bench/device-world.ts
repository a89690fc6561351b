// The world the device bench runs in, all of it real: a `printbridge serve`
// process, and two devices of the same account against it, each behind its
// own loopback TCP proxy (so the bench can cut its link) and printing to its
// own printer emulator on a PTY:
//
// - the firmware, built for the Moddable SDK's Linux host with the bench's
//   heap probe (tools/bench/heap-manifest: manifests/lin plus one module, an
//   instrumented `mcconfig -i` build) and run by the SDK runtime;
// - the peer, the Node bridge (device/hosts/node) with the same device core
//   and the same link timings, in this process.
//
// Both are observed without polling: a reconnect is the next "online" the
// device reports, a job is the server's job.updated event.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientEvent, JobView } from '../../protocol/client-messages.js';
import { runBridge, type Bridge } from '../../device/hosts/node/index.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { Processes } from '../../test/helpers/processes.js';
import { tempDir } from '../../test/helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../../test/helpers/tcp-proxy.js';
import { connectClient, type Client } from '../client/client.js';
import { buildLinFirmware, runLinFirmware, type FirmwareConfig, type RunningFirmware } from '../firmware/lin-host.js';

export const HEAP_MANIFEST = fileURLToPath(new URL('./heap-manifest/', import.meta.url)).replace(/\/$/, '');

const ADMIN = 'bench-device-admin-token';
const FIRMWARE_ID = 'bench-fw';
const PEER_ID = 'bench-peer';
const DIALECT = 'escpos';

/** What the probe traces (tools/bench/heap-manifest/heap-probe.js). */
export interface HeapSample {
  readonly slotBytes: number;
  readonly chunkBytes: number;
  readonly gc: number;
  readonly keys: number;
  readonly modules: number;
}

const SAMPLE = /^heap slots=(\d+) chunks=(\d+) gc=(\d+) keys=(\d+) modules=(\d+)$/;

/** Waits for a count to reach a value; woken by whoever bumps it. */
class Counter {
  value = 0;
  private waiters: { target: number; resolve: () => void }[] = [];

  bump(): void {
    this.value++;
    this.waiters = this.waiters.filter((w) => {
      if (this.value < w.target) return true;
      w.resolve();
      return false;
    });
  }

  reach(target: number, what: string, ms: number, detail: () => string = () => ''): Promise<void> {
    if (this.value >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== entry);
        reject(new Error(`bench: no ${what} within ${ms} ms${detail()}`));
      }, ms);
      const entry = { target, resolve: () => { clearTimeout(timer); resolve(); } };
      this.waiters.push(entry);
    });
  }
}

/** One device under measurement: its link (cut by the bench) and its printer. */
export interface BenchDevice {
  readonly label: string;
  /** Ends a link that is online and resolves once the device is online again. */
  reconnect(): Promise<void>;
  /** Submits `data`, resolves when the server reports the job done; fails on any other end. */
  print(data: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

export interface FirmwareDevice extends BenchDevice {
  readonly fw: RunningFirmware;
  /** Waits `settleMs`, then returns the second heap sample traced after that (each one follows a collection). */
  heap(settleMs?: number): Promise<HeapSample>;
}

export interface DeviceWorld {
  /** Builds (cached) and starts the firmware; resolves once it is online. */
  startFirmware(timings: FirmwareConfig, probeEvery: number): Promise<FirmwareDevice>;
  /** Starts the Node bridge with the same timings; resolves once it is online. */
  startPeer(timings: FirmwareConfig): Promise<BenchDevice>;
  close(): Promise<void>;
}

const FINAL = ['done', 'failed', 'canceled'];

export async function startDeviceWorld(): Promise<DeviceWorld> {
  const dir = tempDir('pb-bench-device-');
  const data = join(dir, 'data');
  const store = openStore(data);
  const tokens = { [FIRMWARE_ID]: addDevice(store, FIRMWARE_ID, []), [PEER_ID]: addDevice(store, PEER_ID, []) };
  store.close();
  const procs = new Processes();
  const server = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN } });
  const { port } = await server.waitForEvent<{ port: number }>('listening');
  const client: Client = await connectClient(`ws://127.0.0.1:${port}/v1/client`, ADMIN);
  const jobs = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  const ended = new Map<string, JobView>();
  const settle = (job: JobView): void => {
    if (!FINAL.includes(job.state)) return;
    const waiter = jobs.get(job.id);
    if (waiter === undefined) {
      ended.set(job.id, job);
      return;
    }
    jobs.delete(job.id);
    if (job.state === 'done') waiter.resolve();
    else waiter.reject(new Error(`bench: job ${job.id} ended ${job.state}: ${JSON.stringify(job)}`));
  };
  client.on('event', (e: ClientEvent) => {
    if (e.event === 'job.updated') settle(e.job);
  });
  await client.request('subscribe');
  const proxies: TcpProxy[] = [];
  const stops: (() => Promise<void>)[] = [];

  const print = async (printer: string, bytes: Uint8Array): Promise<void> => {
    const job = (await client.request('job.submit', { printer, data: Buffer.from(bytes).toString('base64') })) as JobView;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        jobs.delete(job.id);
        reject(new Error(`bench: job ${job.id} on ${printer} not done within 60 s`));
      }, 60_000);
      jobs.set(job.id, { resolve: () => { clearTimeout(timer); resolve(); }, reject: (e) => { clearTimeout(timer); reject(e); } });
    });
    const early = ended.get(job.id);
    if (early !== undefined) {
      ended.delete(job.id);
      settle(early);
    } else {
      settle(job);
    }
    await done;
  };

  const printer = async (tag: string): Promise<string> => {
    const tty = join(dir, `${tag}.tty`);
    const emulator = procs.cli(['emulate', '--dialect', DIALECT, '--pty', tty, '--out', join(dir, `${tag}.printed`)]);
    await emulator.waitForEvent('pty');
    return tty;
  };

  const cutOnline = (proxy: TcpProxy, label: string): void => {
    if (proxy.cut() === 0) throw new Error(`bench: ${label} had no connection to cut`);
  };

  return {
    async startFirmware(timings, probeEvery) {
      const proxy = await startTcpProxy(port);
      proxies.push(proxy);
      const tty = await printer('firmware');
      const mcso = await buildLinFirmware({
        id: FIRMWARE_ID, server: `ws://127.0.0.1:${proxy.port}`, uartDevice: tty, dialect: DIALECT, ssid: 'bench-wifi', password: 'secret',
        wifiRetry: 500, wifiTimeout: 5_000, poll: 0, statusInterval: 2_000, offlineRestart: 0, heapProbeInterval: probeEvery,
        ...timings, token: tokens[FIRMWARE_ID] ?? '',
      }, 'instrument', HEAP_MANIFEST);
      const fwDir = join(dir, 'firmware');
      mkdirSync(fwDir, { recursive: true });
      const online = new Counter();
      const samples: HeapSample[] = [];
      const sampled = new Counter();
      const fw = runLinFirmware(mcso, {
        cwd: fwDir,
        restart: false,
        onLine: (line) => {
          if (/^info: link online$/.test(line)) online.bump();
          const m = SAMPLE.exec(line);
          if (m !== null) {
            samples.push({ slotBytes: Number(m[1]), chunkBytes: Number(m[2]), gc: Number(m[3]), keys: Number(m[4]), modules: Number(m[5]) });
            sampled.bump();
          }
        },
      });
      stops.push(() => fw.stop());
      let exit: number | undefined;
      void fw.exited.then((status) => { exit = status; });
      const tail = (): string => `; the firmware ${exit === undefined ? 'is still running' : exit === 128 ? 'was killed by a signal (status 128: a crash, or a kill from outside)' : `ended with status ${exit}`}; its last lines:\n${fw.lines.filter((l) => !l.startsWith('pin ')).slice(-15).join('\n')}`;
      await online.reach(1, 'firmware online', 60_000, tail);
      await sampled.reach(1, 'heap sample (is the build instrumented?)', 10_000, tail);
      return {
        label: 'firmware',
        fw,
        async reconnect() {
          const target = online.value + 1;
          cutOnline(proxy, 'the firmware');
          await online.reach(target, 'firmware reconnect', 30_000, tail);
        },
        print: (bytes) => print(`${FIRMWARE_ID}/0`, bytes),
        async heap(settleMs = 1_000) {
          await new Promise((r) => setTimeout(r, settleMs));
          const from = sampled.value;
          await sampled.reach(from + 2, 'heap samples', 10_000, tail);
          return samples[from + 1] as HeapSample;
        },
        stop: () => fw.stop(),
      };
    },

    async startPeer(timings) {
      const proxy = await startTcpProxy(port);
      proxies.push(proxy);
      const tty = await printer('peer');
      const online = new Counter();
      let link = '';
      const linkTimings: Record<string, number> = {};
      for (const [k, v] of Object.entries(timings)) linkTimings[k] = Number(v);
      const bridge: Bridge = await runBridge({
        server: `ws://127.0.0.1:${proxy.port}`, id: PEER_ID, token: tokens[PEER_ID] ?? '',
        printers: [{ uri: `serial:${tty}@115200`, dialect: DIALECT, poll: 0 }],
        statusInterval: 2_000, timings: linkTimings, log: () => {},
        onChange: (s) => {
          if (s.link === 'online' && link !== 'online') online.bump();
          link = s.link;
        },
      });
      stops.push(() => bridge.stop());
      await online.reach(1, 'peer online', 30_000);
      return {
        label: 'peer',
        async reconnect() {
          const target = online.value + 1;
          cutOnline(proxy, 'the peer');
          await online.reach(target, 'peer reconnect', 30_000);
        },
        print: (bytes) => print(`${PEER_ID}/0`, bytes),
        stop: () => bridge.stop(),
      };
    },

    async close() {
      for (const stop of stops.splice(0)) await stop().catch(() => {});
      await client.close().catch(() => {});
      for (const p of proxies.splice(0)) await p.close();
      await procs.killAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
