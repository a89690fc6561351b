// The cluster bench's jobs: job throughput of one node on PostgreSQL against
// one node on SQLite, the same load on both in the same run. The load is the
// jobs bench's (jobs.ts): N printers (jobs-devices.ts), one 64 KiB job
// each, all submitted at once by one client and printed at a network
// printer's pace through real device sockets.
//
// jobsPerSecond — N over the first submit until the last job heard done.
// cpu           — the node's CPU per job; the database's own processes
//                 apart (dbCpu: PostgreSQL's backends; SQLite's work is the
//                 node's own).
// store         — what the node asked its store per job: on SQLite the
//                 writes and commits (jobs-db-count.ts); on PostgreSQL the
//                 round trips the loop waited for, the writes, and the
//                 milliseconds the loop was blocked (cluster-pg-count.ts).
//
// Ratios are PostgreSQL / SQLite.

import type { ClientEvent } from '../../protocol/client-messages.js';
import { connectClient, type Client } from '../client/client.js';
import { BENCH_ADMIN, type Creds, DEVICES_PER_PROCESS, sleep } from './bench-store.js';
import { startChild } from './children.js';
import { startNodes, takeStoreCounts, type Nodes, type StoreKind } from './cluster-setup.js';
import { cpuSeconds, wallNow } from './fanout-proc.js';
import { JOB_BYTES, benchDeviceId, jobPayload } from './jobs-payload.js';

const DONE_TIMEOUT_MS = 600_000;

export interface JobsSide {
  store: StoreKind;
  wallSeconds: number;
  jobsPerSecond: number;
  cpuMillisPerJob: number;
  dbCpuMillisPerJob: number;
  /** Per job: SQLite's writes and commits, or PostgreSQL's round trips, writes and loop-blocked milliseconds. */
  storePerJob: Record<string, number>;
  /** What the store was asked, by the statements' first words (all of it, not per job). */
  storeBySql: Record<string, number>;
}

export type JobsRatio = Pick<JobsSide, 'wallSeconds' | 'jobsPerSecond' | 'cpuMillisPerJob'>;

const round = (x: number, places = 3): number => Math.round(x * 10 ** places) / 10 ** places;

/** Every job submitted at once; resolves when each was heard done, rejects on any job that ended otherwise. */
async function submitAll(client: Client, creds: Creds[], payloads: string[]): Promise<void> {
  const done = new Set<string>();
  let submitted: string[] | undefined;
  let settle: (e?: Error) => void = () => {};
  const all = new Promise<void>((resolve, reject) => {
    settle = (e) => (e === undefined ? resolve() : reject(e));
  });
  const check = (): void => {
    if (submitted !== undefined && submitted.every((id) => done.has(id))) settle();
  };
  client.on('event', (e: ClientEvent) => {
    if (e.event !== 'job.updated') return;
    const { id, state } = e.job;
    if (state === 'failed' || state === 'canceled') settle(new Error(`job ${id} ended ${state}: ${JSON.stringify(e.job.error)}`));
    if (state !== 'done') return;
    done.add(id);
    check();
  });
  const timer = setTimeout(() => settle(new Error(`jobs not all done within ${DONE_TIMEOUT_MS} ms`)), DONE_TIMEOUT_MS);
  try {
    const replies = await Promise.all(creds.map((c, i) => client.request('job.submit', { printer: `${c.id}/0`, data: payloads[i] ?? '' })));
    submitted = replies.map((j) => j.id);
    check();
    await all;
  } finally {
    clearTimeout(timer);
  }
}

