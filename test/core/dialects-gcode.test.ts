import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Bench, dec, enc } from './dialect-harness.js';

function line(n: number, cmd: string): string {
  const body = `N${n} ${cmd}`;
  let x = 0;
  for (const c of body) x ^= c.charCodeAt(0);
  return `${body}*${x}\n`;
}

function gcode(poll = 0): Bench {
  const b = new Bench('gcode', { poll });
  b.fresh();
  return b;
}

test('gcode: M110 N0, then numbered lines with XOR checksums, one in flight, comments and blanks stripped', () => {
  const b = gcode();
  b.start('g1', enc('; a comment\nG28 ; home\n\nG1 X10 Y10\r\nM104 S200'));
  assert.equal(dec(b.fresh()), 'M110 N0\n');
  b.room(4096);
  assert.equal(dec(b.fresh()), '', 'nothing more until ok');
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), line(1, 'G28'));
  assert.equal(line(1, 'G28'), 'N1 G28*18\n');
  b.answer('echo:busy: processing\nok\n');
  assert.equal(dec(b.fresh()), line(2, 'G1 X10 Y10'));
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), line(3, 'M104 S200'), 'the last line needs no newline');
  assert.ok(!b.done('g1'), 'not done before the last ok');
  b.answer('ok T:25.0 /200.0 B:24.1 /0.0 @:0 B@:0\n');
  assert.ok(b.done('g1'));
  assert.deepEqual(b.d.core.snapshot().ports[0]?.temps, [
    { name: 'T', current: 25, target: 200 }, { name: 'B', current: 24.1, target: 0 },
  ]);
});

test('gcode: Resend: N sends the line again from the ring; ten in a row fail "communication stuck"', () => {
  const b = gcode();
  b.start('g2', enc('G1 X1\nG1 X2\nG1 X3\n'));
  b.answer('ok\n');
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), `M110 N0\n${line(1, 'G1 X1')}${line(2, 'G1 X2')}`);
  b.answer('Error:checksum mismatch, Last Line: 1\nResend: 2\nok\n');
  assert.equal(dec(b.fresh()), line(2, 'G1 X2'));
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), line(3, 'G1 X3'));
  for (let i = 0; i < 9; i++) {
    b.answer('Resend: 3\nok\n');
    assert.equal(dec(b.fresh()), line(3, 'G1 X3'));
  }
  assert.equal(b.failure('g2'), undefined);
  b.answer('Resend: 3\nok\n');
  assert.match(b.failure('g2')?.message ?? '', /communication stuck/);
});

test('gcode: a silent printer gets an M105 tickle every 30 s; five in a row fail the job and mark it offline', () => {
  const b = gcode();
  b.start('g3', enc('G1 X1\nG1 X2\n'));
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), `M110 N0\n${line(1, 'G1 X1')}`);
  b.advance(29_999);
  assert.equal(dec(b.fresh()), '');
  b.advance(1);
  assert.equal(dec(b.fresh()), 'M105\n');
  // The tickle's ok releases the stream; a line the printer lost would come back as Resend.
  b.answer('ok T:200.0 /200.0\n');
  assert.equal(dec(b.fresh()), line(2, 'G1 X2'));
  for (let i = 0; i < 4; i++) b.advance(30_000);
  assert.equal(b.failure('g3'), undefined);
  b.advance(30_000);
  const f = b.failure('g3');
  assert.equal(f?.code, 'PRINTER_UNREACHABLE');
  assert.equal(b.state(), 'offline');
});

test('gcode: long commands (G28) wait longer; any printer line keeps the line alive', () => {
  const b = gcode();
  b.start('g4', enc('G28\nG1 X1\n'));
  b.answer('ok\n');
  b.fresh();
  b.advance(60_000);
  assert.equal(dec(b.fresh()), '', 'no tickle while homing');
  for (let i = 0; i < 30; i++) {
    b.advance(25_000);
    b.answer('echo:busy: processing\n');
  }
  assert.equal(dec(b.fresh()), '');
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), line(2, 'G1 X1'));
});

