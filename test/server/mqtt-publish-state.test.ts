// server/mqtt/state.ts alone: events and the time in, publications out.
// Which node publishes a device (only its holder, never for a relayed
// event), what a removal empties, what a reconnect says again, and the
// coalescing of progress, all without a broker or a timer.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientEvent, DeviceView, JobView, PrinterView } from '../../protocol/client-messages.js';
import { MAX_PAYLOAD_BYTES, MAX_TRACKED_JOBS, MqttState, type Publication } from '../../server/mqtt/state.js';
import { Topics } from '../../server/mqtt/topics.js';

const topics = new Topics('pb', 'ha');

function device(id: string, online = true, extra: Partial<DeviceView> = {}): DeviceView {
  return { id, online, tags: [], fw: 'fw-1', ports: [{ port: 0, dialect: 'escpos' }], ...extra };
}

function printer(dev: string, extra: Partial<PrinterView> = {}): PrinterView {
  return { id: `${dev}/0`, device: dev, port: 0, dialect: 'escpos', online: true, status: 'online', queued: 0, paused: false, ...extra };
}

function job(id: string, dev: string, state: JobView['state'], written: number, size = 100): JobView {
  return { id, printer: `${dev}/0`, state, size, written, progress: written / size, created: 1, updated: 2 };
}

/** A state whose node holds the devices in `held`, with the devices in `registered` still registered. */
function rig(held: Set<string>, registered = new Set(['d1', 'd2'])): MqttState {
  return new MqttState({ topics, node: 'n1', version: '0.1.0', holds: (d) => held.has(d), registered: (d) => registered.has(d), coalesceMs: 1000 });
}

const topicsOf = (pubs: readonly Publication[]): string[] => pubs.map((p) => p.topic);
const payloadOn = (pubs: readonly Publication[], topic: string): string | undefined => pubs.find((p) => p.topic === topic)?.payload;

function online(s: MqttState, dev: string, now = 0): Publication[] {
  return [...s.event({ event: 'device.online', device: device(dev) }, now, true), ...s.event({ event: 'printer.status', printer: printer(dev) }, now, true)];
}

test('a device held here: availability, state, discovery and its printer, retained', () => {
  const pubs = online(rig(new Set(['d1'])), 'd1');
  assert.deepEqual(topicsOf(pubs), ['pb/d1/availability', 'pb/d1/state', 'ha/device/pb_d1/config', 'pb/d1/0/availability', 'pb/d1/0/state']);
  assert.ok(pubs.every((p) => p.retain));
  assert.equal(payloadOn(pubs, 'pb/d1/availability'), 'online');
  assert.equal(JSON.parse(payloadOn(pubs, 'pb/d1/state') ?? '{}').node, 'n1');
});

test('events of a device held by another node (relayed in a cluster) publish nothing here, an offline included', () => {
  const s = rig(new Set());
  const events: ClientEvent[] = [
    { event: 'device.online', device: device('d1') },
    { event: 'printer.status', printer: printer('d1') },
    { event: 'job.updated', job: job('j1', 'd1', 'queued', 0) },
    { event: 'device.offline', device: device('d1', false) },
  ];
  for (const e of events) assert.deepEqual(s.event(e, 0, true), [], e.event);
});

test('a device that moved to another node: the old holder says nothing more of it, and no offline', () => {
  const held = new Set(['d1']);
  const s = rig(held);
  online(s, 'd1');
  held.delete('d1');
  // The new holder's device.online, relayed: the old node forgets the device quietly.
  assert.deepEqual(s.event({ event: 'device.online', device: device('d1') }, 5, true), []);
  assert.deepEqual(s.event({ event: 'device.offline', device: device('d1', false) }, 6, true), []);
  assert.deepEqual(s.all(7), []);
});

test('a device whose connection here ended is offline; removed, its every retained topic is emptied', () => {
  const held = new Set(['d1', 'd2']);
  const registered = new Set(['d1', 'd2']);
  const s = rig(held, registered);
  const d2Topics = topicsOf(online(s, 'd2'));
  online(s, 'd1');
  held.delete('d1');
  const off = s.event({ event: 'device.offline', device: device('d1', false) }, 10, true);
  assert.equal(payloadOn(off, 'pb/d1/availability'), 'offline');
  assert.equal(payloadOn(off, 'pb/d1/0/availability'), 'offline');
  assert.equal(JSON.parse(payloadOn(off, 'pb/d1/0/state') ?? '{}').status, 'offline');
  assert.equal(JSON.parse(payloadOn(off, 'pb/d1/state') ?? '{}').online, false);

  held.delete('d2');
  registered.delete('d2');
  const removed = s.event({ event: 'device.offline', device: device('d2', false) }, 11, true);
  assert.deepEqual(topicsOf(removed).sort(), [...d2Topics].sort());
  assert.ok(removed.every((p) => p.retain && p.payload === ''));
});

