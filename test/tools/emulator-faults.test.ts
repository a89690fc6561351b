// Faults every emulated printer can play, as real processes: a condition
// that starts at an exact byte (paper out mid-job) and stops the mechanism
// so the input buffer fills and reading stops; XON/XOFF from a paused or
// slow printer; a printer that disappears and comes back (TCP: drop and
// refuse; PTY: the device goes away); a TCP drop at a byte; bad specs. And
// the spec parser itself, with the dialects' own faults (gcode drop-line).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EMULATED_DIALECTS } from '../../tools/emulator/dialects/index.js';
import { COMMON_FAULTS, formatFault, parseFault } from '../../tools/emulator/faults.js';
import { numbered } from '../helpers/gcode.js';
import { emulatorHarness, fileHash, lastReceived, ptyEmulator, received, replies, settled, sha256, tcpEmulator } from './emulator-fixture.js';

const { procs, dir, connect, openSerial } = emulatorHarness();

test('paper-out@N: the condition starts at exactly byte N, the buffer fills, reading stops; set ok lets every byte through', async () => {
  const emu = await tcpEmulator(procs, dir, ['--fault', 'paper-out@5000', '--buffer', '1000']);
  await emu.proc.waitForEvent({ event: 'armed', name: 'paper-out', at: 5000 });
  const socket = await connect(emu.port);
  const answers = replies(socket);
  // No DLE or GS: random bytes must not turn into status queries or Automatic Status Back.
  const payload = randomBytes(64 * 1024).map((b) => (b === 0x10 || b === 0x1d ? 0x20 : b));
  socket.write(payload);
  await emu.proc.waitForEvent({ event: 'fault', name: 'paper-out', at: 5000 });
  await emu.proc.waitForEvent({ event: 'condition', name: 'paper-out' });
  await settled(() => lastReceived(emu.proc));
  assert.equal(lastReceived(emu.proc), 6000, 'paper out at byte 5000, then 1000 bytes fill the input buffer');

  emu.proc.send('set ok');
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));
  // The query written after the job is answered once the printer reads it.
  socket.write(Uint8Array.of(0x10, 0x04, 0x01));
  assert.deepEqual(await answers.take(1), [0x12]);
});

test('cover-open stops the mechanism too; real-time queries are still answered while the buffer has room', async () => {
  const emu = await tcpEmulator(procs, dir, ['--buffer', '4096']);
  const socket = await connect(emu.port);
  const answers = replies(socket);
  emu.proc.send('set cover-open');
  await emu.proc.waitForEvent({ event: 'condition', name: 'cover-open' });
  socket.write(Buffer.alloc(1000, 0x41));
  socket.write(Uint8Array.of(0x10, 0x04, 0x02));
  assert.deepEqual(await answers.take(1), [0x16], 'offline cause: cover open');
});

test('--xonxoff: a paused printer sends XOFF past 3/4 of its buffer and XON when drained to 1/4', async () => {
  const emu = await tcpEmulator(procs, dir, ['--xonxoff', '--buffer', '1000'], 'raw');
  const socket = await connect(emu.port);
  const answers = replies(socket);
  emu.proc.send('pause');
  await emu.proc.waitForEvent('paused');
  socket.write(Buffer.alloc(700, 0x41));
  await received(emu.proc, 700);
  assert.deepEqual(answers.pending(), [], 'no XOFF below the high mark');
  socket.write(Buffer.alloc(100, 0x42));
  assert.deepEqual(await answers.take(1), [0x13], 'XOFF');
  const xoff = await emu.proc.waitForEvent<{ event: string; buffered: number }>('xoff');
  assert.equal(xoff.buffered, 800);
  socket.write(Buffer.alloc(500, 0x43));
  await settled(() => lastReceived(emu.proc));
  assert.equal(lastReceived(emu.proc), 1000, 'a full buffer stops reading: nothing is lost');

  emu.proc.send('unpause');
  assert.deepEqual(await answers.take(1), [0x11], 'XON');
  const xon = await emu.proc.waitForEvent<{ event: string; afterXoff: number }>('xon');
  assert.equal(xon.afterXoff, 200, 'bytes the sender sent after XOFF (it ignored it here)');
  await received(emu.proc, 1300);
  assert.equal(readFileSync(emu.out).length, 1300);
});

