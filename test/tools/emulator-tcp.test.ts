// The printer emulator as a real process on a real TCP port: what it records,
// how it answers ESC/POS status queries, and that its stalls push back on the
// sender.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { emulatorHarness, fileHash, lastReceived, received, replies, settled, sha256, tcpEmulator } from './emulator-fixture.js';

const { procs, dir, connect } = emulatorHarness();

/** More than the kernel can hold for an unread loopback connection, so the rest must wait in the sender. */
function beyondKernelBuffers(): number {
  const max = (file: string): number => {
    try {
      return Number(readFileSync(file, 'utf8').trim().split(/\s+/).at(-1)) || 0;
    } catch {
      return 0;
    }
  };
  return Math.max(16 << 20, max('/proc/sys/net/ipv4/tcp_rmem') + max('/proc/sys/net/ipv4/tcp_wmem') + (8 << 20));
}

test('records every byte it receives, in order (256 KiB random payload)', async () => {
  const emu = await tcpEmulator(procs, dir);
  const socket = await connect(emu.port);
  await emu.proc.waitForEvent('connected');
  const payload = randomBytes(256 * 1024);
  socket.write(payload);
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));
  socket.destroy();
});

test('answers DLE EOT n with the status byte of its condition; records it raw, not as printed', async () => {
  const emu = await tcpEmulator(procs, dir);
  const socket = await connect(emu.port);
  const answers = replies(socket);
  const sent: number[] = [];
  const send = (...bytes: number[]): void => {
    sent.push(...bytes);
    socket.write(Uint8Array.from(bytes));
  };

  send(0x1b, 0x40, 0x10, 0x04, 0x01); // ESC @, then DLE EOT 1
  assert.deepEqual(await answers.take(1), [0x12], 'idle printer status');

  // A query split across reads is still recognised.
  send(0x10, 0x04);
  await received(emu.proc, sent.length);
  send(0x04);
  assert.deepEqual(await answers.take(1), [0x12], 'paper sensor: paper present');

  emu.proc.send('set paper-out');
  await emu.proc.waitForEvent({ event: 'condition', name: 'paper-out' });
  send(0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x04);
  assert.deepEqual(await answers.take(3), [0x1a, 0x32, 0x7e], 'offline; stopped by paper end; near end and end');

  // DLE EOT with an n outside 1..4 is not a query.
  send(0x10, 0x04, 0x09, 0x0a);
  await received(emu.proc, sent.length);
  assert.deepEqual([...readFileSync(emu.out)], sent, 'the raw record keeps every byte');
  // Paper out stops the mechanism: what waits in the input buffer is not printed yet.
  emu.proc.send('set ok');
  await emu.proc.waitForEvent({ event: 'printed', bytes: sent.length });
  assert.deepEqual([...readFileSync(emu.printed)], [0x1b, 0x40, 0x10, 0x04, 0x09, 0x0a], 'the printed record leaves the answered queries out');
  socket.destroy();
});

test('stall stops reading so the sender is held back; after resume every byte arrives', async () => {
  const emu = await tcpEmulator(procs, dir);
  const socket = await connect(emu.port);
  const head = randomBytes(1000);
  socket.write(head);
  await received(emu.proc, head.length);

  const mark = emu.proc.mark();
  emu.proc.send('stall');
  await emu.proc.waitForEvent({ event: 'stalled', bytes: head.length }, { from: mark });
  const body = randomBytes(beyondKernelBuffers());
  socket.write(body);

  await settled(() => [socket.writableLength, lastReceived(emu.proc)]);
  assert.equal(lastReceived(emu.proc), head.length, 'nothing consumed while stalled');
  assert.ok(socket.writableLength > 0, 'the sender still holds bytes the printer did not take');

  emu.proc.send('resume');
  await emu.proc.waitForEvent('resumed', { from: mark });
  await received(emu.proc, head.length + body.length);
  assert.equal(fileHash(emu.out), sha256(Buffer.concat([head, body])));
  socket.destroy();
});

test('--stall-after stalls at exactly that byte and --stall-for resumes', async () => {
  const emu = await tcpEmulator(procs, dir, ['--stall-after', '5000', '--stall-for', '200']);
  const socket = await connect(emu.port);
  const payload = randomBytes(20_000);
  socket.write(payload);
  await emu.proc.waitForEvent({ event: 'stalled', bytes: 5000 });
  await emu.proc.waitForEvent('resumed');
  const events = emu.proc.events();
  const untilResume = events.slice(0, events.findIndex((e) => e['event'] === 'resumed'));
  assert.ok(untilResume.every((e) => e['event'] !== 'received' || (e['bytes'] as number) <= 5000), 'nothing read past the stall point before resume');
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));
  socket.destroy();
});

test('serves one connection at a time; the next waits until the first closes', async () => {
  const emu = await tcpEmulator(procs, dir);
  const a = await connect(emu.port);
  await emu.proc.waitForEvent('connected');
  const b = await connect(emu.port);
  b.write('second');
  a.write('first-');
  await received(emu.proc, 6);
  a.end();
  await received(emu.proc, 12);
  assert.equal(readFileSync(emu.out, 'utf8'), 'first-second');
  b.destroy();
});

test('--baud paces consumption near the line rate (reported, not asserted)', async (t) => {
  const baud = 115_200;
  const emu = await tcpEmulator(procs, dir, ['--baud', String(baud)]);
  const socket = await connect(emu.port);
  const payload = randomBytes(baud / 10); // about one second of line time
  const start = performance.now();
  socket.write(payload);
  await received(emu.proc, payload.length);
  const seconds = (performance.now() - start) / 1000;
  t.diagnostic(`${payload.length} bytes in ${seconds.toFixed(2)} s = ${Math.round(payload.length / seconds)} B/s; line rate ${baud / 10} B/s`);
  assert.equal(fileHash(emu.out), sha256(payload));
  socket.destroy();
});

test('exits cleanly on SIGTERM and when its stdin ends', async () => {
  const a = await tcpEmulator(procs, dir);
  assert.deepEqual(await a.proc.kill('SIGTERM'), { code: 0, signal: null });
  const b = await tcpEmulator(procs, dir);
  b.proc.closeStdin();
  assert.deepEqual(await b.proc.waitForExit(), { code: 0, signal: null });
});