test('gcode: emergency commands jump the queue; M112 fails the job; other commands answer with their lines', () => {
  const b = gcode();
  b.start('g5', enc('G1 X1\nG1 X2\n'));
  b.answer('ok\n');
  b.fresh();
  b.d.server({ t: 'control', ref: 'c1', name: 'printer.command', args: { port: 0, data: 'M105', emergency: true } });
  const bad = b.news().find((m) => m.t === 'control.result' && m.ref === 'c1');
  assert.ok(bad?.t === 'control.result' && bad.code === 'BAD_FIELD', 'only M112/M108/M410 may jump');
  b.d.server({ t: 'control', ref: 'c2', name: 'printer.command', args: { port: 0, data: 'M114' } });
  b.d.server({ t: 'control', ref: 'c3', name: 'printer.command', args: { port: 0, data: 'M108', emergency: true } });
  assert.equal(dec(b.fresh()), 'M108\n', 'written while N1 is still in flight');
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), line(2, 'M114'), 'a plain command goes between job lines');
  b.answer('X:10.00 Y:0.00 Z:0.00\nok\n');
  const r = b.news().find((m) => m.t === 'control.result' && m.ref === 'c2');
  assert.ok(r?.t === 'control.result' && r.ok);
  assert.deepEqual(r.data, { lines: ['X:10.00 Y:0.00 Z:0.00', 'ok'] });
  b.fresh();
  b.d.server({ t: 'control', ref: 'c4', name: 'printer.command', args: { port: 0, data: 'M112', emergency: true } });
  assert.ok(dec(b.fresh()).startsWith('M112\n'));
  assert.match(b.failure('g5')?.message ?? '', /emergency stop/);
});

test('gcode: idle M105 polls report temperatures; a printer that restarts or halts mid-print fails the job', () => {
  const b = new Bench('gcode', { poll: 2000 });
  assert.equal(dec(b.fresh()), 'M105\n');
  b.answer('ok T:21.5 /0.0 B:22.0 /0.0\n');
  b.advance(2000);
  assert.equal(dec(b.fresh()), 'M105\n');
  assert.deepEqual(b.status().temps?.map((t) => t.name), ['T', 'B']);
  b.answer('ok T:21.5 /0.0 B:22.0 /0.0\n');
  b.start('g6', enc('G1 X1\nG1 X2\n'));
  b.answer('ok\n');
  b.answer('start\n');
  assert.match(b.failure('g6')?.message ?? '', /restarted/);
  b.start('g7', enc('G1 X1\nG1 X2\n'), 2);
  b.answer('ok\n');
  b.answer('Error:Printer halted. kill() called!\n');
  assert.equal(b.failure('g7')?.code, 'PRINTER_ERROR');
  assert.equal(b.state(), 'error');
});

test('gcode: losing the printer port mid-print fails the job; it is never resumed', () => {
  const b = gcode();
  b.start('g8', enc('G1 X1\nG1 X2\n'));
  b.d.handle({ type: 'port.state', port: 0, state: 'offline', detail: 'unplugged' });
  assert.equal(b.failure('g8')?.code, 'PRINTER_UNREACHABLE');
});

test('gcode: a print that starved while the server link was down is continued only with resume:true', () => {
  for (const resume of [false, true]) {
    const b = gcode();
    const job = enc('G1 X1\nG1 X2\nG1 X3\n');
    b.d.server({ t: 'job.start', id: 'g9', stream: 1, port: 0, size: job.length });
    b.d.data(1, 0, job.subarray(0, 6));
    b.answer('ok\n');
    b.answer('ok\n');
    b.d.handle({ type: 'ws.closed', code: 1006 });
    b.room(4096); // the printer has everything we hold; the stream runs dry
    b.d.take();
    b.d.advanceUntil((e) => e.type === 'ws.connect');
    b.d.handle({ type: 'ws.open' });
    b.d.server({ t: 'welcome', v: [1, 1], hb: 25_000, time: 0 });
    b.news();
    b.start('g9', new Uint8Array(0), 2, { resume });
    const msgs = b.news();
    const fail = msgs.find((m) => m.t === 'job.fail');
    if (!resume) {
      assert.ok(fail?.t === 'job.fail' && fail.code === 'JOB_INTERRUPTED');
    } else {
      assert.equal(fail, undefined);
      const acc = msgs.find((m) => m.t === 'job.accept');
      assert.ok(acc?.t === 'job.accept' && acc.received === 6);
    }
  }
});