async function measure(set: Nodes, store: StoreKind, payloads: string[], log: (l: string) => void): Promise<JobsSide> {
  const { creds } = set;
  const node = set.nodes[0]!;
  const n = creds.length;
  const processes = Math.max(2, Math.ceil(n / DEVICES_PER_PROCESS));
  const kids = Array.from({ length: processes }, () => startChild('jobs-devices.ts'));
  try {
    const url = `ws://127.0.0.1:${node.port}/v1/device`;
    await Promise.all(kids.map((kid, k) => kid.ask({ cmd: 'connect', url, devices: creds.filter((_c, i) => i % processes === k) })));
    const client = await connectClient(`ws://127.0.0.1:${node.port}/v1/client`, BENCH_ADMIN);
    try {
      await sleep(1000);
      await Promise.all(kids.map((kid) => kid.ask({ cmd: 'reset' })));
      await takeStoreCounts([node], n);
      const c0 = cpuSeconds(node.server.pid);
      const d0 = set.databaseCpuSeconds();
      const t0 = wallNow();
      await submitAll(client, creds, payloads);
      const wall = (wallNow() - t0) / 1000;
      const cpu = cpuSeconds(node.server.pid) - c0;
      const dbCpu = set.databaseCpuSeconds() - d0;
      const { perUnit: storePerJob, bySql: storeBySql } = await takeStoreCounts([node], n);
      const stats = await Promise.all(kids.map((kid) => kid.ask({ cmd: 'stats' })));
      const errors = stats.flatMap((s) => s['errors'] as string[]);
      if (errors.length > 0) throw new Error(`devices reported errors:\n${errors.join('\n')}`);
      const printed = stats.reduce((sum, s) => sum + Number(s['done']), 0);
      if (printed !== n) throw new Error(`devices finished ${printed} of ${n} jobs`);
      const side: JobsSide = {
        store, wallSeconds: round(wall), jobsPerSecond: round(n / wall, 1),
        cpuMillisPerJob: round((cpu / n) * 1000), dbCpuMillisPerJob: round((dbCpu / n) * 1000),
        storePerJob, storeBySql,
      };
      log(`${n} jobs in ${side.wallSeconds} s = ${side.jobsPerSecond} jobs/s, CPU ${side.cpuMillisPerJob} ms/job (+ database ${side.dbCpuMillisPerJob}), store per job ${JSON.stringify(side.storePerJob)}`);
      return side;
    } finally {
      await client.close().catch(() => {});
    }
  } finally {
    await Promise.all(kids.map((kid) => kid.kill()));
  }
}

async function side(n: number, store: StoreKind, payloads: string[], log: (l: string) => void): Promise<JobsSide> {
  const set = await startNodes({ store, count: 1, devices: n, idOf: benchDeviceId });
  try {
    return await measure(set, store, payloads, log);
  } finally {
    await set.close();
  }
}

export interface ClusterJobs {
  printers: number;
  jobBytes: number;
  sqlite: JobsSide;
  postgres: JobsSide;
  /** PostgreSQL / SQLite, figure by figure. */
  ratio: JobsRatio;
}

export async function runClusterJobs(n: number, log: (l: string) => void): Promise<ClusterJobs> {
  log(`${n} printers, a ${JOB_BYTES / 1024} KiB job each; SQLite first`);
  const payloads = Array.from({ length: n }, (_, i) => Buffer.from(jobPayload(JOB_BYTES, i)).toString('base64'));
  const sqlite = await side(n, 'sqlite', payloads, (l) => log(`sqlite: ${l}`));
  const postgres = await side(n, 'postgres', payloads, (l) => log(`postgres: ${l}`));
  const keys: (keyof JobsRatio)[] = ['wallSeconds', 'jobsPerSecond', 'cpuMillisPerJob'];
  const ratio = Object.fromEntries(keys.map((k) => [k, round(postgres[k] / sqlite[k])])) as unknown as JobsRatio;
  for (const k of keys) log(`${k.padEnd(16)} postgres ${String(postgres[k]).padStart(9)}  sqlite ${String(sqlite[k]).padStart(9)}  ratio ${ratio[k]}×`);
  return { printers: n, jobBytes: JOB_BYTES, sqlite, postgres, ratio };
}
