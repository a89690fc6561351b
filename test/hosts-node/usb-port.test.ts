// The Node host's USB printer-class port (usb:/dev/usb/lpN) against a
// stand-in: no USB printer can be plugged in here, so the device is the
// emulator's PTY, a character device that likewise takes bytes, gives back
// the printer's answers, and fails when its other side goes away (as usblp
// does on unplug). Bytes in order under the room the port reports, answers
// as data, offline when the device goes and online when it comes back.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import type { PrinterPort } from '../../device/hosts/node/ports/printer-port.js';
import { openPrinterPort, parsePrinterUri } from '../../device/hosts/node/ports/uri.js';
import { Processes } from '../helpers/processes.js';
import { fileHash, ptyEmulator, received, sha256, tempDir } from '../tools/emulator-fixture.js';
import { PortDriver } from './port-harness.js';

const HWM = 4096;

const procs = new Processes();
const tmp = tempDir();
const ports: PrinterPort[] = [];
after(async () => {
  await Promise.all(ports.map((p) => p.close()));
  await procs.killAll();
  tmp.cleanup();
});

function open(path: string): PortDriver {
  const p = openPrinterPort(`usb:${path}`, { highWaterMark: HWM, backoffBase: 20, backoffCap: 200 });
  ports.push(p);
  const driver = new PortDriver(p);
  p.open();
  return driver;
}

test('usb: addresses are absolute paths', () => {
  assert.deepEqual(parsePrinterUri('usb:/dev/usb/lp0'), { kind: 'usb', path: '/dev/usb/lp0' });
  assert.throws(() => parsePrinterUri('usb:lp0'), /expected usb:\/dev\/usb\/lpN/);
});

test('delivers bytes in order and byte-identical, never more than the room it reported', async () => {
  const emu = await ptyEmulator(procs, tmp.dir);
  const d = open(emu.path);
  await d.until(() => d.lastState === 'online' && d.room === HWM, 'online with full room');
  assert.equal(d.port.label, `usb:${emu.path}`);
  const payload = randomBytes(256 * 1024);
  d.send(payload);
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));
  assert.ok(d.reports.every((r) => r >= 0 && r <= HWM));
});

test('status answers come back as data', async () => {
  const emu = await ptyEmulator(procs, tmp.dir);
  const d = open(emu.path);
  await d.until(() => d.room > 0, 'room');
  d.send(Uint8Array.of(0x10, 0x04, 0x01));
  await d.until(() => d.replies.length === 1, 'one status byte');
  assert.deepEqual(d.replies, [0x12]);
});

test('unplugged: offline with the reason; plugged in again: online, and prints', async () => {
  const first = await ptyEmulator(procs, tmp.dir);
  const d = open(first.path);
  await d.until(() => d.lastState === 'online', 'online');
  await first.proc.kill();
  const online = d.states.findIndex((s) => s.state === 'online');
  await d.until(() => d.states.slice(online).some((s) => s.state === 'offline'), 'offline after the device went');
  assert.match(d.states.slice(online).find((s) => s.state === 'offline')?.detail ?? '', /hung up|EIO|ENOENT/);

  const again = procs.cli(['emulate', '--pty', first.path, '--out', first.out]);
  await again.waitForEvent('pty');
  await d.until(() => d.lastState === 'online' && d.room === HWM, 'online again');
  d.send(Buffer.from('back'));
  await received(again, 4);
});
