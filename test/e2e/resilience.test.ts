// Faults a deployed bridge meets, with real parts: the link cut mid-job, the
// server killed and restarted under a connected bridge, the printer stalling
// mid-job. In each the printer must end with exactly the job's bytes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runBridge } from '../../device/hosts/node/bridge.js';
import type { ClientEvent, DeviceView, JobView } from '../../protocol/client-messages.js';
import { addDevice } from '../../server/store/devices.js';
import { openStore } from '../../server/store/db.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { Processes } from '../helpers/processes.js';
import { randomBytes } from '../helpers/random.js';
import { startTestServer } from '../helpers/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/until.js';
import { fileHash, ptyEmulator, settled, sha256, tcpEmulator, tempDir } from '../tools/emulator-fixture.js';

const procs = new Processes();
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  await procs.killAll();
  for (const c of cleanups.reverse()) await c();
});

function register(dataDir: string, id: string): string {
  const store = openStore(dataDir);
  try {
    return addDevice(store, id, []);
  } finally {
    store.close();
  }
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** Resolves with the job once an event shows it in a final state. */
function finalState(client: Client, id: string): Promise<JobView> {
  return new Promise((resolve) => {
    client.on('event', (e: ClientEvent) => {
      if (e.event === 'job.updated' && e.job.id === id && ['done', 'failed', 'canceled'].includes(e.job.state)) resolve(e.job);
    });
  });
}

test('the bridge socket is cut three times mid-job: the job resumes and the printer gets identical bytes', async () => {
  const srv = await startTestServer();
  cleanups.push(() => srv.close());
  const proxy = await startTcpProxy(srv.server.port);
  cleanups.push(() => proxy.close());
  const token = register(srv.dataDir, 'cut-1');
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  // A paced serial printer (about 50 KB/s on a PTY, whose buffers are small
  // like a UART's) so the job is still running when we cut: some 13 s, and
  // 5 s left after the last cut, for a machine busy with other tests.
  const emu = await ptyEmulator(procs, dir, ['--baud', '500000']);
  const bridge = procs.cli(['bridge', '--server', `ws://127.0.0.1:${proxy.port}`, '--id', 'cut-1', '--token', token, '--printer', `serial:${emu.path}@115200`]);
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });

  const payload = randomBytes(640 * 1024, 99);
  const client = await connectClient(srv.wsUrl('/v1/client'), srv.server.adminToken);
  cleanups.push(() => client.close());
  let written = 0;
  client.on('event', (e: ClientEvent) => {
    if (e.event === 'job.updated') written = Math.max(written, e.job.written);
  });
  const job = (await client.request('job.submit', { printer: 'cut-1/0', data: base64(payload) })) as JobView;
  const finished = finalState(client, job.id);

  const onlines = (): number => bridge.stderr.match(/link online/g)?.length ?? 0;
  const cutAt: number[] = [];
  for (const [i, fraction] of [0.2, 0.4, 0.6].entries()) {
    await bridge.waitForLine(() => onlines() >= i + 1, { stream: 'stderr', timeout: 30_000 });
    await until(`progress ${fraction}`, () => written >= payload.length * fraction, 60_000);
    assert.ok(proxy.cut() >= 1, 'a live connection was cut');
    cutAt.push(written);
  }
  assert.ok(cutAt.every((w) => w < payload.length), `every cut landed mid-job: ${cutAt.join(', ')}`);
  const end = await finished;
  assert.equal(end.state, 'done', JSON.stringify(end));
  await emu.proc.waitForEvent({ event: 'received', bytes: payload.length }, { timeout: 20_000 });
  assert.equal(fileHash(emu.out), sha256(payload));
  assert.ok(onlines() >= 4, `the bridge came back after every cut:\n${bridge.tail(40)}`);
});

