// subscribe {coalesce: true}: a device's or printer's events within
// COALESCE_MS arrive as the last of them; a plain subscriber still gets every
// step; nothing overtakes an event that waits (a reply flushes it first).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COALESCE_MS } from '../../protocol/client-messages.js';
import { startTestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, registerDevice, type Item } from './peers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function events(items: Item[], device: string): string[] {
  return items.flatMap((x) => {
    if (x.kind !== 'text' || typeof x.json['event'] !== 'string') return [];
    const ev = x.json as { event: string; device?: { id: string; online: boolean }; printer?: { device: string; status: string } };
    if (ev.device?.id === device) return [`${ev.event} ${ev.device.online ? 'online' : 'offline'}`];
    if (ev.printer?.device === device) return [`${ev.event} ${ev.printer.status}`];
    return [];
  });
}

test('a device that drops and comes back within the window is one device event and one printer event to a coalescing subscriber', async (ctx) => {
  const t = await startTestServer({ heartbeatMs: 60_000 });
  ctx.after(() => t.close());
  const token = registerDevice(t, 'blip');
  const plain = await TestClient.connect(t);
  await plain.call('subscribe');
  const merged = await TestClient.connect(t);
  await merged.call('subscribe', { coalesce: true });

  const first = await FakeDevice.connect(t, 'blip', token);
  first.ws.terminate();
  await plain.event('device.offline');
  const second = await FakeDevice.connect(t, 'blip', token);
  ctx.after(() => second.ws.terminate());
  await plain.event('device.online', (e) => (e['device'] as { id: string }).id === 'blip');

  await sleep(COALESCE_MS * 3);
  // A reply after the window: everything held went before it.
  await merged.call('ping');
  assert.deepEqual(events(merged.inbox.items, 'blip'), ['device.online online', 'printer.status unknown']);
  // The plain subscriber heard every step: the waits above took the offline and the first online.
  assert.deepEqual(events(plain.inbox.items, 'blip'), ['printer.status unknown', 'printer.status offline', 'device.online online', 'printer.status unknown']);
});

test('a reply does not overtake an event that waits', async (ctx) => {
  const t = await startTestServer({ heartbeatMs: 60_000 });
  ctx.after(() => t.close());
  const token = registerDevice(t, 'quick');
  const merged = await TestClient.connect(t);
  await merged.call('subscribe', { coalesce: true });
  const dev = await FakeDevice.connect(t, 'quick', token);
  ctx.after(() => dev.ws.terminate());
  // Well inside the window: the device's events are still held when the ping is answered.
  const order: string[] = [];
  merged.ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as { event?: string; re?: string };
    order.push(m.event ?? `reply ${m.re}`);
  });
  await merged.call('ping');
  assert.deepEqual(order.slice(-3), ['device.online', 'printer.status', 'reply r2']);
});
