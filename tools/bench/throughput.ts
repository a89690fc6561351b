// Throughput against the wire, measured (not asserted):
//
// raw   — a large raw job through a real server (startServer, in process), a
//         Node bridge (runBridge, in process, serial over the emulator's PTY)
//         and the emulator process paced at --baud 115200 (8N1: 11,520 B/s).
//         Reported as a fraction of the wire rate from the first byte the
//         emulator took to the end of the last one (the emulator's own
//         timestamps), and end to end from submit to job done. The same
//         payload written straight to the PTY gives the emulator's own
//         figure, the ceiling for the first one.
// gcode — lines per second of a G-code job streamed by the device core's
//         gcode dialect to the gcode emulator answering `ok` after a fixed
//         delay, against the one-line-in-flight limit 1 / (delay + line time)
//         at the baud rate, where line time is the average numbered line the
//         emulator received (its `ok` travels back unpaced; a real wire adds
//         3 byte times, 0.26 ms at 115200). Each delay runs twice: a plain
//         printer (one line in flight) and one with ADVANCED_OK (emulator
//         --advanced-ok, Marlin's default 4 command slots), where the dialect
//         keeps as many lines in flight as the printer reports room for; the
//         second is also reported as a ratio to the first, same run. Lines
//         overlap the printer's work at best, so the ceiling with ADVANCED_OK
//         is 1 / max(delay, line time): (delay + line time) / max(…) times
//         the one-line limit, 2× when the two are equal.

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { runBridge, type Bridge } from '../../device/hosts/node/index.js';
import type { Dialect } from '../../protocol/device-messages.js';
import type { ClientEvent, JobView } from '../../protocol/client-messages.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { Processes, type Json, type Proc } from '../../test/helpers/processes.js';
import { tempDir } from '../../test/helpers/server.js';
import { connectClient, type Client } from '../client/client.js';

const BAUD = 115_200;
const WIRE_BYTES_PER_S = BAUD / 10;
const ADMIN = 'bench-admin-token';
const DEVICE = 'bench-1';

export interface RawThroughput {
  bytes: number;
  baud: number;
  wireBytesPerSecond: number;
  /** Emulator's first byte → last byte, through server and bridge. */
  bytesPerSecond: number;
  fractionOfWire: number;
  /** Submit → job done (client's view). */
  endToEndSeconds: number;
  /** Submit → the last byte at the printer. */
  submitToLastByteSeconds: number;
  endToEndFractionOfWire: number;
  /** The same payload written straight to the emulator's PTY. */
  emulatorAloneFraction: number;
}

export interface GcodeRun {
  okDelayMs: number;
  /** The emulated printer reports its free buffers (Marlin's ADVANCED_OK). */
  advancedOk: boolean;
  lines: number;
  avgLineBytes: number;
  linesPerSecond: number;
  /** 1 / (delay + line time) at the baud rate. */
  limitLinesPerSecond: number;
  fractionOfLimit: number;
  /** 1 / max(delay, line time): no host can do better, whatever it keeps in flight. */
  ceilingLinesPerSecond: number;
  fractionOfCeiling: number;
  resends: number;
  maxQueued: number;
  /** Lines the emulated printer lost because the host sent beyond its room: must be 0. */
  overruns: number;
  endToEndSeconds: number;
  /** With ADVANCED_OK: lines/s over the plain printer's at the same delay, same run. */
  vsOneLine?: number;
}

export interface ThroughputBench {
  raw: RawThroughput;
  gcode: GcodeRun[];
}

interface World {
  server: RunningServer;
  client: Client;
  jobs: Map<string, JobView>;
  procs: Processes;
  dir: string;
  token: string;
  close(): Promise<void>;
}

const wallNow = (): number => performance.timeOrigin + performance.now();

