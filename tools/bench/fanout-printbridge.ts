// The fanout bench's printbridge server, alone in its process: startServer on
// 127.0.0.1 port 0 over a data dir the bench filled with devices, logging as
// `printbridge serve` does. Limits are raised only where the bench would
// otherwise cross them (more devices than the default allows).

import { DEFAULT_LIMITS } from '../../server/limits.js';
import { startServer } from '../../server/server.js';
import { serveParent } from './fanout-proc.js';

const [dataDir, adminToken, devices] = process.argv.slice(2);
if (dataDir === undefined || adminToken === undefined || devices === undefined) throw new Error('usage: fanout-printbridge.ts DATA_DIR ADMIN_TOKEN DEVICES');
const n = Number(devices);

const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  dataDir,
  adminToken,
  // The default limits, as a user gets them, up to the devices they allow.
  limits: n <= DEFAULT_LIMITS.maxDevices ? undefined : { maxDevices: n, maxConnections: n + DEFAULT_LIMITS.maxClients + 1000 },
});

serveParent(async (msg) => {
  switch (msg.cmd) {
    case 'gc':
      // Run with --expose-gc by the bench: RSS is read after a full collection.
      (globalThis as { gc?: () => void }).gc?.();
      return {};
    case 'port':
      return { port: server.port };
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
});
