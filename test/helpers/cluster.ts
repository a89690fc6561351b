// Several `printbridge serve` processes on one PostgreSQL database: a
// cluster as users run it, for tests. Each node has its own data folder
// (the admin token is shared through the environment) and its own port.

import { join } from 'node:path';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import type { Processes, Proc } from './processes.js';
import { startPostgres, type Postgres } from './postgres.js';

export const CLUSTER_ADMIN = 'cluster-admin-token';

export interface ClusterNode {
  readonly name: string;
  proc: Proc;
  port: number;
  /** ws://127.0.0.1:PORT */
  url: string;
}

export interface TestCluster {
  pg: Postgres;
  /** The database every node shares. */
  storeUrl: string;
  nodes: ClusterNode[];
  /** Registers a device in the shared store; returns its token. */
  addDevice(id: string): string;
  /** Starts node `i` again (on its port if it is free, else on a new one) after a kill. */
  restart(i: number): Promise<ClusterNode>;
  stop(): Promise<void>;
}

export async function startCluster(procs: Processes, dir: string, count: number, extra: string[] = []): Promise<TestCluster> {
  const pg = await startPostgres();
  const storeUrl = await pg.createDatabase();
  const start = async (i: number, port = 0): Promise<ClusterNode> => {
    const name = `node-${i}`;
    const proc = procs.cli(
      ['serve', '--host', '127.0.0.1', '--port', String(port), '--data', join(dir, name), '--store', storeUrl, '--node', name, '--json', ...extra],
      { env: { PRINTBRIDGE_ADMIN_TOKEN: CLUSTER_ADMIN }, name },
    );
    const listening = await proc.waitForEvent<{ event: string; port: number }>('listening', { timeout: 30_000 });
    return { name, proc, port: listening.port, url: `ws://127.0.0.1:${listening.port}` };
  };
  const nodes: ClusterNode[] = [];
  // One after another: the first migrates the database, the others find it done (they would wait on its lock anyway).
  for (let i = 0; i < count; i++) nodes.push(await start(i));
  return {
    pg,
    storeUrl,
    nodes,
    addDevice(id) {
      const store = openStore(join(dir, 'cli'), storeUrl);
      try {
        return addDevice(store, id, []);
      } finally {
        store.close();
      }
    },
    async restart(i) {
      const old = nodes[i];
      if (old === undefined) throw new RangeError(`no node ${i}`);
      let node: ClusterNode;
      try {
        node = await start(i, old.port);
      } catch {
        node = await start(i);
      }
      nodes[i] = node;
      return node;
    },
    async stop() {
      for (const n of nodes) await n.proc.kill('SIGKILL');
      await pg.stop();
    },
  };
}
