// The printer emulator on a real PTY (created by socat), written to through
// the serialport package exactly as the Node bridge does.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { emulatorHarness, fileHash, lastReceived, ptyEmulator, received, settled, sha256 } from './emulator-fixture.js';

const { procs, dir, openSerial } = emulatorHarness();

test('records every byte written to the serial device, in order (256 KiB random payload)', async () => {
  const emu = await ptyEmulator(procs, dir);
  const port = await openSerial(emu.path);
  const payload = randomBytes(256 * 1024);
  port.write(payload);
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));
});

test('answers DLE EOT over the PTY', async () => {
  const emu = await ptyEmulator(procs, dir);
  const port = await openSerial(emu.path);
  const answer = new Promise<number[]>((resolve) => port.once('data', (b: Buffer) => resolve([...b])));
  port.write(Uint8Array.of(0x10, 0x04, 0x01));
  assert.deepEqual(await answer, [0x12]);
  await received(emu.proc, 3);
  assert.deepEqual([...readFileSync(emu.out)], [0x10, 0x04, 0x01]);
});

test('stall holds the serial writer back; resume lets every byte through', async () => {
  const emu = await ptyEmulator(procs, dir);
  const port = await openSerial(emu.path);
  emu.proc.send('stall');
  await emu.proc.waitForEvent({ event: 'stalled', bytes: 0 });
  // Far more than the PTY, socat and pipe buffers together hold.
  const payload = randomBytes(2 * 1024 * 1024);
  port.write(payload);

  await settled(() => [port.writableLength, lastReceived(emu.proc)]);
  assert.equal(lastReceived(emu.proc), 0, 'nothing consumed while stalled');
  assert.ok(port.writableLength > 0, 'the writer still holds bytes the printer did not take');

  emu.proc.send('resume');
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));
});

test('keeps serving when the serial device is closed and opened again', async () => {
  const emu = await ptyEmulator(procs, dir);
  const first = await openSerial(emu.path);
  first.write('one,');
  await received(emu.proc, 4);
  await new Promise<void>((r) => first.close(() => r()));
  const second = await openSerial(emu.path);
  second.write('two');
  await received(emu.proc, 7);
  assert.equal(readFileSync(emu.out, 'utf8'), 'one,two');
});
