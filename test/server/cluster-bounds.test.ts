// A cluster's bounds, crossed with two in-process nodes on one PostgreSQL
// and more fake devices than one claim transaction takes: they all connect
// at once to one node, each is held under its first epoch, and a broadcast
// from the other node gets one report from each, though their reports come
// back over the bus in several parts (NOTIFY carries under 8000 bytes).

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CLAIM_BATCH } from '../../server/cluster/cluster.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { liveOwners } from '../../server/store/owners.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient } from './peers.js';

let pg: Postgres | undefined;
const servers: TestServer[] = [];
const devices: FakeDevice[] = [];
after(async () => {
  for (const d of devices) d.close();
  for (const s of servers) await s.close();
  await pg?.stop();
});

test(`${CLAIM_BATCH + 100} devices at once on one node, a broadcast from the other: every device held once, one report each`, async () => {
  pg = await startPostgres();
  const url = await pg.createDatabase();
  const count = CLAIM_BATCH + 100;
  const ids = Array.from({ length: count }, (_, i) => `many-${String(i).padStart(3, '0')}`);
  const setup = openStore(tempDir(), url);
  const tokens = ids.map((id) => addDevice(setup, id, []));
  setup.close();
  const a = await startTestServer({ storeUrl: url, node: 'a' });
  const b = await startTestServer({ storeUrl: url, node: 'b' });
  servers.push(a, b);

  devices.push(...(await Promise.all(ids.map((id, i) => FakeDevice.connect(b, id, tokens[i]!)))));
  const check = openStore(tempDir(), url);
  const owners = liveOwners(check, Date.now());
  check.close();
  assert.equal(owners.length, count);
  assert.ok(owners.every((o) => o.epoch === 1 && o.node.startsWith('b/')), 'each held once, by b');

  // Every device answers its control message.
  for (const d of devices) {
    void d.json((m) => m['t'] === 'control', 'control').then((m) => d.sendJson({ t: 'control.result', ref: m['ref'], ok: true }));
  }
  const admin = await TestClient.connect(a);
  const outcome = await admin.call<{ reports: { device: string; status: string }[] }>('control.send', { to: { all: true }, name: 'identify', args: {}, timeout: 20_000 });
  admin.close();
  assert.equal(outcome.reports.length, count);
  assert.deepEqual(outcome.reports.filter((r) => r.status !== 'ok'), []);
  assert.deepEqual(outcome.reports.map((r) => r.device), ids);
});

test('a control message too large for the bus: the device on the other node is reported, not waited on, and both nodes go on', async () => {
  assert.ok(pg, 'the first test started PostgreSQL');
  const [a, b] = servers;
  assert.ok(a && b);
  const far = devices[0]!;
  const admin = await TestClient.connect(a);
  try {
    // Under a client's frame limit, over what NOTIFY carries (8000 bytes).
    const big = { note: 'x'.repeat(9_000) };
    const started = Date.now();
    const outcome = await admin.call<{ reports: { device: string; status: string }[] }>('control.send', { to: { device: far.id }, name: 'identify', args: big, timeout: 2_000 });
    assert.equal(outcome.reports.length, 1);
    assert.notEqual(outcome.reports[0]?.status, 'ok');
    assert.ok(Date.now() - started < 10_000);
    // A small one still crosses.
    void far.json((m) => m['t'] === 'control', 'control').then((m) => far.sendJson({ t: 'control.result', ref: m['ref'], ok: true }));
    const small = await admin.call<{ reports: { device: string; status: string }[] }>('control.send', { to: { device: far.id }, name: 'identify', args: {}, timeout: 10_000 });
    assert.deepEqual(small.reports.map((r) => r.status), ['ok']);
  } finally {
    admin.close();
  }
});

test('a burst of bus messages larger than one NOTIFY batch arrives whole, in order', async () => {
  assert.ok(pg);
  const url = await pg.createDatabase();
  const sender = openStore(tempDir(), url);
  const receiver = openStore(tempDir(), url);
  try {
    const heard: string[] = [];
    let listening = false;
    receiver.bus?.listen({ message: (m) => heard.push(m), listening: () => (listening = true) });
    const deadline = Date.now() + 10_000;
    while (!listening && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // 2.5 of the worker's batches of 100 NOTIFYs, posted in one go.
    const sent = Array.from({ length: 250 }, (_, i) => `burst-${i}`);
    for (const m of sent) sender.bus?.publish(m);
    while (heard.length < sent.length && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(heard, sent);
  } finally {
    sender.close();
    receiver.close();
  }
});
