// The Node host's TCP printer port against the emulator process on a real
// socket: bytes in order, room that tells the truth under backpressure, and
// reopening after the printer goes away.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { tcpPort } from '../../device/hosts/node/ports/tcp-port.js';
import type { Proc } from '../helpers/processes.js';
import { fileHash, received, settled, sha256, tcpEmulator } from '../tools/emulator-fixture.js';
import { expectStatusAnswer, PortDriver, portTestFile } from './port-harness.js';
import { freePort } from '../../tools/free-port.js';

const HWM = 4096;
const FAST_RETRY = { highWaterMark: HWM, backoffBase: 20, backoffCap: 200 };

const { procs, tmp, drive } = portTestFile();

function open(port: number, opts = FAST_RETRY): PortDriver {
  return drive(tcpPort('127.0.0.1', port, opts));
}

function lastReceived(proc: Proc): number {
  return (proc.events().filter((e) => e['event'] === 'received').at(-1)?.['bytes'] as number | undefined) ?? 0;
}


test('delivers bytes in order, never more than the room it reported', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const d = open(emu.port);
  await d.until(() => d.lastState === 'online' && d.room === HWM, 'online with full room');
  const payload = randomBytes(256 * 1024);
  d.send(payload);
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));
  assert.ok(d.reports.every((r) => r >= 0 && r <= HWM), 'room is within 0..highWaterMark');
});

test('room falls to 0 while the printer stalls and comes back after resume', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const d = open(emu.port);
  await d.until(() => d.lastState === 'online', 'online');
  emu.proc.send('stall');
  await emu.proc.waitForEvent('stalled');

  const payload = randomBytes(64 * 1024 * 1024);
  d.send(payload);
  await settled(() => [d.room, d.written]);
  assert.equal(d.reports.at(-1), 0, 'the port reports no room while the printer does not read');
  assert.equal(d.port.room(), 0);
  assert.ok(!d.done, 'the writer is held back');
  assert.equal(lastReceived(emu.proc), 0);

  emu.proc.send('resume');
  await d.until(() => d.done, 'every byte handed to the port');
  await received(emu.proc, payload.length);
  await d.until(() => d.room === HWM, 'full room once everything is flushed');
  assert.equal(fileHash(emu.out), sha256(payload));
});

test('answers from the printer arrive as data', async () => {
  const emu = await tcpEmulator(procs, tmp.dir);
  const d = open(emu.port);
  await expectStatusAnswer(d);
});

test('goes offline with the reason and reopens when the printer comes (back)', async () => {
  const port = await freePort();
  const d = open(port);
  await d.until(() => d.lastState === 'offline', 'offline');
  assert.match(d.states.at(-1)?.detail ?? '', /ECONNREFUSED/);
  assert.equal(d.port.write(Uint8Array.of(1)), false, 'writes on a closed port are refused');

  const late = procs.cli(['emulate', '--tcp', `127.0.0.1:${port}`, '--out', `${tmp.dir}/late.bin`]);
  await late.waitForEvent('listening');
  await d.until(() => d.lastState === 'online' && d.room === HWM, 'online after the printer appeared');

  late.send('drop');
  await d.until(() => d.lastState === 'offline', 'offline after the printer dropped the connection');
  assert.equal(d.reports.at(-1), 0, 'no room while offline');
  await d.until(() => d.lastState === 'online', 'reconnected');
  await late.waitForEvent((e) => e['event'] === 'connected' && late.events().filter((x) => x['event'] === 'connected').length === 2);
});

test('close() stops reconnecting and leaves no timer behind', async () => {
  // A long backoff keeps the retry timer pending while we look.
  const d = open(await freePort(), { ...FAST_RETRY, backoffBase: 60_000 });
  await d.until(() => d.lastState === 'offline', 'offline, with a retry pending');
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  await d.port.close();
  const afterClose = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  assert.equal(afterClose, before - 1, 'the retry timer is gone');
  const states = d.states.length;
  await settled(() => d.states.length, { times: 3 });
  assert.equal(d.states.length, states, 'no events after close');
});
