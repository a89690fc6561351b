// The cluster bench's fan-out: N devices on ONE printbridge node on SQLite
// (the peer, as the fanout bench's printbridge side) against the same N
// spread evenly over THREE nodes sharing one PostgreSQL database. The same
// device processes (fanout-devices.ts) connect in both runs; a client on the
// first node broadcasts (control.send to all, as the fanout bench does).
//
// connect    — all N connect, authenticate and are welcomed (wall time).
// received   — from the broadcast's start until the last device that had it
//              had it (median of ROUNDS, as is report).
// report     — until the client had the delivery report.
// cpu        — the nodes' CPU time summed, per device reached, over ROUNDS
//              broadcasts; the database's own processes apart (dbCpu).
// store      — what the nodes asked their store per device connected and
//              per broadcast: on PostgreSQL each round trip blocks the
//              node's loop (cluster-pg-count.ts).
// reached    — devices that received the broadcast, and the report's count
//              of each status: a broadcast that reaches only the devices of
//              the node it was sent on shows here as `received X of N`,
//              never as a fast figure.
//
// Ratios are three nodes / one node: below 1 the cluster does better.

import { connectClient } from '../client/client.js';
import { BENCH_ADMIN, DEVICES_PER_PROCESS, median, sleep } from './bench-store.js';
import { startChild } from './children.js';
import { startNodes, takeStoreCounts, type Nodes, type StoreKind } from './cluster-setup.js';
import { cpuSeconds, wallNow } from './fanout-proc.js';

const ROUNDS = 7;
/** Long enough for every device to answer; a shortfall shows as answers missing, not as a fast figure. */
const CONTROL_TIMEOUT_MS = 60_000;

export interface FanoutSide {
  nodes: number;
  store: StoreKind;
  /** Devices that received the broadcast (the fewest over the rounds). */
  received: number;
  /** The delivery report's devices by status, in the last round. */
  reports: Record<string, number>;
  connectSeconds: number;
  receivedSeconds: number;
  reportSeconds: number;
  cpuMicrosPerRecipient: number;
  dbCpuMicrosPerRecipient: number;
  /**
   * What the nodes asked their store per device connected, and per
   * broadcast round (cluster-setup.ts); the nodes' periodic work (lease
   * renewals) falls in those spans too.
   */
  storePerConnect: Record<string, number>;
  storePerBroadcast: Record<string, number>;
}

export type FanoutRatio = Pick<FanoutSide, 'connectSeconds' | 'receivedSeconds' | 'reportSeconds' | 'cpuMicrosPerRecipient'>;

