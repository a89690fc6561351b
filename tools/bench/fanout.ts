// Broadcast to every device, measured against a plain `ws` server doing the
// same work in the same run (fanout-plain.ts). N devices in a few processes
// of their own (fanout-devices.ts), each server alone in its process, its CPU
// time and RSS read from /proc. For each peer:
//
// connect    — all N connect, authenticate and are welcomed (wall time).
// rss        — server anonymous RSS (heaps and native memory, not the code
//              mapped from files) with N devices online minus before any, per
//              device, each read after a full collection (`gc`, the servers
//              run with --expose-gc for it).
// cpu        — server CPU time per recipient of a broadcast: sending it and
//              taking every answer (over ROUNDS broadcasts: /proc counts in
//              10 ms ticks, too coarse for one broadcast to 2,000 devices).
// received   — from the broadcast's start until the last device had it
//              (median of ROUNDS, as is report).
// report     — until the delivery report (printbridge: the reply to a
//              client's control.send to all; plain: every answer collected).
// storm      — every device drops at once and all come back (wall time).
//
// Ratios are printbridge / plain: below 1 printbridge does better.
// Each process holds thousands of sockets: the children raise their soft
// open-file limit to the hard one (`ulimit -Hn`), which must exceed N plus a
// few hundred for the server.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tempDir } from '../../test/helpers/server.js';
import { connectClient } from '../client/client.js';
import { BENCH_ADMIN as ADMIN, type Creds, DEVICES_PER_PROCESS, median, registerDevices, sleep } from './bench-store.js';
import { bundleChildren, startChild } from './children.js';
import { cpuSeconds, OPEN_FILES_WANTED, rssBytes, wallNow, type Child } from './fanout-proc.js';

/** Descriptors a server process holds besides its device sockets (stdio, IPC, listener, store files, epoll, a client). */
const SERVER_OWN_FILES = 100;
const ROUNDS = 7;
/** Long enough for every device to answer; a shortfall shows as answers missing, not as a fast figure. */
const CONTROL_TIMEOUT_MS = 60_000;

export interface PeerFigures {
  connectSeconds: number;
  rssBytesPerDevice: number;
  cpuMicrosPerRecipient: number;
  receivedSeconds: number;
  reportSeconds: number;
  stormSeconds: number;
}

export interface FanoutBench {
  devices: number;
  deviceProcesses: number;
  printbridge: PeerFigures;
  plain: PeerFigures;
  /** printbridge / plain, figure by figure. */
  ratio: PeerFigures;
}

export interface FanoutOptions {
  devices?: number;
  log?: (line: string) => void;
}

/** What one peer does for the broadcast; resolves when its report is in. */
type Broadcast = () => Promise<void>;



/**
 * The server's RSS once a full collection has run (each server takes `gc`
 * over IPC): what it holds, not how much garbage the last second left.
 */
async function settledRss(server: Child): Promise<number> {
  await server.ask({ cmd: 'gc' });
  return rssBytes(server.pid);
}

async function measure(server: Child, port: number, creds: Creds[], processes: number, broadcast: Broadcast, log: (l: string) => void): Promise<PeerFigures> {
  const kids = Array.from({ length: processes }, () => startChild('fanout-devices.ts'));
  try {
    const url = `ws://127.0.0.1:${port}/v1/device`;
    const slices = kids.map((_, k) => creds.filter((_c, i) => i % processes === k));
    await sleep(500);
    const rss0 = await settledRss(server);

    let t0 = wallNow();
    await Promise.all(kids.map((kid, k) => kid.ask({ cmd: 'connect', url, devices: slices[k] })));
    const connectSeconds = (wallNow() - t0) / 1000;
    await sleep(1000);
    const rssBytesPerDevice = ((await settledRss(server)) - rss0) / creds.length;
    log(`connected ${creds.length} in ${connectSeconds.toFixed(2)} s`);

    let cpuTotal = 0;
    const received: number[] = [];
    const report: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      await Promise.all(kids.map((kid) => kid.ask({ cmd: 'reset' })));
      const c0 = cpuSeconds(server.pid);
      t0 = wallNow();
      await broadcast();
      report.push((wallNow() - t0) / 1000);
      cpuTotal += cpuSeconds(server.pid) - c0;
      const stats = await Promise.all(kids.map((kid) => kid.ask({ cmd: 'stats' })));
      const got = stats.reduce((sum, s) => sum + Number(s['received']), 0);
      if (got !== creds.length) throw new Error(`broadcast reached ${got} of ${creds.length} devices`);
      received.push((Math.max(...stats.map((s) => Number(s['lastReceivedAt']))) - t0) / 1000);
      await sleep(300);
    }

    t0 = wallNow();
    await Promise.all(kids.map((kid) => kid.ask({ cmd: 'storm' })));
    const stormSeconds = (wallNow() - t0) / 1000;
    log(`reconnect storm ${stormSeconds.toFixed(2)} s`);
    return { connectSeconds, rssBytesPerDevice, cpuMicrosPerRecipient: (cpuTotal / ROUNDS / creds.length) * 1e6, receivedSeconds: median(received), reportSeconds: median(report), stormSeconds };
  } finally {
    await Promise.all(kids.map((kid) => kid.kill()));
  }
}