test('--xonxoff --print-rate: a slow printer raises XOFF/XON over a PTY; a sender that obeys loses nothing', async () => {
  const emu = await ptyEmulator(procs, dir, ['--xonxoff', '--buffer', '4096', '--print-rate', '50000'], 'raw');
  const port = await openSerial(emu.path);
  const payload = randomBytes(128 * 1024).map((b) => (b === 0x13 || b === 0x11 ? 0x20 : b));
  let held = false;
  let xoffs = 0;
  let release = (): void => {};
  port.on('data', (chunk: Buffer) => {
    for (const b of chunk) {
      if (b === 0x13) {
        held = true;
        xoffs++;
      } else if (b === 0x11) {
        held = false;
        release();
      }
    }
  });
  // Write in small pieces, stopping while XOFF holds, as a bridge with software flow control does.
  for (let i = 0; i < payload.length; i += 256) {
    while (held) await new Promise<void>((r) => (release = r));
    await new Promise<void>((resolve, reject) => port.write(payload.subarray(i, i + 256), (e) => (e ? reject(e) : resolve())));
    await new Promise<void>((r) => port.drain(() => r()));
  }
  await received(emu.proc, payload.length);
  assert.equal(fileHash(emu.out), sha256(payload));
  assert.ok(xoffs > 0, 'the slow printer sent XOFF');
  const xons = emu.proc.events().filter((e) => e['event'] === 'xon');
  assert.ok(xons.length > 0, 'and XON when it drained');
});

test('disappear over TCP: the host is dropped and connecting is refused until reappear', async () => {
  const emu = await tcpEmulator(procs, dir, ['--fault', 'disappear@1000'], 'raw');
  const socket = await connect(emu.port);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => {});
  socket.write(randomBytes(5000));
  await emu.proc.waitForEvent('disappeared');
  await closed;
  assert.equal(readFileSync(emu.out).length, 1000, 'exactly the bytes up to the fault were received');
  await assert.rejects(connect(emu.port), /ECONNREFUSED/);

  emu.proc.send('reappear');
  const back = await emu.proc.waitForEvent<{ event: string; port: number }>('reappeared');
  assert.equal(back.port, emu.port);
  const again = await connect(emu.port);
  again.write('after');
  await received(emu.proc, 1005);
  assert.equal(readFileSync(emu.out).subarray(1000).toString(), 'after');
});

test('disappear over a PTY: the device goes away under an open port and comes back at the same path', async () => {
  const emu = await ptyEmulator(procs, dir, [], 'raw');
  const port = await openSerial(emu.path);
  port.on('error', () => {});
  port.write('before');
  await received(emu.proc, 6);
  emu.proc.send('disappear');
  await emu.proc.waitForEvent('disappeared');
  assert.equal(existsSync(emu.path), false, 'the symlink is gone');
  // The bridge closes a port that hung up (serialport itself may not notice on a PTY).
  await new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r()));

  emu.proc.send('reappear');
  await emu.proc.waitForEvent({ event: 'reappeared', path: emu.path });
  assert.equal(existsSync(emu.path), true);
  const again = await openSerial(emu.path);
  again.write('after');
  await received(emu.proc, 11);
  assert.equal(readFileSync(emu.out, 'utf8'), 'beforeafter');
});

test('drop@N cuts the TCP connection at byte N; the next connection is served', async () => {
  const emu = await tcpEmulator(procs, dir, ['--fault', 'drop@300'], 'raw');
  const socket = await connect(emu.port);
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(randomBytes(2000));
  await closed;
  await emu.proc.waitForEvent('disconnected');
  assert.equal(readFileSync(emu.out).length, 300);
  const next = await connect(emu.port);
  next.write('x');
  await received(emu.proc, 301);
});

