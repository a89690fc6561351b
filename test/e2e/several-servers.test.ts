// A bridge given two server URLs, with real parts: two `printbridge serve`
// processes, a bridge process (`printbridge bridge --server A --server B`)
// and a printer emulator. The bridge moves on from a server that is not
// there, stays with one that works, leaves one that drops it, and when the
// server it is on is killed (SIGKILL) while a job for the device waits on
// the other, it moves over by itself and the job prints exactly once.
//
// The two servers run on copies of one store (the device and its token in
// both): what a device sees of two nodes. A server learns a device's
// printers from its hello, so the job's server must have seen the bridge.

import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ClientEvent, DeviceView, JobView } from '../../protocol/client-messages.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { randomBytes } from '../helpers/random.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/until.js';
import { fileHash, sha256, tcpEmulator, tempDir } from '../tools/emulator-fixture.js';
import { freePort } from '../../tools/free-port.js';

const procs = new Processes();
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  await procs.killAll();
  for (const c of cleanups.reverse()) await c();
});

/** Resolves with the job once an event shows it in a final state. */
function finalState(client: Client, id: string): Promise<JobView> {
  return new Promise((resolve) => {
    client.on('event', (e: ClientEvent) => {
      if (e.event === 'job.updated' && e.job.id === id && ['done', 'failed', 'canceled'].includes(e.job.state)) resolve(e.job);
    });
  });
}

async function online(client: Client, id: string): Promise<boolean> {
  const devices = (await client.request('devices.list')) as DeviceView[];
  return devices.find((d) => d.id === id)?.online === true;
}


const ADMIN = 'e2e-admin';

test('the server a bridge is on is killed while a job waits on the other: the bridge moves there and the job prints once', async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const data = { a: join(dir, 'a'), b: join(dir, 'b') };
  const store = openStore(data.a);
  const token = addDevice(store, 'roam-1', []);
  store.close();
  cpSync(data.a, data.b, { recursive: true });
  const serve = async (node: 'a' | 'b', port: number): Promise<{ proc: Proc; port: number }> => {
    const proc = procs.cli(['serve', '--host', '127.0.0.1', '--port', String(port), '--data', data[node], '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN } });
    return { proc, port: (await proc.waitForEvent<{ event: string; port: number }>('listening')).port };
  };
  // B behind a proxy that can cut the bridge off it while B itself stays up; A not started yet.
  const b = await serve('b', 0);
  const proxy = await startTcpProxy(b.port);
  cleanups.push(() => proxy.close());
  const portA = await freePort();
  const url = { a: `ws://127.0.0.1:${portA}`, b: `ws://127.0.0.1:${proxy.port}` };

  const emu = await tcpEmulator(procs, dir);
  const bridge = procs.cli(['bridge', '--server', url.a, '--server', url.b, '--id', 'roam-1', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
  // Nothing at A: on to B, which so learns the device's printers.
  await bridge.waitForLine(`link online at ${url.b}`, { stream: 'stderr', timeout: 20_000 });
  assert.ok(bridge.stderrLines.some((l) => l.startsWith(`warn: cannot reach the server at ${url.a} `)), bridge.tail(20));

  // A comes up; the bridge stays where it works until its link to B is cut, then moves to A.
  const a = await serve('a', portA);
  const clientA = await connectClient(`${url.a}/v1/client`, ADMIN);
  cleanups.push(() => clientA.close());
  const clientB = await connectClient(`ws://127.0.0.1:${b.port}/v1/client`, ADMIN);
  cleanups.push(() => clientB.close());
  assert.equal(await online(clientA, 'roam-1'), false, 'still on B');
  let mark = bridge.stderrLines.length;
  assert.equal(proxy.cut(), 1);
  await bridge.waitForLine(`link online at ${url.a}`, { stream: 'stderr', from: mark, timeout: 20_000 });

  // A job on B waits for the device; A, which holds it, is killed.
  const payload = randomBytes(200_000, 17);
  await until('B sees the device offline', async () => !(await online(clientB, 'roam-1')));
  const job = (await clientB.request('job.submit', { printer: 'roam-1/0', data: Buffer.from(payload).toString('base64') })) as JobView;
  assert.equal(job.state, 'queued');
  const finished = finalState(clientB, job.id);
  mark = bridge.stderrLines.length;
  await a.proc.kill('SIGKILL');
  await bridge.waitForLine(`link online at ${url.b}`, { stream: 'stderr', from: mark, timeout: 20_000 });
  const end = await finished;
  assert.equal(end.state, 'done', JSON.stringify(end));
  await emu.proc.waitForEvent({ event: 'received', bytes: payload.length }, { timeout: 20_000 });
  assert.equal(fileHash(emu.out), sha256(payload), 'the printer got the job exactly once');
  // Why it left A is said, naming A.
  assert.ok(bridge.stderrLines.slice(mark).some((l) => l.startsWith('warn: ') && l.includes(url.a)), bridge.tail(20));
});

test('PRINTBRIDGE_SERVER may hold the list, separated by spaces or commas; a bad entry is a usage error naming it', async () => {
  const bad = await procs.run(['bridge', '--server', 'ws://127.0.0.1:1', '--server', '127.0.0.1:2', '--id', 'x', '--token', 't', '--printer', 'tcp://127.0.0.1:9']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--server must be a ws:\/\/ URL .*not "127\.0\.0\.1:2"/);
  const badEnv = await procs.run(['bridge', '--id', 'x', '--token', 't', '--printer', 'tcp://127.0.0.1:9'], { env: { PRINTBRIDGE_SERVER: 'ws://127.0.0.1:1, ftp://h:2' } });
  assert.equal(badEnv.code, 2, badEnv.stderr);
  assert.match(badEnv.stderr, /PRINTBRIDGE_SERVER must be a ws:\/\/ URL .*not "ftp:\/\/h:2"/);

  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const data = join(dir, 'data');
  const store = openStore(data);
  const token = addDevice(store, 'env-1', []);
  store.close();
  const s = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN } });
  const { port } = await s.waitForEvent<{ event: string; port: number }>('listening');
  const absent = `ws://127.0.0.1:${await freePort()}`;
  const emu = await tcpEmulator(procs, dir);
  const bridge = procs.cli(['bridge', '--id', 'env-1', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`], { env: { PRINTBRIDGE_SERVER: `${absent}, http://127.0.0.1:${port}` } });
  await bridge.waitForLine(`link online at ws://127.0.0.1:${port}`, { stream: 'stderr', timeout: 20_000 });
  assert.ok(bridge.stderrLines.some((l) => l.startsWith(`warn: cannot reach the server at ${absent} `)), bridge.tail(20));
});
