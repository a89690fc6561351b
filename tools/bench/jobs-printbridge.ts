// The jobs bench's printbridge server, alone in its process, as
// fanout-printbridge.ts but with its SQLite writes counted (jobs-db-count.ts
// wraps each SQLite connection the store opens; the server's code is the
// code that ships). Commands (over IPC): port, writes (the counts since the
// last `writes`, and starts again).
//
// With JOBS_BENCH_CPU_PROFILE=FILE the server's CPU profile over what is
// measured (from one `writes` to the next) is written to FILE (.cpuprofile,
// for Chrome's DevTools or any reader of V8 profiles).

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { startServer } from '../../server/server.js';
import { serveParent } from './fanout-proc.js';
import { countDbWrites, takeDbWrites } from './jobs-db-count.js';

const [dataDir, adminToken, devices] = process.argv.slice(2);
if (dataDir === undefined || adminToken === undefined || devices === undefined) throw new Error('usage: jobs-printbridge.ts DATA_DIR ADMIN_TOKEN DEVICES');
const n = Number(devices);

countDbWrites();
const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  dataDir,
  adminToken,
  limits: { maxDevices: n + 100, maxConnections: n + 1000, maxPendingHttp: 4096 },
});

const profileTo = process.env['JOBS_BENCH_CPU_PROFILE'];
let profiler: Session | undefined;

/** Starts the profile at the first `writes`, writes it at the second. */
async function profile(): Promise<void> {
  if (profileTo === undefined) return;
  if (profiler === undefined) {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
    return;
  }
  const { profile: taken } = await profiler.post('Profiler.stop');
  writeFileSync(profileTo, JSON.stringify(taken));
}

serveParent(async (msg) => {
  switch (msg.cmd) {
    case 'port':
      return { port: server.port };
    case 'writes':
      await profile();
      return { ...takeDbWrites() };
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
});
