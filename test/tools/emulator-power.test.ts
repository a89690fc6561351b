// A printer switched off and on again, as real processes over TCP and a PTY:
// it loses what it had buffered but not printed (and --out never shows it),
// goes away (TCP: the connection is reset, new ones refused; PTY: silence,
// what arrives is dropped), and comes back with a reset state. Also the
// timed fault forms: +MS (later) and ~MS (undone after).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { emulatorHarness, lastReceived, ptyEmulator, received, replies, settled, tcpEmulator } from './emulator-fixture.js';

const { procs, dir, connect, openSerial } = emulatorHarness();

/** Random bytes without DLE and GS, so nothing in them is an ESC/POS query or ASB command. */
function plain(n: number): Buffer {
  return Buffer.from(randomBytes(n).map((b) => (b === 0x10 || b === 0x1d ? 0x20 : b)));
}

type PowerOff = { event: string; lost: number; bytes: number };

test('power-cycle@N~MS over TCP: buffered bytes are lost, the connection is reset, connecting is refused until it is on again', async () => {
  // The mechanism prints 20 KB/s from a 4 KB buffer, so the buffer is full when the power goes.
  const emu = await tcpEmulator(procs, dir, ['--print-rate', '20000', '--buffer', '4096', '--fault', 'power-cycle@20000~1500'], 'raw');
  await emu.proc.waitForEvent({ event: 'armed', name: 'power-cycle', at: 20000 });
  const socket = await connect(emu.port);
  const closed = new Promise<Error | undefined>((resolve) => {
    let error: Error | undefined;
    socket.on('error', (e) => (error = e));
    socket.once('close', () => resolve(error));
  });
  const payload = plain(60_000);
  socket.write(payload);

  await emu.proc.waitForEvent({ event: 'fault', name: 'power-cycle', at: 20000 });
  const off = await emu.proc.waitForEvent<PowerOff>('power-off');
  assert.equal(off.bytes, 20000);
  assert.ok(off.lost > 0 && off.lost <= 4096, `lost ${off.lost} buffered bytes`);
  assert.match(String((await closed)?.message), /ECONNRESET/, 'the host sees a reset');
  await assert.rejects(connect(emu.port), /ECONNREFUSED/);
  await settled(() => readFileSync(emu.printed).length, { times: 3 });
  assert.deepEqual(readFileSync(emu.printed), payload.subarray(0, 20000 - off.lost), 'only what was printed before the power went');

  await emu.proc.waitForEvent('power-on', { timeout: 5000 });
  const again = await connect(emu.port);
  again.write('after');
  await received(emu.proc, 20005);
  await emu.proc.waitForEvent({ event: 'printed', bytes: 20000 - off.lost + 5 });
  assert.deepEqual(readFileSync(emu.printed), Buffer.concat([payload.subarray(0, 20000 - off.lost), Buffer.from('after')]));
  assert.equal(readFileSync(emu.out).length, 20005, 'the raw record has every byte that was received');
  const names = emu.proc.events().map((e) => e['event']);
  assert.ok(names.indexOf('disconnected') < names.indexOf('power-off') && names.indexOf('power-off') < names.indexOf('power-on'), names.join(' '));
});

test('power-off over a PTY: serial silence — nothing is answered, what arrives is dropped; power-on answers again with ASB off and conditions cleared', async () => {
  const emu = await ptyEmulator(procs, dir, [], 'escpos');
  const port = await openSerial(emu.path);
  const answers = replies(port);
  port.write(Uint8Array.of(0x1d, 0x61, 0x0f)); // GS a n: Automatic Status Back on
  assert.deepEqual(await answers.take(4), [0x10, 0, 0, 0], 'ASB at once');
  emu.proc.send('set paper-out');
  assert.deepEqual(await answers.take(4), [0x18, 0, 0x0f, 0], 'ASB on the change');
  port.write('printed while paper out?');
  await received(emu.proc, 27);

  emu.proc.send('power-off');
  const off = await emu.proc.waitForEvent<PowerOff>('power-off');
  assert.equal(off.lost, 24, 'the text waited in the buffer behind paper-out: lost');
  const dark = plain(3000);
  port.write(dark);
  port.write(Uint8Array.of(0x10, 0x04, 0x01));
  await delay(500);
  assert.deepEqual(answers.pending(), [], 'a switched-off printer answers nothing');
  assert.equal(lastReceived(emu.proc), 27, 'what arrives while off is not received');

  emu.proc.send('power-on');
  const on = await emu.proc.waitForEvent<{ event: string; dropped: number }>('power-on');
  assert.equal(on.dropped, 3003, 'every byte that arrived while off was dropped');
  await emu.proc.waitForEvent({ event: 'asb', enabled: false });
  port.write(Uint8Array.of(0x10, 0x04, 0x01));
  assert.deepEqual(await answers.take(1), [0x12], 'online, paper-out cleared');
  port.write('after');
  // The mechanism took GS a n before the paper ran out, then the query and the text after power-on.
  await emu.proc.waitForEvent({ event: 'printed', bytes: 3 + 3 + 5 });
  await delay(200);
  assert.deepEqual(answers.pending(), [], 'no Automatic Status Back after the power cycle');
  assert.equal(readFileSync(emu.printed, 'latin1'), '\x1da\x0fafter', 'neither the lost nor the dropped bytes were printed');
  assert.equal(readFileSync(emu.out).length, 27 + 3 + 5);
});