async function printbridge(n: number, processes: number, log: (l: string) => void): Promise<PeerFigures> {
  const dir = tempDir('pb-fanout-');
  const server = startChild('fanout-printbridge.ts', [dir, ADMIN, String(n)], { quiet: true, nodeArgs: ['--expose-gc'] });
  try {
    const creds = registerDevices(dir, n, (i) => `bench-${String(i).padStart(5, '0')}`);
    const { port } = await server.ask({ cmd: 'port' });
    const client = await connectClient(`ws://127.0.0.1:${Number(port)}/v1/client`, ADMIN);
    try {
      const broadcast = async (): Promise<void> => {
        const result = await client.request('control.send', { to: { all: true }, name: 'bench', args: {}, timeout: CONTROL_TIMEOUT_MS });
        const notOk = result.reports.filter((rep) => rep.status !== 'ok').length;
        if (notOk > 0) throw new Error(`printbridge: ${notOk} of ${result.reports.length} devices did not answer ok`);
      };
      return await measure(server, Number(port), creds, processes, broadcast, log);
    } finally {
      await client.close().catch(() => {});
    }
  } finally {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function plain(n: number, processes: number, log: (l: string) => void): Promise<PeerFigures> {
  const server = startChild('fanout-plain.ts', [], { nodeArgs: ['--expose-gc'] });
  try {
    const creds = Array.from({ length: n }, (_, i) => ({ id: `bench-${String(i).padStart(5, '0')}`, token: createHash('sha256').update(`plain-${i}`).digest('base64url') }));
    const hashes = Object.fromEntries(creds.map((c) => [c.id, createHash('sha256').update(c.token).digest('hex')]));
    await server.ask({ cmd: 'tokens', hashes });
    const { port } = await server.ask({ cmd: 'listen' });
    const broadcast = async (): Promise<void> => {
      const { recipients } = await server.ask({ cmd: 'broadcast' });
      if (recipients !== n) throw new Error(`plain: broadcast went to ${String(recipients)} of ${n}`);
    };
    return await measure(server, Number(port), creds, processes, broadcast, log);
  } finally {
    await server.kill();
  }
}

export async function runFanoutBench(opts: FanoutOptions = {}): Promise<FanoutBench> {
  await bundleChildren();
  const n = opts.devices ?? 2000;
  const log = opts.log ?? (() => {});
  const hard = Number(execFileSync('sh', ['-c', `ulimit -Hn ${OPEN_FILES_WANTED} 2>/dev/null; ulimit -Hn`], { encoding: 'utf8' }).trim());
  if (Number.isFinite(hard) && n + SERVER_OWN_FILES > hard) {
    throw new Error(`${n} devices need an open-file limit of at least ${n + SERVER_OWN_FILES} in each server process; the hard limit here is ${hard} and cannot be raised by this user (at most ${hard - SERVER_OWN_FILES} devices)`);
  }
  const processes = Math.max(2, Math.ceil(n / DEVICES_PER_PROCESS));
  log(`${n} devices in ${processes} processes; plain ws peer first`);
  const plainFigures = await plain(n, processes, (l) => log(`plain: ${l}`));
  const pbFigures = await printbridge(n, processes, (l) => log(`printbridge: ${l}`));
  const keys = Object.keys(plainFigures) as (keyof PeerFigures)[];
  const ratio = Object.fromEntries(keys.map((k) => [k, pbFigures[k] / plainFigures[k]])) as unknown as PeerFigures;
  for (const k of keys) log(`${k.padEnd(22)} printbridge ${fmt(pbFigures[k])}  plain ${fmt(plainFigures[k])}  ratio ${ratio[k].toFixed(2)}×`);
  return { devices: n, deviceProcesses: processes, printbridge: pbFigures, plain: plainFigures, ratio };
}

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3)).padStart(9);
