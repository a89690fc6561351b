// The Node host's serial printer port (serialport package) against the
// emulator's real PTY: bytes in order, honest room under backpressure, and
// reopening when the device disappears and comes back.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { serialPort } from '../../device/hosts/node/ports/serial-port.js';
import type { Proc } from '../helpers/processes.js';
import { fileHash, ptyEmulator, received, settled, sha256 } from '../tools/emulator-fixture.js';
import { expectStatusAnswer, PortDriver, portTestFile } from './port-harness.js';

const HWM = 4096;

const { procs, tmp, drive } = portTestFile();

function open(path: string): PortDriver {
  return drive(serialPort(path, 115200, { highWaterMark: HWM, backoffBase: 20, backoffCap: 200 }));
}

function lastReceived(proc: Proc): number {
  return (proc.events().filter((e) => e['event'] === 'received').at(-1)?.['bytes'] as number | undefined) ?? 0;
}

test('delivers bytes in order, never more than the room it reported', async () => {
  const emu = await ptyEmulator(procs, tmp.dir);
  const d = open(emu.path);
  await d.until(() => d.lastState === 'online' && d.room === HWM, 'online with full room');
  assert.equal(d.port.label, `serial:${emu.path}@115200`);
  const payload = randomBytes(256 * 1024);
  d.send(payload);
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));
  assert.ok(d.reports.every((r) => r >= 0 && r <= HWM));
});

test('room falls to 0 while the printer stalls and comes back after resume', async () => {
  const emu = await ptyEmulator(procs, tmp.dir);
  const d = open(emu.path);
  await d.until(() => d.lastState === 'online', 'online');
  emu.proc.send('stall');
  await emu.proc.waitForEvent('stalled');

  // Far more than the PTY, socat and pipe buffers together hold, and small
  // enough to drain in time on a loaded two-core CI machine.
  const payload = randomBytes(1024 * 1024);
  d.send(payload);
  await settled(() => [d.room, d.written]);
  assert.equal(d.reports.at(-1), 0, 'no room while the printer does not read');
  assert.ok(!d.done, 'the writer is held back');
  assert.equal(lastReceived(emu.proc), 0);

  emu.proc.send('resume');
  await d.until(() => d.done, 'every byte handed to the port', 120_000);
  await received(emu.proc, payload.length);
  await d.until(() => d.room === HWM, 'full room once everything is flushed');
  assert.equal(fileHash(emu.out), sha256(payload));
});

test('stall and resume, again and again: the port never wedges while the printer answers', async () => {
  // The ESC/POS emulator answers DLE EOT and GS a sequences that occur in
  // random data. bindings-cpp's poller used to drop a pending wait for
  // 'readable' whenever a write waited for 'writable'; with the printer
  // stalled and answering, that wedged the port in about one cycle of five.
  // See hangup-safe-binding.ts.
  for (let cycle = 0; cycle < 6; cycle++) {
    const emu = await ptyEmulator(procs, tmp.dir);
    const d = open(emu.path);
    await d.until(() => d.lastState === 'online', 'online');
    emu.proc.send('stall');
    await emu.proc.waitForEvent('stalled');
    const payload = randomBytes(1024 * 1024);
    d.send(payload);
    await settled(() => [d.room, d.written]);
    emu.proc.send('resume');
    await d.until(() => d.done, `cycle ${cycle}: every byte handed to the port`, 60_000);
    await received(emu.proc, payload.length);
    await d.port.close();
    await emu.proc.kill();
  }
});

test('status answers come back as data', async () => {
  const emu = await ptyEmulator(procs, tmp.dir);
  const d = open(emu.path);
  await expectStatusAnswer(d);
});

test('a missing device is offline with the reason, and opens once it appears', async () => {
  const path = join(tmp.dir, 'later-tty');
  const d = open(path);
  await d.until(() => d.lastState === 'offline', 'offline');
  assert.match(d.states.at(-1)?.detail ?? '', /no such file|ENOENT/i);

  const emu = procs.cli(['emulate', '--pty', path, '--out', join(tmp.dir, 'later.bin')]);
  await emu.waitForEvent('pty');
  await d.until(() => d.lastState === 'online', 'online once the device exists');
  d.send(Buffer.from('after'));
  await received(emu, 5);
});

test('goes offline when the device vanishes and reopens when it is back', async () => {
  const first = await ptyEmulator(procs, tmp.dir);
  const d = open(first.path);
  await d.until(() => d.lastState === 'online', 'online');
  await first.proc.kill();
  const wentOffline = (): boolean => d.states.slice(d.states.findIndex((s) => s.state === 'online')).some((s) => s.state === 'offline');
  await d.until(wentOffline, 'offline after the device vanished');
  // A hung-up device reads 0 bytes; serialport's own binding would retry that
  // forever (bindings-cpp#162) instead of reporting it. Later states may
  // already be failed reopen attempts (the path is gone), so look at the
  // first offline after online.
  const wentOnline = d.states.findIndex((s) => s.state === 'online');
  const firstOffline = d.states.slice(wentOnline).find((s) => s.state === 'offline');
  assert.match(firstOffline?.detail ?? '', /hung up/);

  const again = procs.cli(['emulate', '--pty', first.path, '--out', first.out]);
  await again.waitForEvent('pty');
  await d.until(() => d.lastState === 'online' && d.room === HWM, 'online again');
  d.send(Buffer.from('back'));
  await received(again, 4);
});
