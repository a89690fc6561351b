import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeviceMessage } from '../../protocol/device-messages.js';
import { randomBytes, seeded } from '../helpers/random.js';
import { VirtualDevice } from '../helpers/virtual-device.js';

const WINDOW = 4096;
const CHUNK = 512;

function online(): VirtualDevice {
  const d = new VirtualDevice({ window: WINDOW, maxChunk: CHUNK });
  d.bringOnline();
  d.take();
  return d;
}

function acceptOf(msgs: DeviceMessage[]): Extract<DeviceMessage, { t: 'job.accept' }> {
  const a = msgs.find((m) => m.t === 'job.accept');
  assert.ok(a?.t === 'job.accept', `no job.accept in ${JSON.stringify(msgs)}`);
  return a;
}

/**
 * Plays the server's side faithfully: sends only within the credit window,
 * advancing on acks, while the port takes random amounts. Returns the written
 * bytes and checks the bound on every step.
 */
function stream(d: VirtualDevice, job: Uint8Array, rnd: () => number, start = { sent: 0, acked: 0 }, stopAfter = Infinity): { sent: number; acked: number; done: boolean } {
  let { sent, acked } = start;
  let done = false;
  let steps = 0;
  while (!done && steps++ < stopAfter) {
    while (sent < job.length && sent - acked < WINDOW) {
      const n = Math.min(CHUNK, job.length - sent, WINDOW - (sent - acked));
      d.data(1, sent, job.subarray(sent, sent + n));
      sent += n;
    }
    const room = Math.floor(rnd() * 700);
    const before = d.printed.get(0)?.length ?? 0;
    d.handle({ type: 'port.writable', port: 0, room });
    const wrote = (d.printed.get(0)?.length ?? 0) - before;
    assert.ok(wrote <= room, `wrote ${wrote} with room ${room}`);
    for (const m of d.sent()) {
      if (m.t === 'job.ack') acked = m.written;
      if (m.t === 'job.done') done = true;
      if (m.t === 'job.fail') assert.fail(`job failed: ${m.code} ${m.message}`);
    }
    const held = d.core.snapshot().ports[0]?.job;
    if (held !== undefined) assert.ok(held.received - held.written <= WINDOW, 'spool holds more than the window');
  }
  return { sent, acked, done };
}

test('a job streams through the window and the port gets exactly its bytes, never more than the room', () => {
  const d = online();
  const job = randomBytes(100_000, 3);
  d.server({ t: 'job.start', id: 'j1', stream: 1, port: 0, size: job.length });
  assert.deepEqual(acceptOf(d.sent()), { t: 'job.accept', id: 'j1', received: 0, written: 0, fresh: true });
  const r = stream(d, job, seeded(5));
  assert.ok(r.done);
  assert.deepEqual(Uint8Array.from(d.printed.get(0) ?? []), job);
  assert.equal(d.core.snapshot().ports[0]?.job, undefined);
});

test('the spool keeps printing while offline and resumes from its offsets: no byte twice, none missing', () => {
  const d = online();
  const job = randomBytes(60_000, 9);
  const rnd = seeded(11);
  d.server({ t: 'job.start', id: 'j2', stream: 1, port: 0, size: job.length });
  d.sent();
  stream(d, job, rnd, { sent: 0, acked: 0 }, 20);
  // Link cut: frames in flight are lost, the spool keeps draining what it holds.
  d.handle({ type: 'ws.closed', code: 1006 });
  for (let i = 0; i < 10; i++) d.handle({ type: 'port.writable', port: 0, room: 300 });
  const held = d.core.snapshot().ports[0]?.job;
  assert.ok(held !== undefined);
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  d.server({ t: 'welcome', v: [1, 0], hb: 25_000, time: 0 });
  d.sent();
  // The server offers the same job again under a new stream number.
  d.server({ t: 'job.start', id: 'j2', stream: 1, port: 0, size: job.length });
  const acc = acceptOf(d.sent());
  assert.equal(acc.fresh, false);
  assert.equal(acc.received, held.received);
  assert.equal(acc.written, held.written);
  const r = stream(d, job, rnd, { sent: acc.received, acked: acc.written });
  assert.ok(r.done);
  assert.deepEqual(Uint8Array.from(d.printed.get(0) ?? []), job);
});