test('a reconnect says everything held again, and the offline of a device that left while the broker was away', () => {
  const held = new Set(['d1', 'd2']);
  const s = rig(held);
  online(s, 'd1');
  online(s, 'd2');
  held.delete('d2');
  s.event({ event: 'device.offline', device: device('d2', false) }, 5, false);
  const again = s.all(6);
  assert.deepEqual(topicsOf(again).filter((t) => t.startsWith('pb/d1/') || t.includes('pb_d1')).sort(), ['ha/device/pb_d1/config', 'pb/d1/0/availability', 'pb/d1/0/state', 'pb/d1/availability', 'pb/d1/state']);
  assert.equal(payloadOn(again, 'pb/d2/availability'), 'offline');
  // Said once: the next reconnect owes nothing for d2.
  assert.equal(payloadOn(s.all(7), 'pb/d2/availability'), undefined);
});

test('job events: one message per state, not retained; progress coalesced to once a second per printer, state changes at once', () => {
  const s = rig(new Set(['d1']));
  online(s, 'd1');
  assert.deepEqual(topicsOf(s.event({ event: 'job.updated', job: job('j1', 'd1', 'queued', 0) }, 0, true)), ['pb/d1/0/job/queued']);
  // The printer takes the job: the printer state changes at once.
  const taken = s.event({ event: 'printer.status', printer: printer('d1', { job: 'j1', status: 'busy' }) }, 10, true);
  assert.equal(JSON.parse(payloadOn(taken, 'pb/d1/0/state') ?? '{}').job, 'j1');
  const sending = s.event({ event: 'job.updated', job: job('j1', 'd1', 'sending', 10) }, 20, true);
  assert.deepEqual(topicsOf(sending), ['pb/d1/0/job/sending']);
  assert.equal(sending[0]?.retain, false);
  // Progress only, within the second: held back, the latest kept.
  assert.deepEqual(s.event({ event: 'job.updated', job: job('j1', 'd1', 'sending', 30) }, 500, true), []);
  assert.deepEqual(s.event({ event: 'job.updated', job: job('j1', 'd1', 'sending', 40) }, 600, true), []);
  assert.equal(s.nextDue(), 1010);
  assert.deepEqual(s.due(1009), []);
  const due = s.due(1010);
  assert.equal(JSON.parse(payloadOn(due, 'pb/d1/0/state') ?? '{}').progress, 0.4);
  assert.equal(s.nextDue(), undefined);
  // A change other than progress goes at once, whatever waited.
  s.event({ event: 'job.updated', job: job('j1', 'd1', 'sending', 50) }, 1100, true);
  const paused = s.event({ event: 'printer.status', printer: printer('d1', { job: 'j1', status: 'paper-out' }) }, 1200, true);
  assert.deepEqual(JSON.parse(payloadOn(paused, 'pb/d1/0/state') ?? '{}').status, 'paper-out');
  assert.equal(JSON.parse(payloadOn(paused, 'pb/d1/0/state') ?? '{}').progress, 0.5);
  assert.equal(s.nextDue(), undefined);
  // The same state again is not a new message.
  assert.deepEqual(topicsOf(s.event({ event: 'job.updated', job: job('j1', 'd1', 'done', 100) }, 1300, true)), ['pb/d1/0/job/done']);
  assert.deepEqual(s.event({ event: 'job.updated', job: job('j1', 'd1', 'done', 100) }, 1400, true).filter((p) => p.topic.includes('/job/')), []);
});

test('a G-code printer\'s new heater adds a temperature sensor to the device\'s discovery', () => {
  const s = rig(new Set(['d1']));
  s.event({ event: 'device.online', device: device('d1', true, { ports: [{ port: 0, dialect: 'gcode' }] }) }, 0, true);
  const first = s.event({ event: 'printer.status', printer: printer('d1', { dialect: 'gcode', temps: [{ name: 'T0', current: 20, target: 0 }] }) }, 0, true);
  const config = JSON.parse(payloadOn(first, 'ha/device/pb_d1/config') ?? '{}') as { cmps: Record<string, { dev_cla?: string }> };
  assert.equal(config.cmps['p0_temp_T0']?.dev_cla, 'temperature');
  assert.deepEqual(JSON.parse(payloadOn(first, 'pb/d1/0/state') ?? '{}').temps, { T0: { current: 20, target: 0 } });
  // The same heaters again: no new config.
  const same = s.event({ event: 'printer.status', printer: printer('d1', { dialect: 'gcode', status: 'busy', temps: [{ name: 'T0', current: 25, target: 0 }] }) }, 2000, true);
  assert.equal(payloadOn(same, 'ha/device/pb_d1/config'), undefined);
});

