// The Node host's USB printer-class port (usb:/dev/usb/lpN) against a
// stand-in: no USB printer can be plugged in here, so the device is the
// emulator's PTY, a character device that likewise takes bytes, gives back
// the printer's answers, and fails when its other side goes away (as usblp
// does on unplug). Bytes in order under the room the port reports, answers
// as data, offline when the device goes and online when it comes back.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openPrinterPort, parsePrinterUri } from '../../device/hosts/node/ports/uri.js';
import { fileHash, ptyEmulator, received, sha256 } from '../tools/emulator-fixture.js';
import { expectStatusAnswer, PortDriver, portTestFile } from './port-harness.js';

const HWM = 4096;

const { procs, tmp, ports, drive } = portTestFile();

function open(path: string): PortDriver {
  return drive(openPrinterPort(`usb:${path}`, { highWaterMark: HWM, backoffBase: 20, backoffCap: 200 }));
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
  await expectStatusAnswer(d);
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

test('usb:VID:PID[:SERIAL] looks its printer up by ids at every open: absent it is offline, and after a replug that renumbers it, online and printing', async () => {
  assert.deepEqual(parsePrinterUri('usb:04b8:0202:X1'), { kind: 'usb-ids', vendor: '04b8', product: '0202', serial: 'X1' });
  assert.deepEqual(parsePrinterUri('usb:04B8:0202'), { kind: 'usb-ids', vendor: '04B8', product: '0202', serial: undefined });
  assert.throws(() => parsePrinterUri('usb:4b8:202'), /usb:VID:PID\[:SERIAL\]/);

  // A sysfs stand-in laid out as Linux's (class/usbmisc/lpN/device into the
  // USB interface under its device, which has the ids) and a /dev whose
  // usb/lpN is the emulator's PTY.
  const sys = join(tmp.dir, 'sys');
  const dev = join(tmp.dir, 'dev');
  mkdirSync(join(dev, 'usb'), { recursive: true });
  const plug = (lp: string, serial: string, tty: string): void => {
    const usb = join(sys, 'devices', `usb-${lp}`, '1-1');
    mkdirSync(join(usb, '1-1:1.0'), { recursive: true });
    writeFileSync(join(usb, 'idVendor'), '04b8\n');
    writeFileSync(join(usb, 'idProduct'), '0202\n');
    writeFileSync(join(usb, 'serial'), `${serial}\n`);
    mkdirSync(join(sys, 'class', 'usbmisc', lp), { recursive: true });
    symlinkSync(join(usb, '1-1:1.0'), join(sys, 'class', 'usbmisc', lp, 'device'));
    symlinkSync(tty, join(dev, 'usb', lp));
  };
  const unplug = (lp: string): void => {
    rmSync(join(sys, 'class', 'usbmisc', lp), { recursive: true, force: true });
    rmSync(join(dev, 'usb', lp), { force: true });
  };

  const emu = await ptyEmulator(procs, tmp.dir);
  // Another printer of the same model, with another serial: not this one.
  plug('lp0', 'OTHER', '/dev/null');
  const p = openPrinterPort('usb:04b8:0202:X1', { highWaterMark: HWM, backoffBase: 20, backoffCap: 100, sysfs: sys, devDir: dev });
  ports.push(p);
  const d = new PortDriver(p);
  p.open();
  await d.until(() => d.states.some((s) => s.state === 'offline' && /no USB printer/.test(s.detail ?? '')), 'offline: not plugged in');
  assert.ok(!d.states.some((s) => s.state === 'online'));

  plug('lp3', 'X1', emu.path);
  await d.until(() => d.lastState === 'online' && d.room === HWM, 'online once plugged in as lp3');
  const first = randomBytes(20_000);
  d.send(first);
  await received(emu.proc, first.length);

  // Unplugged, and back as lp5: the same address finds it.
  unplug('lp3');
  const emu2 = await ptyEmulator(procs, tmp.dir);
  await emu.proc.kill();
  await d.until(() => d.lastState === 'offline', 'offline when unplugged');
  plug('lp5', 'X1', emu2.path);
  await d.until(() => d.lastState === 'online' && d.room === HWM, 'online again as lp5');
  const second = randomBytes(30_000);
  d.send(second);
  await received(emu2.proc, second.length);
  assert.equal(fileHash(emu2.out), sha256(second));
});