test('duplicate bytes in a frame are trimmed; a gap or an over-window frame fails the job', () => {
  const d = online();
  const job = randomBytes(3000, 1);
  d.server({ t: 'job.start', id: 'j3', stream: 4, port: 0, size: job.length });
  d.data(4, 0, job.subarray(0, 500));
  d.data(4, 250, job.subarray(250, 750)); // overlaps 250 bytes
  d.handle({ type: 'port.writable', port: 0, room: 10_000 });
  assert.deepEqual(Uint8Array.from(d.printed.get(0) ?? []), job.subarray(0, 750));
  d.sent();
  d.data(4, 1000, job.subarray(1000, 1500)); // gap
  const fail = d.sent().find((m) => m.t === 'job.fail');
  assert.ok(fail?.t === 'job.fail' && fail.code === 'OUT_OF_ORDER');

  d.server({ t: 'job.start', id: 'j4', stream: 5, port: 0, size: 20_000 });
  d.handle({ type: 'port.writable', port: 0, room: 0 }); // a stalled printer
  d.sent();
  for (let off = 0; off < WINDOW; off += CHUNK) d.data(5, off, new Uint8Array(CHUNK));
  d.data(5, WINDOW, new Uint8Array(1)); // nothing written yet: one byte past the credit
  const over = d.sent().find((m) => m.t === 'job.fail');
  assert.ok(over?.t === 'job.fail' && over.code === 'CREDIT_EXCEEDED');
});

test('an outcome lost with the link is told again when the server re-offers the job', () => {
  const d = online();
  d.server({ t: 'job.start', id: 'j5', stream: 2, port: 0, size: 10 });
  d.data(2, 0, new Uint8Array(10).fill(7));
  d.handle({ type: 'ws.closed', code: 1006 });
  d.handle({ type: 'port.writable', port: 0, room: 64 }); // finishes offline: job.done cannot go out
  assert.equal(d.printed.get(0)?.length, 10);
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  d.server({ t: 'welcome', v: [1, 0], hb: 25_000, time: 0 });
  d.sent();
  d.server({ t: 'job.start', id: 'j5', stream: 3, port: 0, size: 10 });
  const msgs = d.sent();
  assert.ok(msgs.some((m) => m.t === 'job.done' && m.id === 'j5'));
  assert.ok(!msgs.some((m) => m.t === 'job.accept'), 'a finished job is not accepted again');
  assert.equal(d.printed.get(0)?.length, 10, 'and nothing printed twice');
});

test('cancel drops held bytes; frames of the canceled stream are ignored', () => {
  const d = online();
  d.server({ t: 'job.start', id: 'j6', stream: 8, port: 0, size: 5000 });
  d.data(8, 0, new Uint8Array(500).fill(1));
  d.handle({ type: 'port.writable', port: 0, room: 100 });
  d.server({ t: 'job.cancel', id: 'j6' });
  d.data(8, 500, new Uint8Array(500).fill(1));
  d.handle({ type: 'port.writable', port: 0, room: 10_000 });
  assert.equal(d.printed.get(0)?.length, 100);
  assert.equal(d.core.snapshot().ports[0]?.job, undefined);
});

test('a job for a port the device does not have fails with UNKNOWN_PRINTER', () => {
  const d = online();
  d.server({ t: 'job.start', id: 'j7', stream: 1, port: 3, size: 10 });
  const fail = d.sent().find((m) => m.t === 'job.fail');
  assert.ok(fail?.t === 'job.fail' && fail.code === 'UNKNOWN_PRINTER' && fail.id === 'j7');
});

test('the LED shows printing while a job is held and online after it', () => {
  const d = online();
  assert.equal(d.core.snapshot().led, 'online');
  d.server({ t: 'job.start', id: 'j8', stream: 1, port: 0, size: 4 });
  assert.equal(d.core.snapshot().led, 'printing');
  d.data(1, 0, new Uint8Array(4));
  d.handle({ type: 'port.writable', port: 0, room: 4 });
  assert.equal(d.core.snapshot().led, 'online');
  d.handle({ type: 'port.state', port: 0, state: 'offline', detail: 'ECONNREFUSED' });
  assert.equal(d.core.snapshot().led, 'printer-error');
  const status = d.sent().filter((m) => m.t === 'status').pop();
  assert.ok(status?.t === 'status' && status.ports[0]?.state === 'offline' && status.led === 'printer-error');
});