test('power-cycle@N on a gcode PTY: queued commands never run, the board says start, line numbers restart (M110 or N1)', async () => {
  const linesOut = join(dir, `power-lines-${Date.now()}.txt`);
  const emu = await ptyEmulator(procs, dir, ['--ok-delay', '300', '--lines-out', linesOut], 'gcode');
  const port = await openSerial(emu.path);
  const answers = replies(port);
  const numbered = (n: number, cmd: string): string => {
    const text = `N${n} ${cmd}`;
    let x = 0;
    for (const ch of text) x ^= ch.charCodeAt(0);
    return `${text}*${x}\n`;
  };
  const program = [numbered(1, 'G1 X1'), numbered(2, 'G1 X2'), numbered(3, 'G1 X3'), numbered(4, 'G1 X4')].join('');
  // Four lines at once (no waiting for ok): the first runs, three wait in the queue.
  port.write(program);
  assert.equal(await answers.until('ok\n'), 'ok\n');
  emu.proc.send('fault power-cycle~400');
  await emu.proc.waitForEvent({ event: 'fault', name: 'power-cycle' });
  await emu.proc.waitForEvent('power-off');
  await emu.proc.waitForEvent('power-on');
  assert.equal(await answers.until('start\n'), 'start\n');
  assert.equal(readFileSync(linesOut, 'utf8'), 'G1 X1\n', 'only the command that ran before the power went');

  port.write(numbered(5, 'G1 X5'));
  assert.match(await answers.until('ok\n'), /Error:Line Number is not Last Line Number\+1, Last Line: 0\nResend: 1\nok\n/);
  port.write(numbered(1, 'G1 X1'));
  assert.equal(await answers.until('ok\n'), 'ok\n');
  await emu.proc.waitForEvent((e) => e['event'] === 'gcode' && e['executed'] === 2);
  assert.equal(readFileSync(linesOut, 'utf8'), 'G1 X1\nG1 X1\n');
});

test('power-cycle on stdin over TCP: MS sets how long it stays off; TSPL forgets its printing state', async () => {
  const emu = await tcpEmulator(procs, dir, ['--print-ms', '60000'], 'tspl');
  const socket = await connect(emu.port);
  socket.on('error', () => {});
  const answers = replies(socket);
  socket.write('PRINT 1\r\n');
  await received(emu.proc, 9);
  socket.write(Uint8Array.of(0x1b, 0x21, 0x3f));
  assert.deepEqual(await answers.take(1), [0x20], 'printing');
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  const start = Date.now();
  emu.proc.send('power-cycle 800');
  await closed;
  await emu.proc.waitForEvent('power-on', { timeout: 5000 });
  assert.ok(Date.now() - start >= 700, `off for ${Date.now() - start} ms`);
  const again = await connect(emu.port);
  const after = replies(again);
  again.write(Uint8Array.of(0x1b, 0x21, 0x3f));
  assert.deepEqual(await after.take(1), [0x00], 'ready, not printing');
});

test('timed faults: stall~MS resumes by itself; stall@N then drop@N+MS cuts the stalled connection; paper-out~MS clears', async () => {
  const stalled = await tcpEmulator(procs, dir, ['--fault', 'stall@1000~300'], 'raw');
  const s1 = await connect(stalled.port);
  s1.write(randomBytes(3000));
  await stalled.proc.waitForEvent({ event: 'stalled', bytes: 1000 });
  await stalled.proc.waitForEvent({ event: 'resumed', bytes: 1000 });
  await received(stalled.proc, 3000);

  const hung = await tcpEmulator(procs, dir, ['--fault', 'stall@1000', '--fault', 'drop@1000+400'], 'raw');
  await hung.proc.waitForEvent({ event: 'armed', name: 'drop', at: 1000 });
  const s2 = await connect(hung.port);
  s2.on('error', () => {});
  const closed = new Promise<number>((r) => s2.once('close', () => r(Date.now())));
  s2.write(randomBytes(3000));
  await hung.proc.waitForEvent({ event: 'stalled', bytes: 1000 });
  const stalledAt = Date.now();
  assert.ok((await closed) - stalledAt >= 300, 'dropped some 400 ms after the stall');
  await hung.proc.waitForEvent({ event: 'fault', name: 'drop', at: 1000 });
  assert.equal(readFileSync(hung.out).length, 1000);

  const paper = await tcpEmulator(procs, dir, ['--fault', 'paper-out@500~300', '--buffer', '1000'], 'escpos');
  const s3 = await connect(paper.port);
  s3.write(plain(2000));
  await paper.proc.waitForEvent({ event: 'condition', name: 'paper-out' });
  await paper.proc.waitForEvent({ event: 'condition', name: 'ok' });
  await paper.proc.waitForEvent({ event: 'printed', bytes: 2000 });
});

test('timed fault specs that make no sense are refused', async () => {
  const cases: [string[], RegExp][] = [
    [['--pty', join(dir, 'never-tty'), '--fault', 'drop@10'], /PTY has no connection/],
    [['--tcp', '127.0.0.1:0', '--fault', 'drop@10~100'], /cannot last/],
    [['--tcp', '127.0.0.1:0', '--dialect', 'gcode', '--fault', 'corrupt@3~100'], /takes no \+MS or ~MS/],
  ];
  for (const [args, message] of cases) {
    const r = await procs.run(['emulate', ...args]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, message);
  }
  const usage = await procs.run(['emulate', '--tcp', '127.0.0.1:0', '--fault', 'power-cycle@10~x']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /NAME\[@N\]\[\+MS\]\[~MS\]/);
  const emu = await tcpEmulator(procs, dir, [], 'raw');
  emu.proc.send('power-cycle soon');
  await emu.proc.waitForEvent((e) => e['event'] === 'error' && /milliseconds/.test(String(e['message'])));
});