async function measure(set: Nodes, store: StoreKind, processes: number, log: (l: string) => void): Promise<FanoutSide> {
  const { nodes, creds } = set;
  const kids = Array.from({ length: processes }, () => startChild('fanout-devices.ts'));
  try {
    // Device process p talks to node p mod the node count: an even spread.
    const urlOf = (p: number): string => `ws://127.0.0.1:${nodes[p % nodes.length]!.port}/v1/device`;
    const nodesCpu = (): number => nodes.reduce((sum, n) => sum + cpuSeconds(n.server.pid), 0);
    await sleep(500);
    await takeStoreCounts(nodes, 1);
    let t0 = wallNow();
    await Promise.all(kids.map((kid, p) => kid.ask({ cmd: 'connect', url: urlOf(p), devices: creds.filter((_c, i) => i % processes === p) })));
    const connectSeconds = (wallNow() - t0) / 1000;
    const storePerConnect = (await takeStoreCounts(nodes, creds.length)).perUnit;
    log(`connected ${creds.length} in ${connectSeconds.toFixed(2)} s; store per device ${JSON.stringify(storePerConnect)}`);
    await sleep(1000);

    const client = await connectClient(`ws://127.0.0.1:${nodes[0]!.port}/v1/client`, BENCH_ADMIN);
    try {
      let cpu = 0;
      let dbCpu = 0;
      let received = creds.length;
      let reports: Record<string, number> = {};
      const receivedTimes: number[] = [];
      const reportTimes: number[] = [];
      // Lease renewals and the like during the second's wait are not the broadcast's.
      await takeStoreCounts(nodes, 1);
      for (let r = 0; r < ROUNDS; r++) {
        await Promise.all(kids.map((kid) => kid.ask({ cmd: 'reset' })));
        const c0 = nodesCpu();
        const d0 = set.databaseCpuSeconds();
        t0 = wallNow();
        const result = await client.request('control.send', { to: { all: true }, name: 'bench', args: {}, timeout: CONTROL_TIMEOUT_MS });
        reportTimes.push((wallNow() - t0) / 1000);
        cpu += nodesCpu() - c0;
        dbCpu += set.databaseCpuSeconds() - d0;
        reports = {};
        for (const rep of result.reports) reports[rep.status] = (reports[rep.status] ?? 0) + 1;
        const stats = await Promise.all(kids.map((kid) => kid.ask({ cmd: 'stats' })));
        const got = stats.reduce((sum, s) => sum + Number(s['received']), 0);
        received = Math.min(received, got);
        const last = Math.max(...stats.filter((s) => Number(s['received']) > 0).map((s) => Number(s['lastReceivedAt'])));
        receivedTimes.push((last - t0) / 1000);
        await sleep(300);
      }
      const storePerBroadcast = (await takeStoreCounts(nodes, ROUNDS)).perUnit;
      log(`received ${received} of ${creds.length}; report ${JSON.stringify(reports)}; store per broadcast ${JSON.stringify(storePerBroadcast)}`);
      const perRecipient = (s: number): number => (s / ROUNDS / received) * 1e6;
      return {
        nodes: nodes.length, store, received, reports, connectSeconds,
        receivedSeconds: median(receivedTimes), reportSeconds: median(reportTimes),
        cpuMicrosPerRecipient: perRecipient(cpu), dbCpuMicrosPerRecipient: perRecipient(dbCpu),
        storePerConnect, storePerBroadcast,
      };
    } finally {
      await client.close().catch(() => {});
    }
  } finally {
    await Promise.all(kids.map((kid) => kid.kill()));
  }
}

async function side(n: number, store: StoreKind, count: number, processes: number, log: (l: string) => void): Promise<FanoutSide> {
  const set = await startNodes({ store, count, devices: n, idOf: (i) => `bench-${String(i).padStart(5, '0')}` });
  try {
    return await measure(set, store, processes, log);
  } finally {
    await set.close();
  }
}

export interface ClusterFanout {
  devices: number;
  deviceProcesses: number;
  oneNode: FanoutSide;
  threeNodes: FanoutSide;
  /** Three nodes / one node, figure by figure. */
  ratio: FanoutRatio;
}

export async function runClusterFanout(n: number, log: (l: string) => void): Promise<ClusterFanout> {
  // The same device processes in both runs, a multiple of three so that each node gets as many.
  const processes = 3 * Math.ceil(n / 3 / DEVICES_PER_PROCESS);
  log(`${n} devices in ${processes} processes; one node on SQLite first`);
  const oneNode = await side(n, 'sqlite', 1, processes, (l) => log(`one node: ${l}`));
  const threeNodes = await side(n, 'postgres', 3, processes, (l) => log(`three nodes: ${l}`));
  const keys: (keyof FanoutRatio)[] = ['connectSeconds', 'receivedSeconds', 'reportSeconds', 'cpuMicrosPerRecipient'];
  const ratio = Object.fromEntries(keys.map((k) => [k, Math.round((threeNodes[k] / oneNode[k]) * 1000) / 1000])) as unknown as FanoutRatio;
  for (const k of keys) log(`${k.padEnd(22)} three nodes ${threeNodes[k].toFixed(3).padStart(9)}  one node ${oneNode[k].toFixed(3).padStart(9)}  ratio ${ratio[k]}×`);
  for (const s of [oneNode, threeNodes]) {
    if (s.received < n) log(`PARTIAL: on ${s.nodes} node(s) the broadcast reached ${s.received} of ${n} devices (report ${JSON.stringify(s.reports)}); its received and cpu figures are for those it reached`);
  }
  return { devices: n, deviceProcesses: processes, oneNode, threeNodes, ratio };
}