async function world(): Promise<World> {
  const dir = tempDir('pb-bench-');
  const store = openStore(dir);
  const token = addDevice(store, DEVICE, []);
  store.close();
  const server = await startServer({ host: '127.0.0.1', port: 0, dataDir: dir, adminToken: ADMIN, log: () => {} });
  const client = await connectClient(`ws://127.0.0.1:${server.port}/v1/client`, ADMIN);
  const jobs = new Map<string, JobView>();
  client.on('event', (e: ClientEvent) => {
    if (e.event === 'job.updated') jobs.set(e.job.id, e.job);
  });
  await client.request('subscribe');
  const procs = new Processes();
  return {
    server, client, jobs, procs, dir, token,
    async close() {
      await client.close().catch(() => {});
      await server.close();
      await procs.killAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(what: string, cond: () => boolean, timeout: number): Promise<void> {
  const end = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function emulator(w: World, tag: string, dialect: string, extra: string[] = []): Promise<{ proc: Proc; path: string; out: string }> {
  const path = join(w.dir, `tty-${tag}`);
  const out = join(w.dir, `${tag}.out`);
  const proc = w.procs.cli(['emulate', '--dialect', dialect, '--pty', path, '--baud', String(BAUD), '--out', out, ...extra]);
  await proc.waitForEvent('pty');
  return { proc, path, out };
}

async function bridgeTo(w: World, path: string, dialect: Dialect): Promise<Bridge> {
  const bridge = await runBridge({
    server: `ws://127.0.0.1:${w.server.port}`, id: DEVICE, token: w.token,
    printers: [{ uri: `serial:${path}@${BAUD}`, dialect, poll: 0 }],
    log: () => {},
  });
  await until('the bridge online', () => bridge.snapshot().link === 'online', 20_000);
  return bridge;
}

/** Submits a job and resolves with its final view and the submit→done seconds. */
async function printJob(w: World, data: Uint8Array, timeout: number): Promise<{ job: JobView; seconds: number; start: number }> {
  const start = wallNow();
  const job = (await w.client.request('job.submit', { printer: `${DEVICE}/0`, data: Buffer.from(data).toString('base64') })) as JobView;
  const final = ['done', 'failed', 'canceled'];
  await until(`job ${job.id} to finish`, () => final.includes(w.jobs.get(job.id)?.state ?? ''), timeout);
  return { job: w.jobs.get(job.id)!, seconds: (wallNow() - start) / 1000, start };
}

function receivedSpan(proc: Proc, bytes: number): Promise<{ since: number; at: number }> {
  return proc.waitForEvent<Json & { since: number; at: number }>({ event: 'received', bytes }, { timeout: 120_000 });
}

/** Printable bytes with line feeds, like a long receipt or label batch. */
function payload(size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 7;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 64 === 63 ? 0x0a : 0x20 + ((x >>> 16) % 95);
  }
  return out;
}

async function emulatorAlone(w: World, data: Uint8Array): Promise<number> {
  const emu = await emulator(w, 'alone', 'raw');
  const port = new SerialPort({ path: emu.path, baudRate: BAUD, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  port.write(Buffer.from(data));
  const span = await receivedSpan(emu.proc, data.length);
  await new Promise<void>((r) => port.close(() => r()));
  await emu.proc.kill();
  return data.length / ((span.at - span.since) / 1000) / WIRE_BYTES_PER_S;
}

export async function runRawThroughput(size: number, log: (line: string) => void): Promise<RawThroughput> {
  const w = await world();
  try {
    const data = payload(size);
    const alone = await emulatorAlone(w, data);
    log(`emulator alone: ${(alone * 100).toFixed(2)} % of the wire`);
    const emu = await emulator(w, 'raw', 'raw');
    const bridge = await bridgeTo(w, emu.path, 'raw');
    try {
      const { job, seconds, start } = await printJob(w, data, 120_000);
      if (job.state !== 'done') throw new Error(`bench: raw job ended ${job.state}`);
      const span = await receivedSpan(emu.proc, size);
      const toLastByte = (span.at - start) / 1000;
      if (readFileSync(emu.out).length !== size) throw new Error('bench: the emulator did not get exactly the job');
      const bytesPerSecond = size / ((span.at - span.since) / 1000);
      log(`raw ${size} B: ${bytesPerSecond.toFixed(0)} B/s at the printer, ${seconds.toFixed(2)} s submit→done, ${toLastByte.toFixed(2)} s submit→last byte`);
      return {
        bytes: size, baud: BAUD, wireBytesPerSecond: WIRE_BYTES_PER_S,
        bytesPerSecond: Math.round(bytesPerSecond), fractionOfWire: round4(bytesPerSecond / WIRE_BYTES_PER_S),
        endToEndSeconds: round4(seconds), submitToLastByteSeconds: round4(toLastByte),
        endToEndFractionOfWire: round4(size / Math.max(seconds, toLastByte) / WIRE_BYTES_PER_S),
        emulatorAloneFraction: round4(alone),
      };
    } finally {
      await bridge.stop();
    }
  } finally {
    await w.close();
  }
}

/** A plausible print: moves with coordinates, a few comments the host strips. */
function gcodeProgram(lines: number): string {
  const out: string[] = ['; bench program', 'G21', 'G90'];
  for (let i = 0; out.length < lines; i++) {
    out.push(`G1 X${(i % 200).toFixed(3)} Y${((i * 7) % 200).toFixed(3)} E${(i * 0.05).toFixed(4)} F3000`);
  }
  return `${out.join('\n')}\n`;
}

export async function runGcodeThroughput(okDelayMs: number, lines: number, log: (line: string) => void, advancedOk = false): Promise<GcodeRun> {
  const w = await world();
  try {
    const extra = ['--ok-delay', String(okDelayMs), ...(advancedOk ? ['--advanced-ok'] : [])];
    const emu = await emulator(w, `gcode-${okDelayMs}${advancedOk ? '-adv' : ''}`, 'gcode', extra);
    const bridge = await bridgeTo(w, emu.path, 'gcode');
    try {
      const program = new TextEncoder().encode(gcodeProgram(lines));
      const { job, seconds } = await printJob(w, program, 600_000);
      if (job.state !== 'done') throw new Error(`bench: gcode job ended ${job.state} ${JSON.stringify(job)}`);
      // The last `ok` went out before job.done; its throttled report follows within 100 ms.
      await new Promise((r) => setTimeout(r, 300));
      const report = emu.proc.events().filter((e) => e['event'] === 'gcode').at(-1) as
        (Json & { executed: number; firstAt: number; at: number; resends: number; maxQueued: number; overruns: number }) | undefined;
      if (!report || report.executed < lines - 1) throw new Error(`bench: the emulator ran ${report?.executed ?? 0} of ${lines - 1} commands`);
      const received = readFileSync(emu.out).length;
      const avgLineBytes = received / report.executed;
      const linesPerSecond = (report.executed - 1) / ((report.at - report.firstAt) / 1000);
      const limit = 1 / (okDelayMs / 1000 + (avgLineBytes * 10) / BAUD);
      const ceiling = 1 / Math.max(okDelayMs / 1000, (avgLineBytes * 10) / BAUD);
      const kind = advancedOk ? 'ADVANCED_OK' : 'plain';
      log(`gcode ${kind} ok after ${okDelayMs} ms: ${linesPerSecond.toFixed(1)} lines/s, one-line limit ${limit.toFixed(1)} (${(linesPerSecond / limit).toFixed(2)}×), ceiling ${ceiling.toFixed(1)} (${(linesPerSecond / ceiling).toFixed(2)}), max queued ${report.maxQueued}, overruns ${report.overruns}`);
      if (report.overruns !== 0) throw new Error(`bench: the host overran the emulated printer ${report.overruns} times`);
      return {
        okDelayMs, advancedOk, lines: report.executed, avgLineBytes: round4(avgLineBytes),
        linesPerSecond: round4(linesPerSecond), limitLinesPerSecond: round4(limit), fractionOfLimit: round4(linesPerSecond / limit),
        ceilingLinesPerSecond: round4(ceiling), fractionOfCeiling: round4(linesPerSecond / ceiling),
        resends: report.resends, maxQueued: report.maxQueued, overruns: report.overruns, endToEndSeconds: round4(seconds),
      };
    } finally {
      await bridge.stop();
    }
  } finally {
    await w.close();
  }
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}

export async function runThroughputBench(opts: { quick?: boolean; log?: (line: string) => void } = {}): Promise<ThroughputBench> {
  const log = opts.log ?? (() => {});
  const raw = await runRawThroughput(opts.quick ? 64 * 1024 : 256 * 1024, log);
  const gcode: GcodeRun[] = [];
  for (const delay of [2, 4, 10]) {
    const lines = opts.quick ? 300 : 2_000;
    const plain = await runGcodeThroughput(delay, lines, log);
    const advanced = await runGcodeThroughput(delay, lines, log, true);
    advanced.vsOneLine = round4(advanced.linesPerSecond / plain.linesPerSecond);
    log(`gcode ok after ${delay} ms: ADVANCED_OK ${advanced.vsOneLine.toFixed(2)}× the plain printer's lines/s`);
    gcode.push(plain, advanced);
  }
  return { raw, gcode };
}
