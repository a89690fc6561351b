// The cluster bench's printbridge node, alone in its process: startServer on
// 127.0.0.1 port 0, on SQLite in its data dir or, given a store URL and a
// node name, on the PostgreSQL database it shares with other nodes, logging
// as `printbridge serve` does. What it asks its store is counted from inside
// (jobs-db-count.ts for SQLite, cluster-pg-count.ts for PostgreSQL); the
// server's code is the code that ships. Limits are raised only where the
// bench would otherwise cross them, as in fanout-printbridge.ts.
//
// Commands (over IPC): port, store (the counts since the last `store`, and
// starts again).

import { DEFAULT_LIMITS } from '../../server/limits.js';
import { startServer } from '../../server/server.js';
import { countPgStatements, takePgStatements } from './cluster-pg-count.js';
import { serveParent } from './fanout-proc.js';
import { countDbWrites, takeDbWrites } from './jobs-db-count.js';

const [dataDir, adminToken, devices, storeUrl, node] = process.argv.slice(2);
if (dataDir === undefined || adminToken === undefined || devices === undefined) throw new Error('usage: cluster-node.ts DATA_DIR ADMIN_TOKEN DEVICES [STORE_URL NODE]');
const n = Number(devices);

countDbWrites();
countPgStatements();
const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  dataDir,
  adminToken,
  ...(storeUrl !== undefined && { storeUrl, node }),
  // The jobs part submits every job at once over one client: more upgrades
  // and requests in flight than the defaults allow, as jobs-printbridge.ts.
  limits: {
    maxPendingHttp: 4096,
    ...(n > DEFAULT_LIMITS.maxDevices && { maxDevices: n, maxConnections: n + DEFAULT_LIMITS.maxClients + 1000 }),
  },
});

serveParent(async (msg) => {
  switch (msg.cmd) {
    case 'port':
      return { port: server.port };
    case 'store':
      return storeUrl === undefined ? { sqlite: takeDbWrites() } : { postgres: takePgStatements() };
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
});
