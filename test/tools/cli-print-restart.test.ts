// `printbridge print` waiting while the server restarts, with real processes:
// `serve` killed (SIGTERM, SIGKILL) and started again on the same port and
// data directory while `print` waits on a job held by a stalled printer. The
// job's own outcome decides the exit status (0 done, 1 failed or canceled);
// a server that stays away, or refuses us when back, exits 3 with one line.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { openStore } from '../../server/store/db.js';
import { recordHello } from '../../server/store/devices.js';
import { connectClient } from '../../tools/client/client.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { randomBytes } from '../helpers/random.js';
import { fileHash, ptyEmulator, sha256, tempDir } from './emulator-fixture.js';

const procs = new Processes();
const tmp = tempDir();
after(async () => {
  await procs.killAll();
  tmp.cleanup();
});

const ADMIN = 'restart-admin';
let dirs = 0;

interface Serve {
  proc: Proc;
  port: number;
}

async function serve(data: string, port = 0, admin = ADMIN): Promise<Serve> {
  const proc = procs.cli(['serve', '--host', '127.0.0.1', '--port', String(port), '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: admin } });
  const { port: bound } = await proc.waitForEvent<{ event: string; port: number }>('listening', { timeout: 20_000 });
  return { proc, port: bound };
}

async function addDevice(data: string, id: string): Promise<string> {
  const r = await procs.run(['devices', 'add', id, '--data', data]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** The store as after the device said hello once with port 0 and went away: its printer takes jobs while it is offline. */
function reportPort0(data: string, id: string): void {
  const store = openStore(data);
  try {
    recordHello(store, id, { fw: 'test-1', ports: [{ port: 0, dialect: 'raw' }] }, Date.now());
  } finally {
    store.close();
  }
}

function printCli(port: number, printer: string, file: string, extra: string[] = []): Proc {
  return procs.cli(['print', '--server', `http://127.0.0.1:${port}`, '--printer', printer, ...extra, file], {
    env: { PRINTBRIDGE_CLIENT_TOKEN: ADMIN, PRINTBRIDGE_ADMIN_TOKEN: undefined, PRINTBRIDGE_SERVER: undefined },
  });
}

/** The printer's one unfinished job, once the server has it. */
async function waitingJob(port: number, printer: string): Promise<JobView> {
  const client = await connectClient(`ws://127.0.0.1:${port}/v1/client`, ADMIN);
  try {
    for (let i = 0; i < 200; i++) {
      const jobs = await client.request('jobs.list', { printer });
      if (jobs.length > 0) return jobs[0]!;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no job for ${printer}`);
  } finally {
    await client.close();
  }
}

function setup(): { data: string; file: (bytes: Uint8Array) => string } {
  const dir = join(tmp.dir, `run-${++dirs}`);
  return {
    data: join(dir, 'data'),
    file: (bytes) => {
      const f = join(tmp.dir, `job-${dirs}.bin`);
      writeFileSync(f, bytes);
      return f;
    },
  };
}

describe('print across a server restart', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`serve ${signal}ed and restarted mid-job: print reconnects, the job completes, exit 0, bytes at the printer once`, async () => {
      const { data, file } = setup();
      const first = await serve(data);
      const token = await addDevice(data, 'phoenix');
      // A raw serial printer that stops reading after 32 KiB: the job waits,
      // held by the printer, in the bridge's window and in the server's store.
      const emu = await ptyEmulator(procs, tmp.dir, ['--stall-after', String(32 * 1024)], 'raw');
      const bridge = procs.cli(['bridge', '--server', `ws://127.0.0.1:${first.port}`, '--id', 'phoenix', '--printer', `serial:${emu.path}@115200`, '--poll', '0'], {
        env: { PRINTBRIDGE_TOKEN: token },
      });
      await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });

      const payload = randomBytes(256 * 1024, signal === 'SIGTERM' ? 3 : 4);
      const print = printCli(first.port, 'phoenix/0', file(payload), ['--json', '--reconnect-timeout', '60']);
      await emu.proc.waitForEvent('stalled', { timeout: 30_000 });

      await first.proc.kill(signal);
      await print.waitForLine(/reconnecting for up to 60 s to follow job/, { stream: 'stderr', timeout: 20_000 });
      assert.equal(print.exit, undefined, 'print still waits while the server is down');
      const second = await serve(data, first.port);
      await print.waitForLine(/^printbridge print: reconnected; job \S+ is (queued|sending|paused)$/, { stream: 'stderr', timeout: 30_000 });
      emu.proc.send('resume');

      const exit = await print.waitForExit(90_000);
      assert.equal(exit.code, 0, print.tail(30));
      const job = JSON.parse(print.stdout) as JobView;
      assert.equal(job.state, 'done');
      assert.equal(job.written, payload.length);
      await emu.proc.waitForEvent({ event: 'received', bytes: payload.length }, { timeout: 30_000 });
      assert.equal(fileHash(emu.printed), sha256(payload), 'the printer has the bytes once, in order');
      await bridge.kill();
      await second.proc.kill();
    });
  }

  test('a job canceled while print reconnects exits 1 with JOB_CANCELED, its real outcome', async () => {
    const { data, file } = setup();
    const first = await serve(data);
    await addDevice(data, 'away'); // no bridge: the job stays queued
    reportPort0(data, 'away');
    const print = printCli(first.port, 'away/0', file(new Uint8Array([1, 2, 3])));
    const job = await waitingJob(first.port, 'away/0');
    await first.proc.kill('SIGKILL');
    await print.waitForLine(/reconnecting/, { stream: 'stderr' });
    const second = await serve(data, first.port);
    await print.waitForLine(/reconnected; job \S+ is queued/, { stream: 'stderr', timeout: 30_000 });
    const cancel = await procs.run(['cancel', job.id, '--server', `http://127.0.0.1:${second.port}`, '--token', ADMIN]);
    assert.equal(cancel.code, 0, cancel.stderr);
    const exit = await print.waitForExit(20_000);
    assert.equal(exit.code, 1, print.tail());
    assert.equal(print.stdout, `${job.id}\n`);
    assert.match(print.stderr, new RegExp(`printbridge print: job ${job.id} canceled: JOB_CANCELED`));
    await second.proc.kill();
  });

  test('a server that does not come back within --reconnect-timeout: exit 3 and one line naming the job', async () => {
    const { data, file } = setup();
    const first = await serve(data);
    await addDevice(data, 'gone');
    reportPort0(data, 'gone');
    const print = printCli(first.port, 'gone/0', file(new Uint8Array([1, 2, 3])), ['--reconnect-timeout', '2']);
    const job = await waitingJob(first.port, 'gone/0');
    await first.proc.kill('SIGKILL');
    const began = Date.now();
    const exit = await print.waitForExit(20_000);
    const took = Date.now() - began;
    assert.equal(exit.code, 3, print.tail());
    assert.ok(took >= 1_500 && took < 10_000, `gave up after ${took} ms`);
    assert.equal(print.stdout, `${job.id}\n`, 'the job id is still printed');
    const last = print.stderrLines.filter((l) => l !== '').pop() ?? '';
    assert.match(last, new RegExp(`^printbridge print: TIMEOUT: the server did not come back within 2 s \\(last: ECONNREFUSED: .*\\); job ${job.id} was queued when we lost it and its outcome is unknown \\(printbridge jobs get ${job.id}\\)$`));
  });

  test('a server back with another admin token refuses us: exit 3 at once with UNAUTHORIZED', async () => {
    const { data, file } = setup();
    const first = await serve(data);
    await addDevice(data, 'other');
    reportPort0(data, 'other');
    const print = printCli(first.port, 'other/0', file(new Uint8Array([1])), ['--reconnect-timeout', '60']);
    await waitingJob(first.port, 'other/0');
    await first.proc.kill('SIGTERM');
    await print.waitForLine(/reconnecting/, { stream: 'stderr' });
    const second = await serve(data, first.port, 'a-new-admin-token');
    const exit = await print.waitForExit(20_000);
    assert.equal(exit.code, 3, print.tail());
    assert.match(print.stderr, /printbridge print: UNAUTHORIZED: server refused the connection .*HTTP 401.*outcome is unknown/);
    await second.proc.kill();
  });

  test('--reconnect-timeout must be a whole number of seconds', async () => {
    const r = await procs.run(['print', '--printer', 'a/0', '--token', 't', '--reconnect-timeout', 'soon', 'f']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--reconnect-timeout must be an integer from 0 to 86400/);
  });
});
