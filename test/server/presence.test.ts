// A device's hello and last-seen time are written behind, one transaction
// per interval: this process reads them at once, another process (the CLI)
// within the interval, and closing the store writes what is pending.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { openStore } from '../../server/store/db.js';
import { addDevice, getDevice, listDevices, PORTS_COMMIT_MS, PRESENCE_FLUSH_MS, recordHelloLater, removeDevice, touchDeviceLater, writePortsNow } from '../../server/store/devices.js';
import { startTestServer, tempDir } from '../helpers/server.js';
import { CLOSE } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { FakeDevice, TestClient, registerDevice } from './peers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a hello written behind is read at once here, by another connection within the interval, and survives close', async (ctx) => {
  const dir = tempDir('pb-presence-');
  ctx.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = openStore(dir);
  const cli = openStore(dir);
  ctx.after(() => cli.close());
  addDevice(server, 'p1', []);
  addDevice(server, 'p2', []);

  // New ports are a fact jobs depend on: the hello says so, and is on disk at the group commit.
  assert.equal(recordHelloLater(server, 'p1', { fw: '1.0', ports: [{ port: 0, dialect: 'zpl' }] }, 500), true);
  assert.deepEqual(getDevice(cli, 'p1')?.ports, [], 'not yet');
  await sleep(PORTS_COMMIT_MS + 100);
  assert.deepEqual(getDevice(cli, 'p1')?.ports, [{ port: 0, dialect: 'zpl' }], 'at the group commit');
  // The same ports again (a reconnect): behind.
  void recordHelloLater(server, 'p1', { fw: '2.0', ports: [{ port: 0, dialect: 'zpl' }], address: '10.0.0.5' }, 1000);
  assert.deepEqual({ ...getDevice(server, 'p1'), created: 0 }, { id: 'p1', tags: [], created: 0, lastSeen: 1000, fw: '2.0', ports: [{ port: 0, dialect: 'zpl' }], address: '10.0.0.5' });
  assert.equal(getDevice(cli, 'p1')?.fw, '1.0', 'not yet written');

  // A last-seen time after the hello keeps the hello that is still waiting.
  touchDeviceLater(server, 'p1', 2000);
  touchDeviceLater(server, 'p2', 2500);
  assert.deepEqual(listDevices(server).map((d) => [d.id, d.fw, d.lastSeen]), [['p1', '2.0', 2000], ['p2', undefined, 2500]]);

  await sleep(PRESENCE_FLUSH_MS + 200);
  assert.deepEqual(listDevices(cli).map((d) => [d.id, d.fw, d.lastSeen, d.ports.length]), [['p1', '2.0', 2000, 1], ['p2', undefined, 2500, 0]]);

  // Pending at close: written by close.
  touchDeviceLater(server, 'p2', 9000);
  server.close();
  assert.equal(getDevice(cli, 'p2')?.lastSeen, 9000);
});

test('a device removed while its hello waits is not brought back', async (ctx) => {
  const dir = tempDir('pb-presence-');
  ctx.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openStore(dir);
  addDevice(store, 'gone', []);
  // No ports, as stored: the hello waits.
  recordHelloLater(store, 'gone', { fw: '1', ports: [] }, 5);
  assert.equal(removeDevice(store, 'gone'), true);
  assert.equal(getDevice(store, 'gone'), undefined);
  await sleep(PRESENCE_FLUSH_MS + 200);
  assert.equal(getDevice(store, 'gone'), undefined);
  assert.deepEqual(listDevices(store), []);
  store.close();
});

