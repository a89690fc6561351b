// What the cluster bench's parts share: nodes started on either store (one
// on SQLite, or several sharing one PostgreSQL database), devices registered
// in that store, and the database's own CPU time.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { startPostgres, type Postgres } from '../postgres-cluster.js';
import { BENCH_ADMIN, type Creds } from './bench-store.js';
import { startChild } from './children.js';
import type { PgStatements } from './cluster-pg-count.js';
import type { Child } from './fanout-proc.js';
import type { DbWrites } from './jobs-db-count.js';

/** Where the rows are: SQLite in the node's data dir, or a PostgreSQL database shared by every node. */
export type StoreKind = 'sqlite' | 'postgres';

export interface BenchNode {
  readonly server: Child;
  readonly port: number;
}

export interface Nodes {
  readonly nodes: BenchNode[];
  readonly creds: Creds[];
  /** The PostgreSQL cluster's processes' CPU seconds so far (0 on SQLite). */
  databaseCpuSeconds(): number;
  /** Stops every node and the database and removes their folders; safe to call on a half-started set. */
  close(): Promise<void>;
}

export interface NodesOptions {
  store: StoreKind;
  count: number;
  devices: number;
  idOf(i: number): string;
}

/**
 * Registers the devices, then starts the nodes one after another (on
 * PostgreSQL the first migrates the database and the others find it done).
 * Whatever was started is stopped again if a later step fails.
 */
export async function startNodes(opts: NodesOptions): Promise<Nodes> {
  if (opts.store === 'sqlite' && opts.count > 1) throw new Error('nodes on SQLite share nothing: one node only');
  const root = mkdtempSync(join(tmpdir(), 'pb-cluster-bench-'));
  let pg: Postgres | undefined;
  const started: Child[] = [];
  // An interrupted bench ends by process.exit (cluster.ts): no `finally` runs then, exit handlers do.
  const removeRoot = (): void => rmSync(root, { recursive: true, force: true });
  process.once('exit', removeRoot);
  const close = async (): Promise<void> => {
    await Promise.all(started.map((c) => c.kill()));
    await pg?.stop();
    removeRoot();
    process.off('exit', removeRoot);
  };
  try {
    let storeUrl: string | undefined;
    if (opts.store === 'postgres') {
      pg = await startPostgres();
      storeUrl = pg.url;
    }
    // On SQLite the rows are in the node's data dir; PostgreSQL's are the same wherever they are opened from.
    const creds = registerDevices(join(root, storeUrl === undefined ? 'node-0' : 'register'), storeUrl, opts.devices, opts.idOf);
    const nodes: BenchNode[] = [];
    for (let i = 0; i < opts.count; i++) {
      const name = `node-${i}`;
      const args = [join(root, name), BENCH_ADMIN, String(opts.devices), ...(storeUrl === undefined ? [] : [storeUrl, name])];
      const server = startChild('cluster-node.ts', args, { quiet: true });
      started.push(server);
      const { port } = await server.ask({ cmd: 'port' });
      nodes.push({ server, port: Number(port) });
    }
    const postmaster = pg?.pid;
    return { nodes, creds, close, databaseCpuSeconds: () => (postmaster === undefined ? 0 : postgresCpuSeconds(postmaster)) };
  } catch (e) {
    await close();
    throw e;
  }
}

export interface StoreCounts {
  /** Per unit: SQLite's writes and commits, or PostgreSQL's round trips, writes, posted statements and loop-blocked milliseconds. */
  perUnit: Record<string, number>;
  /** Statements by their first words, all nodes together (not per unit). */
  bySql: Record<string, number>;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/** What the nodes asked their store since the last call (cluster-node.ts counts it), summed over nodes, per `units` (a job, a device connected). */
export async function takeStoreCounts(nodes: readonly BenchNode[], units: number): Promise<StoreCounts> {
  const answers = await Promise.all(nodes.map((n) => n.server.ask({ cmd: 'store' })));
  const sums: Record<string, number> = {};
  const bySql: Record<string, number> = {};
  for (const a of answers) {
    const sqlite = a['sqlite'] as DbWrites | undefined;
    const pg = a['postgres'] as PgStatements | undefined;
    const figures = sqlite !== undefined
      ? { writes: sqlite.statements, commits: sqlite.commits }
      : pg !== undefined ? { roundTrips: pg.roundTrips, writes: pg.writes, posted: pg.posted, blockedMs: pg.blockedMs } : {};
    for (const [k, v] of Object.entries(figures)) sums[k] = (sums[k] ?? 0) + v;
    for (const [k, v] of Object.entries(sqlite?.bySql ?? pg?.bySql ?? {})) bySql[k] = (bySql[k] ?? 0) + v;
  }
  return { perUnit: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, round(v / units)])), bySql };
}

/** Registers `n` devices named by `idOf` in the store of `dataDir` or `storeUrl`; returns their tokens. */
function registerDevices(dataDir: string, storeUrl: string | undefined, n: number, idOf: (i: number) => string): Creds[] {
  const store = openStore(dataDir, storeUrl);
  try {
    const creds: Creds[] = [];
    // One transaction: registering is setup, not what is measured.
    store.db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const id = idOf(i);
        creds.push({ id, token: addDevice(store, id, []) });
      }
    })();
    return creds;
  } finally {
    store.close();
  }
}

/**
 * User + system CPU seconds of the postmaster and its children (the
 * backends, which run as long as the nodes' connections do; each is its own
 * process group, so they are found by parent), plus what its children that
 * ended had used.
 */
function postgresCpuSeconds(postmaster: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // Ended while listed.
    }
    // Fields count from after the command name's last ')': state, ppid, …, utime (11), stime, cutime, cstime.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(entry);
    if (pid !== postmaster && Number(f[1]) !== postmaster) continue;
    ticks += Number(f[11]) + Number(f[12]);
    if (pid === postmaster) ticks += Number(f[13]) + Number(f[14]);
  }
  return ticks / 100; // USER_HZ
}
