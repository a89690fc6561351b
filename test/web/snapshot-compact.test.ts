// The compact subscribe snapshot: the tables carry exactly the views of the
// full form (every field, online and offline devices, printers with names,
// status details and temperatures), in fewer bytes; and the built SDK, which
// asks for it, hands its listeners the full form's arrays.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fromTable, type DeviceView, type PrinterView, type Snapshot } from '../../protocol/client-messages.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, registerDevice, reportPorts, TestClient } from '../server/peers.js';
import { WebSocket } from 'ws';
import { loadSdk, NodeWebSocket } from './sdk-fixture.js';

let t: TestServer;
let online: FakeDevice;

before(async () => {
  t = await startTestServer();
  for (let i = 0; i < 40; i++) {
    registerDevice(t, `idle-${i}`, i % 2 === 0 ? ['north', 'till'] : []);
    if (i % 4 !== 0) reportPorts(t, `idle-${i}`, [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'zpl', name: `Labels ${i}`, confirms: true }]);
  }
  const token = registerDevice(t, 'maker', ['workshop']);
  online = await FakeDevice.connect(t, 'maker', token, { ports: [{ port: 0, dialect: 'gcode', name: 'Workshop 3D' }] });
  online.sendJson({
    t: 'status', ports: [{ port: 0, state: 'paper-out', detail: 'filament out', temps: [{ name: 'T0', current: 201.5, target: 210 }] }], led: 'printer-error', uptime: 12, heap: 4096, rssi: -60,
  });
  const c = await TestClient.connect(t);
  try {
    // The status is in once a printer.get shows it.
    for (let i = 0; i < 200; i++) {
      const p = await c.call<PrinterView>('printer.get', { printer: 'maker/0' });
      if (p.status === 'paper-out') break;
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    c.close();
  }
});

after(async () => {
  online.close();
  await t.close();
});

/** As JSON has them: a field that is undefined is no field. */
const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

test('the tables of a compact snapshot hold the views of the full one, in fewer bytes', { timeout: 20_000 }, async () => {
  const c = await TestClient.connect(t);
  try {
    const full = await c.call<Snapshot>('subscribe');
    const compact = await c.call<Snapshot>('subscribe', { compact: true });
    assert.equal(full.tables, undefined, 'the full form has no tables');
    assert.deepEqual(compact.devices, []);
    assert.deepEqual(compact.printers, []);
    assert.ok(compact.tables !== undefined);
    assert.deepEqual(fromTable<DeviceView>(compact.tables.devices), plain(full.devices));
    assert.deepEqual(fromTable<PrinterView>(compact.tables.printers), plain(full.printers));
    assert.deepEqual(compact.jobs, full.jobs);
    const maker = full.printers.find((p) => p.id === 'maker/0');
    assert.equal(maker?.detail, 'filament out', 'a printer with every field is among them');
    assert.equal(full.devices.length, 41);
    assert.equal(full.printers.length, 1 + 30 * 2);
    assert.ok(JSON.stringify(compact).length < 0.7 * JSON.stringify(full).length, 'the compact form is smaller');
  } finally {
    c.close();
  }
});

test('the SDK asks for the compact form and hands on the full one', { timeout: 20_000 }, async () => {
  const sdk = await loadSdk();
  const c = await TestClient.connect(t);
  const full = await c.call<Snapshot>('subscribe');
  c.close();
  // What the SDK sends, seen on the wire: a server that ignores `compact` would answer in full either way.
  const sent: Record<string, unknown>[] = [];
  class Recording extends WebSocket {
    override send(data: string, ...rest: unknown[]): void {
      sent.push(JSON.parse(data) as Record<string, unknown>);
      (super.send as (...a: unknown[]) => void)(data, ...rest);
    }
  }
  const pb = sdk.connect({ url: t.server.url, token: 'test-admin-token', WebSocket: Recording as unknown as typeof NodeWebSocket, coalesce: true });
  try {
    const live = new sdk.LiveState(pb);
    const snapshot = await pb.subscribe();
    const asked = sent.find((m) => m['op'] === 'subscribe');
    assert.equal(asked?.['compact'], true);
    assert.equal(asked?.['coalesce'], true);
    assert.equal(snapshot.tables, undefined);
    assert.deepEqual(snapshot.devices, plain(full.devices));
    assert.deepEqual(snapshot.printers, plain(full.printers));
    assert.equal(live.devices.size, 41);
    assert.equal(live.printers.get('maker/0')?.temps?.[0]?.current, 201.5);
  } finally {
    await pb.close();
  }
});