test('a delivery report to more devices than fit is cut to the size cap and says how many it left out', () => {
  const s = rig(new Set());
  const reports = Array.from({ length: 20_000 }, (_, i) => ({ device: `device-${i}`, status: 'offline' as const, message: 'x'.repeat(20) }));
  const [pub] = s.event({ event: 'control.delivered', ref: 'r1', reports }, 0, true);
  assert.ok(pub);
  assert.equal(pub.topic, 'pb/control/r1/report');
  assert.ok(Buffer.byteLength(pub.payload) <= MAX_PAYLOAD_BYTES);
  const body = JSON.parse(pub.payload) as { reports: unknown[]; truncated: number };
  assert.ok(body.reports.length > 0);
  assert.equal(body.reports.length + body.truncated, reports.length);
});

test('a job change told again late (another node relaying what it read) is not a second event', () => {
  const s = rig(new Set(['d1']));
  online(s, 'd1');
  const at = (state: JobView['state'], updated: number): JobView => ({ ...job('j1', 'd1', state, state === 'done' ? 100 : 50), updated });
  assert.deepEqual(topicsOf(s.event({ event: 'job.updated', job: at('printing', 10) }, 10, true)), ['pb/d1/0/job/printing']);
  assert.deepEqual(topicsOf(s.event({ event: 'job.updated', job: at('done', 20) }, 20, true)).filter((t) => t.includes('/job/')), ['pb/d1/0/job/done']);
  assert.deepEqual(s.event({ event: 'job.updated', job: at('printing', 10) }, 30, true), []);
  assert.deepEqual(s.event({ event: 'job.updated', job: at('done', 20) }, 31, true).filter((p) => p.topic.includes('/job/')), []);
});

test('printing and done in the same millisecond, then both told again by another node: still one event each', () => {
  const s = rig(new Set(['d1']));
  online(s, 'd1');
  const at = (state: JobView['state']): JobView => ({ ...job('j2', 'd1', state, 100), updated: 430 });
  const told = (['printing', 'done', 'printing', 'done'] as const).flatMap((state, i) => topicsOf(s.event({ event: 'job.updated', job: at(state) }, 430 + i, true)));
  assert.deepEqual(told.filter((t) => t.includes('/job/')), ['pb/d1/0/job/printing', 'pb/d1/0/job/done']);
});

test('a silent node\'s devices are said offline here with their printers, unless held here; owed again after a reconnect when the link was down', () => {
  const held = new Set(['d2']);
  const s = rig(held);
  const views = [device('d1'), device('d2')];
  const printers = [printer('d1', { job: 'j9' }), printer('d2')];
  const said = s.orphaned(views, printers, 40, true);
  assert.deepEqual(topicsOf(said), ['pb/d1/availability', 'pb/d1/state', 'pb/d1/0/availability', 'pb/d1/0/state']);
  assert.equal(payloadOn(said, 'pb/d1/availability'), 'offline');
  assert.equal(JSON.parse(payloadOn(said, 'pb/d1/state') ?? '{}').online, false);
  const state = JSON.parse(payloadOn(said, 'pb/d1/0/state') ?? '{}');
  assert.deepEqual([state.online, state.status, state.job, state.progress], [false, 'offline', 'j9', null]);

  held.delete('d2');
  assert.deepEqual(topicsOf(s.orphaned(views, printers, 41, false)).filter((t) => t.startsWith('pb/d2/')), ['pb/d2/availability', 'pb/d2/state', 'pb/d2/0/availability', 'pb/d2/0/state']);
  assert.equal(payloadOn(s.all(42), 'pb/d2/0/availability'), 'offline');
});

test('past MAX_TRACKED_JOBS the oldest job is forgotten: its state told again is an event again, a newer one\'s is not', () => {
  const s = rig(new Set(['d1']));
  online(s, 'd1');
  const queued = (id: string): ClientEvent => ({ event: 'job.updated', job: job(id, 'd1', 'queued', 0) });
  for (let i = 0; i <= MAX_TRACKED_JOBS; i++) s.event(queued(`j${i}`), 0, true);
  assert.deepEqual(topicsOf(s.event(queued(`j${MAX_TRACKED_JOBS}`), 1, true)), []);
  assert.deepEqual(topicsOf(s.event(queued('j1'), 1, true)), []);
  assert.deepEqual(topicsOf(s.event(queued('j0'), 1, true)), ['pb/d1/0/job/queued']);
});

test('a device status that moves only rssi or heap sends no discovery; a new firmware sends it again', () => {
  const s = rig(new Set(['d1']));
  online(s, 'd1');
  const status = (extra: Partial<DeviceView>, now: number): Publication[] => s.event({ event: 'device.status', device: device('d1', true, extra) }, now, true);
  assert.deepEqual(topicsOf(status({ rssi: -60, heap: 1000 }, 5000)), ['pb/d1/state']);
  const upgraded = status({ rssi: -60, heap: 1000, fw: 'fw-2' }, 6000);
  assert.deepEqual(topicsOf(upgraded), ['pb/d1/state', 'ha/device/pb_d1/config']);
  assert.equal(JSON.parse(payloadOn(upgraded, 'ha/device/pb_d1/config') ?? '{}').dev.sw, 'fw-2');
});