test('a device is welcomed at once; a job for a printer of its first hello is stored only once the ports are on disk', async (ctx) => {
  const t = await startTestServer({ heartbeatMs: 60_000 });
  ctx.after(() => t.close());
  const token = registerDevice(t, 'fresh');
  const other = openStore(t.dataDir);
  ctx.after(() => other.close());
  const ports = [{ port: 0, dialect: 'tspl' }, { port: 1, dialect: 'zpl' }];
  const first = await FakeDevice.connect(t, 'fresh', token, { ports });
  ctx.after(() => first.ws.terminate());
  // Welcomed before the group commit: another connection to the file does not see the ports yet.
  assert.deepEqual(getDevice(other, 'fresh')?.ports, [], 'welcomed before the ports were written');
  const client = await TestClient.connect(t);
  ctx.after(() => client.ws.terminate());
  const job = await client.call<{ id: string }>('job.submit', { printer: 'fresh/1', data: Buffer.from('^XA^XZ').toString('base64') });
  // The job is stored: so is its printer, whatever happens to the server next.
  assert.ok(other.stmt('SELECT 1 FROM jobs WHERE id = ?').get(job.id) !== undefined, 'the job is on disk');
  assert.deepEqual(getDevice(other, 'fresh')?.ports, ports, 'and its printer before it');
});

test('a commit that fails is the error of the job that needed it, and keeps the hellos pending until one succeeds', async (ctx) => {
  const dir = tempDir('pb-presence-');
  ctx.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openStore(dir);
  ctx.after(() => store.close());
  addDevice(store, 'full', []);
  // A trigger that refuses the update stands in for a write that fails (a full disk).
  store.db.exec("CREATE TRIGGER full BEFORE UPDATE ON devices BEGIN SELECT RAISE(ABORT, 'disk full'); END");
  assert.equal(recordHelloLater(store, 'full', { fw: '1', ports: [{ port: 0, dialect: 'zpl' }] }, 7), true);
  assert.throws(() => writePortsNow(store, 'full'), /disk full/);
  store.db.exec('DROP TRIGGER full');
  assert.equal(recordHelloLater(store, 'full', { fw: '2', ports: [{ port: 0, dialect: 'zpl' }] }, 8), true, 'not on disk yet, so still new');
  writePortsNow(store, 'full');
  assert.deepEqual([getDevice(store, 'full')?.fw, getDevice(store, 'full')?.ports], ['2', [{ port: 0, dialect: 'zpl' }]]);
  assert.equal(recordHelloLater(store, 'full', { fw: '3', ports: [{ port: 0, dialect: 'zpl' }] }, 9), false, 'now on disk');
});

test('messages right behind a first hello are answered after its welcome; of two connections of one device, the newer stays', async (ctx) => {
  const t = await startTestServer({ heartbeatMs: 60_000 });
  ctx.after(() => t.close());
  const eager = await FakeDevice.connectRaw(t, 'early', registerDevice(t, 'early'));
  const hello = { t: 'hello', v: PROTOCOL_VERSION, id: 'early', fw: 'f', caps: [], window: 8192, maxChunk: 1024, ports: [{ port: 0, dialect: 'raw' }] };
  // One write: the hello and 17 pings, before its ports are on disk.
  eager.ws.send(JSON.stringify(hello));
  for (let i = 0; i < 17; i++) eager.ws.send('{"t":"ping"}');
  assert.equal((await eager.json())['t'], 'welcome');
  for (let i = 0; i < 17; i++) assert.deepEqual(await eager.json(), { t: 'pong' });
  eager.ws.terminate();

  const token = registerDevice(t, 'twice');
  const first = await FakeDevice.connectRaw(t, 'twice', token);
  const second = await FakeDevice.connectRaw(t, 'twice', token);
  const twice = { ...hello, id: 'twice' };
  first.ws.send(JSON.stringify(twice));
  second.ws.send(JSON.stringify(twice));
  await second.json((m) => m['t'] === 'welcome', 'welcome of the newer connection');
  assert.equal((await first.closed).code, CLOSE.REPLACED.code);
  const devices = await (await TestClient.connect(t)).call<{ id: string; online: boolean }[]>('devices.list');
  assert.equal(devices.find((d) => d.id === 'twice')?.online, true);
  second.ws.terminate();
});