test('bad faults: a usage error on the command line, an error event on stdin', async () => {
  const usage = await procs.run(['emulate', '--tcp', '127.0.0.1:0', '--fault', 'paper-out@x']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /NAME\[@N\]/);
  const unknown = await procs.run(['emulate', '--dialect', 'tspl', '--tcp', '127.0.0.1:0', '--fault', 'silent-hs']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /silent-hs/);

  const emu = await tcpEmulator(procs, dir, [], 'zpl');
  emu.proc.send('fault corrupt@3');
  const e = await emu.proc.waitForEvent<{ event: string; message: string }>('error');
  assert.match(e.message, /corrupt/);
  emu.proc.send('set nonsense');
  await emu.proc.waitForEvent((x) => x['event'] === 'error' && /nonsense/.test(String(x['message'])));
});

test('fault specs: NAME[@N][+MS][~MS][*K] [off] parse and print back; malformed ones are refused', () => {
  assert.deepEqual(parseFault('drop-line@12*2'), { name: 'drop-line', at: 12, delay: undefined, lasting: undefined, count: 2, off: undefined });
  assert.deepEqual(parseFault(' drop-line '), { name: 'drop-line', at: undefined, delay: undefined, lasting: undefined, count: undefined, off: undefined });
  assert.deepEqual(parseFault('stall@5000+20~300'), { name: 'stall', at: 5000, delay: 20, lasting: 300, count: undefined, off: undefined });
  assert.equal(parseFault('silent-hs off').off, true);
  for (const spec of ['drop-line@12*2', 'drop-line', 'stall@5000+20~300', 'silent-hs off', 'corrupt@3*9']) assert.equal(formatFault(parseFault(spec)), spec);
  for (const bad of ['drop-line@', 'drop-line@x', 'drop-line*0', 'drop-line@1 on', 'Drop-line@1', '-drop@1', 'drop-line@1 off now', `stall~${2 ** 31}`]) {
    assert.throws(() => parseFault(bad), /fault|\*K|milliseconds/, bad);
  }
});

test('a dialect\'s own faults never share a name with a common fault or its conditions (the dialect\'s would hide the other)', () => {
  for (const d of Object.values(EMULATED_DIALECTS)) {
    for (const name of Object.keys(d.faults)) {
      assert.ok(!(name in COMMON_FAULTS), `${d.name} fault ${name} is a common fault`);
      assert.ok(!d.conditions.includes(name), `${d.name} fault ${name} is a condition`);
    }
  }
  assert.ok('drop-line' in (EMULATED_DIALECTS['gcode']?.faults ?? {}));
});

test('gcode: drop-line@N counts lines, and drop@N still cuts the TCP connection at byte N', async () => {
  const emu = await tcpEmulator(procs, dir, ['--fault', 'drop-line@1', '--fault', 'drop@40'], 'gcode');
  await emu.proc.waitForEvent({ event: 'armed', name: 'drop-line', at: 1 });
  const socket = await connect(emu.port);
  socket.on('error', () => {});
  const answers = replies(socket);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(`${[1, 2, 3, 4].map((n) => numbered(n, 'G1 X1')).join('\n')}\n`);
  await closed;
  await emu.proc.waitForEvent('disconnected');
  assert.equal(readFileSync(emu.out).length, 40, 'the connection went at byte 40');
  const refusal = 'Error:Line Number is not Last Line Number+1, Last Line: 0\nResend: 1\nok\n';
  assert.equal(String.fromCharCode(...answers.pending()), refusal.repeat(2), 'line 1 vanished: lines 2 and 3 refused, line 4 cut off');
  const faults = emu.proc.events().filter((e) => e['event'] === 'fault').map((e) => e['name']);
  assert.deepEqual(faults, ['drop-line', 'drop']);
});
