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
