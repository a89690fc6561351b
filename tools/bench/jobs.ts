// Many printers printing at once: N devices (default 1,000) each get one
// job of 64 KiB, all submitted at once by one client over /v1/client
// (tools/client/client.ts), and print them at a network printer's pace
// (jobs-devices.ts says which and why). The devices live in two processes
// of their own, the server alone in its process; its CPU time is read from
// /proc, its SQLite writes counted inside it (jobs-db-count.ts). The same
// work is done in the same run by a plain `ws` server (jobs-plain.ts: one
// INSERT per job, one UPDATE when done, no progress kept), so that every
// figure is also a ratio. For each peer:
//
// wall       — the first submit sent until the client heard the last job done.
// cpu        — server CPU seconds over that span, per MiB of job bytes delivered.
// commits    — SQLite write transactions per job (each one fsync of the WAL
//              under synchronous = FULL); rowWrites: changed rows per job;
//              disk: bytes the server process caused to be written to
//              storage (/proc/PID/io write_bytes), per job.
// wire       — bytes on the devices' TCP connections per job, both ways
//              (frames, acks, job.start/accept/done: what the WebSocket
//              carries, headers and masks included).
// events     — job.updated events the submitting client received per job.
// floor      — one job's bytes at its printer's pace: the least wall time
//              possible, every printer printing at once.
//
// Ratios are printbridge / plain: below 1 printbridge does better.

import { readFileSync, rmSync } from 'node:fs';
import type { ClientEvent } from '../../protocol/client-messages.js';
import { tempDir } from '../../test/helpers/server.js';
import { connectClient, type Client } from '../client/client.js';
import { BENCH_ADMIN as ADMIN, type Creds, DEVICES_PER_PROCESS, registerDevices } from './bench-store.js';
import { bundleChildren, startChild } from './children.js';
import { cpuSeconds, wallNow, type Child } from './fanout-proc.js';
import type { DbWrites } from './jobs-db-count.js';
import { JOB_BYTES, PRINTER_RATE, benchDeviceId, jobPayload } from './jobs-payload.js';

const DONE_TIMEOUT_MS = 600_000;

export interface JobsPeerFigures {
  wallSeconds: number;
  /** The first submit until every submit was answered. */
  submitSeconds: number;
  serverCpuSeconds: number;
  cpuSecondsPerMiB: number;
  commitsPerJob: number;
  rowWritesPerJob: number;
  diskBytesPerJob: number;
  wireBytesPerJob: number;
  framesPerJob: number;
  acksPerJob: number;
  eventsPerJob: number;
}

export interface JobsBench {
  devices: number;
  deviceProcesses: number;
  jobBytes: number;
  printerBytesPerSecond: number;
  floorSeconds: number;
  printbridge: JobsPeerFigures & { writes: Record<string, number> };
  plain: JobsPeerFigures & { writes: Record<string, number> };
  /** printbridge / plain, figure by figure. */
  ratio: JobsPeerFigures;
}

export interface JobsOptions {
  devices?: number;
  log?: (line: string) => void;
}

interface Peer {
  server: Child;
  deviceUrl: string;
  clientUrl: string;
  /** The plain peer answers job.submit and nothing else: its client sends no hello. */
  hello: boolean;
  creds: Creds[];
  close(): Promise<void>;
}

const round = (x: number, places = 4): number => Math.round(x * 10 ** places) / 10 ** places;

/** Bytes the process caused to be sent to the storage layer so far. */
function diskWriteBytes(pid: number): number {
  const m = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m === null ? NaN : Number(m[1]);
}