test('the server is SIGKILLed and restarted: the bridge reconnects by itself and prints again', async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const data = join(dir, 'data');
  const token = register(data, 'phoenix');
  const serve1 = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: 'e2e-admin' } });
  const { port } = await serve1.waitForEvent<{ event: string; port: number }>('listening');
  const emu = await tcpEmulator(procs, dir);
  const bridge = procs.cli(['bridge', '--server', `ws://127.0.0.1:${port}`, '--id', 'phoenix', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  const onlineBefore = bridge.stderrLines.length;

  await serve1.kill('SIGKILL');
  await bridge.waitForLine(/link backoff/, { stream: 'stderr', from: onlineBefore, timeout: 20_000 });
  const serve2 = procs.cli(['serve', '--host', '127.0.0.1', '--port', String(port), '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: 'e2e-admin' } });
  await serve2.waitForEvent('listening');
  await bridge.waitForLine(/link online/, { stream: 'stderr', from: onlineBefore, timeout: 40_000 });

  const client = await connectClient(`ws://127.0.0.1:${port}/v1/client`, 'e2e-admin');
  cleanups.push(() => client.close());
  const devices = (await client.request('devices.list')) as DeviceView[];
  assert.equal(devices.find((d) => d.id === 'phoenix')?.online, true);
  const payload = randomBytes(50_000, 5);
  const job = (await client.request('job.submit', { printer: 'phoenix/0', data: base64(payload) })) as JobView;
  const end = await finalState(client, job.id);
  assert.equal(end.state, 'done');
  await emu.proc.waitForEvent({ event: 'received', bytes: payload.length }, { timeout: 20_000 });
  assert.equal(fileHash(emu.out), sha256(payload));
});

test('the printer stalls mid-job: every hop holds a bounded amount, and the job completes after it resumes', async () => {
  const srv = await startTestServer();
  cleanups.push(() => srv.close());
  const token = register(srv.dataDir, 'stall-1');
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  // A serial printer: loopback TCP buffers run to megabytes, a PTY's to a few
  // dozen KiB, so the stall reaches the bridge quickly, as with a real UART.
  const emu = await ptyEmulator(procs, dir, ['--stall-after', String(96 * 1024)]);
  const WINDOW = 4096;
  const HWM = 2048;
  const bridge = await runBridge({
    server: `ws://127.0.0.1:${srv.server.port}`, id: 'stall-1', token, window: WINDOW, maxChunk: 1024,
    printers: [{ uri: `serial:${emu.path}@115200`, dialect: 'escpos', poll: 0 }],
    portOptions: { highWaterMark: HWM },
    log: () => {},
  });
  cleanups.push(() => bridge.stop());
  await until('bridge online', () => bridge.snapshot().link === 'online');

  const payload = randomBytes(1024 * 1024, 23);
  const client = await connectClient(srv.wsUrl('/v1/client'), srv.server.adminToken);
  cleanups.push(() => client.close());
  const job = (await client.request('job.submit', { printer: 'stall-1/0', data: base64(payload) })) as JobView;
  const finished = finalState(client, job.id);

  await emu.proc.waitForEvent('stalled', { timeout: 30_000 });
  // Wait until nothing moves: the printer reads nothing, so the kernel
  // buffers fill, the port reports no room, the spool fills its window and
  // the server stops sending.
  const held = await settled(() => bridge.snapshot().ports[0]?.job, { everyMs: 200, times: 5 });
  assert.ok(held !== undefined, `the job is held while stalled: ${JSON.stringify(bridge.snapshot())} ${JSON.stringify(await client.request('job.get', { job: job.id }))}`);
  assert.ok(held.received - held.written <= WINDOW, `device holds ${held.received - held.written} bytes, window ${WINDOW}`);
  assert.ok(held.written < payload.length, 'the stall happened mid-job');
  const stored = (await client.request('job.get', { job: job.id })) as JobView;
  assert.ok(stored.state === 'sending' || stored.state === 'printing', stored.state);
  assert.ok(stored.written <= held.written, 'the server reports no more than the device wrote');
  // What is in flight between server and device is bounded by the same window.
  assert.ok(held.received - stored.written <= WINDOW + 1024, 'server never ran ahead of the credit window');

  emu.proc.send('resume');
  const end = await finished;
  assert.equal(end.state, 'done');
  await emu.proc.waitForEvent({ event: 'received', bytes: payload.length }, { timeout: 30_000 });
  assert.equal(sha256(readFileSync(emu.out)), sha256(payload));
});