/** Every job submitted at once; resolves when each has been heard done (any other end fails the bench). */
async function submitAll(client: Client, creds: Creds[], payloads: string[]): Promise<{ submitted: number; done: number; events: number }> {
  const pending = new Set<string>();
  const early = new Set<string>();
  let doneAt = 0;
  let finished: () => void = () => {};
  let failed: (e: Error) => void = () => {};
  const all = new Promise<void>((resolve, reject) => {
    finished = resolve;
    failed = reject;
  });
  // A job may fail while the submits are still out; it is reported when they are in.
  all.catch(() => undefined);
  let submitting = true;
  let events = 0;
  client.on('event', (e: ClientEvent) => {
    if (e.event !== 'job.updated') return;
    events += 1;
    const { id, state } = e.job;
    if (state === 'failed' || state === 'canceled') failed(new Error(`job ${id} ended ${state}: ${JSON.stringify(e.job.error)}`));
    if (state !== 'done') return;
    if (!pending.delete(id)) early.add(id);
    if (pending.size === 0 && !submitting) {
      doneAt = wallNow();
      finished();
    }
  });
  const timer = setTimeout(() => failed(new Error(`${pending.size} jobs not done within ${DONE_TIMEOUT_MS} ms`)), DONE_TIMEOUT_MS);
  try {
    const replies = await Promise.all(creds.map((c, i) => client.request('job.submit', { printer: `${c.id}/0`, data: payloads[i] ?? '' })));
    const submitted = wallNow();
    for (const job of replies) if (!early.delete(job.id)) pending.add(job.id);
    submitting = false;
    if (pending.size === 0) {
      doneAt = wallNow();
      finished();
    }
    await all;
    return { submitted, done: doneAt, events };
  } finally {
    clearTimeout(timer);
  }
}

async function measure(peer: Peer, payloads: string[], log: (l: string) => void): Promise<JobsPeerFigures & { writes: Record<string, number> }> {
  const n = peer.creds.length;
  const processes = Math.max(2, Math.ceil(n / DEVICES_PER_PROCESS));
  const kids = Array.from({ length: processes }, () => startChild('jobs-devices.ts'));
  try {
    let t0 = wallNow();
    await Promise.all(kids.map((kid, k) => kid.ask({ cmd: 'connect', url: peer.deviceUrl, devices: peer.creds.filter((_c, i) => i % processes === k) })));
    log(`connected ${n} devices in ${((wallNow() - t0) / 1000).toFixed(2)} s`);
    const client = await connectClient(peer.clientUrl, ADMIN, { hello: peer.hello });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      await Promise.all(kids.map((kid) => kid.ask({ cmd: 'reset' })));
      await peer.server.ask({ cmd: 'writes' });
      const c0 = cpuSeconds(peer.server.pid);
      const d0 = diskWriteBytes(peer.server.pid);
      t0 = wallNow();
      const { submitted, done, events } = await submitAll(client, peer.creds, payloads);
      const cpu = cpuSeconds(peer.server.pid) - c0;
      const disk = diskWriteBytes(peer.server.pid) - d0;
      const writes = (await peer.server.ask({ cmd: 'writes' })) as unknown as DbWrites;
      const stats = await Promise.all(kids.map((kid) => kid.ask({ cmd: 'stats' })));
      const sum = (k: string): number => stats.reduce((s, x) => s + Number(x[k]), 0);
      const errors = stats.flatMap((s) => s['errors'] as string[]);
      if (errors.length > 0) throw new Error(`devices reported errors:\n${errors.join('\n')}`);
      if (sum('done') !== n) throw new Error(`devices finished ${sum('done')} of ${n} jobs`);
      const mib = (n * JOB_BYTES) / (1024 * 1024);
      const figures = {
        wallSeconds: round((done - t0) / 1000),
        submitSeconds: round((submitted - t0) / 1000),
        serverCpuSeconds: round(cpu, 2),
        cpuSecondsPerMiB: round(cpu / mib),
        commitsPerJob: round(writes.commits / n, 3),
        rowWritesPerJob: round(writes.rows / n, 3),
        diskBytesPerJob: Math.round(disk / n),
        wireBytesPerJob: Math.round((sum('bytesIn') + sum('bytesOut')) / n),
        framesPerJob: round(sum('frames') / n, 2),
        acksPerJob: round(sum('acks') / n, 2),
        eventsPerJob: round(events / n, 2),
      };
      log(`${n} jobs in ${figures.wallSeconds} s (submits answered in ${figures.submitSeconds} s), server CPU ${figures.serverCpuSeconds} s = ${figures.cpuSecondsPerMiB} s/MiB, ${figures.commitsPerJob} commits and ${figures.rowWritesPerJob} row writes per job, ${figures.diskBytesPerJob} B to disk and ${figures.wireBytesPerJob} B on the wire per job`);
      log(`writes: ${JSON.stringify(writes.bySql)}`);
      return { ...figures, writes: writes.bySql };
    } finally {
      await client.close().catch(() => {});
    }
  } finally {
    await Promise.all(kids.map((kid) => kid.kill()));
  }
}

async function printbridgePeer(n: number): Promise<Peer> {
  const dir = tempDir('pb-jobs-');
  const creds = registerDevices(dir, n, benchDeviceId);
  const server = startChild('jobs-printbridge.ts', [dir, ADMIN, String(n)], { quiet: true });
  const { port } = await server.ask({ cmd: 'port' });
  return {
    server, creds, hello: true,
    deviceUrl: `ws://127.0.0.1:${Number(port)}/v1/device`,
    clientUrl: `ws://127.0.0.1:${Number(port)}/v1/client`,
    async close() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function plainPeer(n: number): Promise<Peer> {
  const dir = tempDir('pb-jobs-plain-');
  const server = startChild('jobs-plain.ts');
  const { port } = await server.ask({ cmd: 'listen', dataDir: dir });
  return {
    server, hello: false,
    creds: Array.from({ length: n }, (_, i) => ({ id: benchDeviceId(i), token: 'plain' })),
    deviceUrl: `ws://127.0.0.1:${Number(port)}/v1/device`,
    clientUrl: `ws://127.0.0.1:${Number(port)}/v1/client`,
    async close() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function withPeer<T>(make: Promise<Peer>, run: (p: Peer) => Promise<T>): Promise<T> {
  const peer = await make;
  try {
    return await run(peer);
  } finally {
    await peer.close();
  }
}

export async function runJobsBench(opts: JobsOptions = {}): Promise<JobsBench> {
  await bundleChildren();
  const n = opts.devices ?? 1000;
  const log = opts.log ?? (() => {});
  const processes = Math.max(2, Math.ceil(n / DEVICES_PER_PROCESS));
  const floorSeconds = JOB_BYTES / PRINTER_RATE;
  log(`${n} devices in ${processes} processes, a ${JOB_BYTES / 1024} KiB job each, printers at ${PRINTER_RATE / 1024} KiB/s (${floorSeconds.toFixed(2)} s a job at best); plain ws peer first`);
  const payloads = Array.from({ length: n }, (_, i) => Buffer.from(jobPayload(JOB_BYTES, i)).toString('base64'));
  const plain = await withPeer(plainPeer(n), (p) => measure(p, payloads, (l) => log(`plain: ${l}`)));
  const pb = await withPeer(printbridgePeer(n), (p) => measure(p, payloads, (l) => log(`printbridge: ${l}`)));
  const keys = Object.keys(plain).filter((k) => k !== 'writes') as (keyof JobsPeerFigures)[];
  const ratio = Object.fromEntries(keys.map((k) => [k, round(pb[k] / plain[k], 3)])) as unknown as JobsPeerFigures;
  for (const k of keys) log(`${k.padEnd(18)} printbridge ${String(pb[k]).padStart(10)}  plain ${String(plain[k]).padStart(10)}  ratio ${ratio[k]}×`);
  return { devices: n, deviceProcesses: processes, jobBytes: JOB_BYTES, printerBytesPerSecond: PRINTER_RATE, floorSeconds: round(floorSeconds), printbridge: pb, plain, ratio };
}
