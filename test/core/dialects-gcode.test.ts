import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cancelScriptLines, DEFAULT_CANCEL_SCRIPT, Gcode } from '../../device/core/dialects/gcode.js';
import { numbered } from '../helpers/gcode.js';
import { Bench, bytesFeed, dec, enc } from './dialect-harness.js';

const MAX_RESENDS_IN_TEST = 10;

const line = (n: number, cmd: string): string => `${numbered(n, cmd)}\n`;
/** The answer to a numbered M105: temperatures, no line number. */
const TEMPS = 'ok T:21.0 /0.0 B:21.0 /0.0\n';

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
  b.answer('ok\n'); // M110 N0 answered: the first line goes
  b.d.handle({ type: 'port.state', port: 0, state: 'offline', detail: 'unplugged' });
  assert.equal(b.failure('g8')?.code, 'JOB_INTERRUPTED');
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

// Cancel: after the stream stops, the port's cancel script (default heaters,
// fan and motors off) goes unnumbered, one line per ok, before anything else.

const DEFAULT_STOP = ['M104 S0', 'M140 S0', 'M107', 'M84'];

/** Answers `ok` to each line the dialect writes until it writes nothing more; returns the lines. */
function drain(b: Bench, max = 20): string[] {
  const lines: string[] = [];
  for (let i = 0; i < max; i++) {
    const out = dec(b.fresh());
    if (out === '') break;
    lines.push(...out.split('\n').filter((l) => l !== ''));
    b.answer('ok\n');
  }
  return lines;
}

test('gcode: job.cancel mid-print stops the stream, then sends heaters, fan and motors off after the ok in flight', () => {
  const b = gcode();
  b.start('c1', enc('M104 S210\nM140 S60\nG28\nG1 X10\nG1 X20\nG1 X30\n'));
  b.answer('ok\n');
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), `M110 N0\n${line(1, 'M104 S210')}${line(2, 'M140 S60')}`);
  b.d.server({ t: 'job.cancel', id: 'c1' });
  assert.equal(dec(b.fresh()), '', 'nothing while N2 is in flight');
  b.answer('ok\n');
  assert.deepEqual(drain(b), DEFAULT_STOP);
  assert.ok(!b.done('c1') && b.failure('c1') === undefined, 'a canceled job is not reported by the device');
  b.advance(60_000);
  assert.equal(dec(b.fresh()), '', 'no job line after the cancel, ever');
});

test('gcode: the cancel script goes before a waiting command and before the next job starts', () => {
  const b = gcode();
  b.start('c2', enc('G1 X1\nG1 X2\nG1 X3\n'));
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), `M110 N0\n${line(1, 'G1 X1')}`);
  b.d.server({ t: 'control', ref: 'q1', name: 'printer.command', args: { port: 0, data: 'M114' } });
  b.d.server({ t: 'job.cancel', id: 'c2' });
  b.start('c3', enc('G1 X9\n'), 2);
  b.answer('ok\n');
  assert.deepEqual(drain(b), [...DEFAULT_STOP, 'M110 N0', line(1, 'M114').trim(), line(2, 'G1 X9').trim()]);
  assert.ok(b.done('c3'));
});

test('gcode: a job that is done, or never sent a line, gets no cancel script', () => {
  const b = gcode();
  b.start('c4', enc('G1 X1\n'));
  b.answer('ok\n');
  b.answer('ok\n');
  assert.ok(b.done('c4'));
  assert.equal(dec(b.fresh()), `M110 N0\n${line(1, 'G1 X1')}`);
  b.advance(60_000);
  assert.equal(dec(b.fresh()), '');
  b.start('c5', enc('G1 X1\n'), 2);
  assert.equal(dec(b.fresh()), 'M110 N0\n');
  b.d.server({ t: 'job.cancel', id: 'c5' });
  assert.deepEqual(drain(b), [], 'only M110 N0 went: the printer is not heating for this job');
});

test('gcode: a print failed while the printer listens gets the cancel script; one failed by M112, a reset, a halt or a lost port does not', () => {
  // The stream went wrong but the printer is there: communication stuck.
  const stuck = gcode();
  stuck.start('f1', enc('M104 S210\nG1 X1\n'));
  stuck.answer('ok\n');
  stuck.answer('ok\n');
  stuck.fresh();
  for (let i = 0; i < MAX_RESENDS_IN_TEST; i++) stuck.answer('Resend: 2\nok\n');
  assert.match(stuck.failure('f1')?.message ?? '', /communication stuck/);
  stuck.fresh();
  stuck.answer('ok\n');
  assert.deepEqual(drain(stuck).slice(-4), DEFAULT_STOP);

  const cases: [string, (b: Bench) => void][] = [
    ['M112', (b) => b.d.server({ t: 'control', ref: 'e', name: 'printer.command', args: { port: 0, data: 'M112', emergency: true } })],
    ['a printer reset', (b) => b.answer('start\n')],
    ['a halt', (b) => b.answer('Error:Printer halted. kill() called!\n')],
    ['a lost port', (b) => b.d.handle({ type: 'port.state', port: 0, state: 'offline', detail: 'unplugged' })],
  ];
  for (const [what, fault] of cases) {
    const b = gcode();
    b.start('f2', enc('M104 S210\nG1 X1\nG1 X2\n'));
    b.answer('ok\n');
    b.answer('ok\n');
    b.fresh();
    fault(b);
    assert.ok(b.failure('f2') !== undefined, what);
    if (what === 'a lost port') b.d.handle({ type: 'port.state', port: 0, state: 'online' });
    const after = drain(b).filter((l) => l !== 'M112');
    assert.deepEqual(after.filter((l) => DEFAULT_STOP.includes(l)), [], `${what}: ${after.join(' | ')}`);
  }
});

test('gcode: a print the spool fails (stalled while the server link was down, no resume) gets the cancel script', () => {
  const b = gcode();
  const job = enc('M104 S210\nG1 X2\nG1 X3\n');
  b.d.server({ t: 'job.start', id: 'f3', stream: 1, port: 0, size: job.length });
  b.d.data(1, 0, job.subarray(0, 10));
  b.answer('ok\n');
  b.answer('ok\n');
  b.d.handle({ type: 'ws.closed', code: 1006 });
  b.room(4096);
  b.d.take();
  b.d.advanceUntil((e) => e.type === 'ws.connect');
  b.d.handle({ type: 'ws.open' });
  b.d.server({ t: 'welcome', v: [1, 1], hb: 25_000, time: 0 });
  b.fresh();
  b.start('f3', new Uint8Array(0), 2);
  assert.equal(b.failure('f3')?.code, 'JOB_INTERRUPTED');
  assert.deepEqual(drain(b), DEFAULT_STOP);
});

test('gcode: the cancel script is the port\'s own (PortConfig.cancelScript); [] sends nothing', () => {
  const run = (cancelScript: readonly string[] | undefined): string => {
    const g = new Gcode(0, { cancelScript });
    g.begin(0);
    const feed = bytesFeed(enc('M104 S210\nG1 X1\nG1 X2\n'));
    let out = '';
    for (let i = 0; i < 2; i++) {
      out += dec(g.write(4096, feed, 0) ?? []);
      g.input(enc('ok\n'), 0);
    }
    g.end();
    for (let i = 0; i < 10; i++) {
      const bytes = g.write(4096, undefined, 0);
      if (bytes === undefined) break;
      out += dec(bytes);
      g.input(enc('ok\n'), 0);
    }
    return out;
  };
  assert.equal(run(undefined), `M110 N0\n${line(1, 'M104 S210')}M104 S0\nM140 S0\nM107\nM84\n`);
  assert.equal(run(['M104 T0 S0', 'M104 T1 S0 ; second hotend', '', 'G91', 'G1 Z10 F600', 'G90', 'M84']),
    `M110 N0\n${line(1, 'M104 S210')}M104 T0 S0\nM104 T1 S0\nG91\nG1 Z10 F600\nG90\nM84\n`);
  assert.equal(run([]), `M110 N0\n${line(1, 'M104 S210')}`);
  assert.deepEqual(DEFAULT_CANCEL_SCRIPT, DEFAULT_STOP);
});

test('gcode: cancelScriptLines reads a host setting: lines split on ";" or newlines, blanks dropped, bad lines refused', () => {
  assert.deepEqual(cancelScriptLines('M104 S0;M140 S0; M107 ;\nM84\n'), DEFAULT_STOP);
  assert.deepEqual(cancelScriptLines(' ; '), []);
  assert.throws(() => cancelScriptLines('M117 Ω'), RangeError);
  assert.throws(() => cancelScriptLines(`M117 ${'x'.repeat(300)}`), /at most 256/);
});

/** A job of `count` lines `G1 X<i>`, and its numbered lines as the printer sees them. */
function moves(count: number): { job: Uint8Array; lines: string[] } {
  const lines: string[] = [];
  let job = '';
  for (let i = 1; i <= count; i++) {
    job += `G1 X${i}\n`;
    lines.push(line(i, `G1 X${i}`));
  }
  return { job: enc(job), lines };
}

test('gcode: with ADVANCED_OK as many lines go as the last ok left room for (min of P and B + 1, lines in flight counted), never more', () => {
  const b = gcode();
  const { job, lines } = moves(10);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('a1', job);
  assert.equal(dec(b.fresh()), 'M110 N0\n', 'one line until the printer reports room');
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4), 'B3 counts the slot M110 held until its ok: four lines in flight');
  b.answer('ok N1 P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(5, 5), 'one answered, one more');
  b.answer('ok N2 P15 B1\n');
  assert.equal(dec(b.fresh()), '', 'three in flight, room for two');
  b.answer('ok N3 P15 B1\n');
  assert.equal(dec(b.fresh()), '', 'two in flight, room for two');
  b.answer('ok N4 P3 B3\n');
  assert.equal(dec(b.fresh()), upTo(6, 7), 'P3 is the smaller: three in flight');
  b.answer('ok N5 P1 B3\n');
  assert.equal(dec(b.fresh()), '', 'room for one, two in flight');
  b.answer('ok N6 P0 B3\n');
  assert.equal(dec(b.fresh()), '', 'no room');
  b.answer('ok N7 P0 B3\n');
  assert.equal(dec(b.fresh()), '', 'no room, though nothing is in flight');
  b.advance(999);
  assert.equal(dec(b.fresh()), '');
  b.advance(1);
  assert.equal(dec(b.fresh()), upTo(8, 8), 'a second later, one line');
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), upTo(9, 9), 'an ok without fields: one line');
  b.answer('ok N9 P15 B0\n');
  assert.equal(dec(b.fresh()), upTo(10, 10), 'B0: only the answered line\'s slot, freed with its ok');
  assert.ok(!b.done('a1'));
  b.answer('ok N10 P15 B3\n');
  assert.equal(dec(b.fresh()), '', 'the last line answered before there was room behind it: nothing more');
  assert.ok(b.done('a1'));
});

test('gcode: with ADVANCED_OK the unanswered bytes stay within the printer\'s 127-byte receive buffer', () => {
  const b = gcode();
  const cmd = (i: number): string => `G1 X${i}.00000 Y${i}.00000 Z${i}.00000 E${i}.0000`;
  const lines = [1, 2, 3, 4].map((i) => line(i, cmd(i)));
  assert.ok(lines.every((l) => l.length > 42 && l.length < 64), 'two lines fit in 127 bytes, three do not');
  b.start('a2', enc([1, 2, 3, 4].map(cmd).join('\n')));
  b.fresh();
  b.answer('ok P15 B8\n');
  assert.equal(dec(b.fresh()), lines.slice(0, 2).join(''));
  b.answer('ok N1 P15 B8\n');
  assert.equal(dec(b.fresh()), lines[2]);
  b.answer('ok N2 P15 B8\n');
  b.answer('ok N3 P15 B8\n');
  assert.equal(dec(b.fresh()), lines[3] + line(5, 'M105'));
  b.answer('ok N4 P15 B8\n');
  b.answer(TEMPS);
  assert.ok(b.done('a2'));
});

test('gcode: a resend in the middle of several lines in flight takes them all out of flight and sends each once more, in order; the refusals behind it are echoes', () => {
  const b = gcode();
  const { job, lines } = moves(8);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('a3', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4));
  b.answer('ok N1 P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(5, 5), 'lines 2 to 5 in flight');
  // Line 2 arrived damaged: the printer refuses it, then every line behind it, each asking for 2.
  b.answer('Error:checksum mismatch, Last Line: 1\nResend: 2\nok\n');
  assert.equal(dec(b.fresh()), upTo(2, 5), 'none of 2 to 5 will run: they go again at once, as the last real ok left room');
  for (const n of [3, 4, 5]) {
    b.answer('Error:Line Number is not Last Line Number+1, Last Line: 1\nResend: 2\nok\n');
    assert.equal(dec(b.fresh()), '', `the refusal of the first ${n} is an echo: no second rewind`);
  }
  for (let n = 2; n <= 5; n++) b.answer(`ok N${n} P15 B3\n`);
  assert.equal(dec(b.fresh()), upTo(6, 8) + line(9, 'M105'));
  for (let n = 6; n <= 8; n++) b.answer(`ok N${n} P15 B3\n`);
  b.answer(TEMPS);
  assert.ok(b.done('a3'));
  assert.equal(b.failure('a3'), undefined);
  const all = dec(b.out);
  for (let n = 1; n <= 8; n++) assert.equal(all.split(lines[n - 1] ?? '?').length - 1, n >= 2 && n <= 5 ? 2 : 1, `line ${n}`);
});

/** What Marlin answers a line when the one before it never arrived (the line that did is refused for its number). */
const lineError = (last: number): string => `Error:Line Number is not Last Line Number+1, Last Line: ${last}\nResend: ${last + 1}\nok\n`;

test('gcode: a line lost on the wire is sent again once from that line, with no stall; the refusals of the lines behind it are echoes', () => {
  const b = gcode();
  const { job, lines } = moves(8);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('d1', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4));
  b.answer('ok N1 P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(5, 5), 'lines 2 to 5 in flight');
  // Line 2 never reached the printer: 3 is the next it reads, refused for its number; line 2 answers nothing.
  b.answer(lineError(1));
  assert.equal(dec(b.fresh()), upTo(2, 5), 'the first refusal: 2 to 5 go again at once, in order');
  b.answer(lineError(1) + lineError(1));
  assert.equal(dec(b.fresh()), '', 'the refusals of 4 and 5 ask for the same gap: not acted on');
  for (let n = 2; n <= 5; n++) b.answer(`ok N${n} P15 B3\n`);
  assert.equal(dec(b.fresh()), upTo(6, 8) + line(9, 'M105'), 'the oks of the resent lines release them: the stream goes on');
  for (let n = 6; n <= 8; n++) b.answer(`ok N${n} P15 B3\n`);
  b.answer(TEMPS);
  assert.ok(b.done('d1'), 'done without a timeout');
  const all = dec(b.out);
  assert.ok(!all.split('\n').includes('M105'), 'no tickle: no time limit ran out');
  for (let n = 1; n <= 8; n++) assert.equal(all.split(lines[n - 1] ?? '?').length - 1, n >= 2 && n <= 5 ? 2 : 1, `line ${n}`);
});

test('gcode: a lost last line is asked for by the printer when the numbered M105 behind it arrives', () => {
  const b = gcode();
  const { job, lines } = moves(3);
  b.start('d2', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), lines.join('') + line(4, 'M105'));
  b.answer('ok N1 P15 B3\nok N2 P15 B3\n');
  // Line 3 never arrived; the M105 behind it did.
  b.answer(lineError(2));
  assert.equal(dec(b.fresh()), lines[2] + line(4, 'M105'));
  b.answer('ok N3 P15 B3\n');
  assert.ok(!b.done('d2'));
  b.answer(TEMPS);
  assert.ok(b.done('d2'));
});

test('gcode: fewer echoes than lines behind a gap (Marlin empties its receive buffer on an error) stall nothing; a checksum refusal of a resent line is acted on at once', () => {
  const b = gcode();
  const { job, lines } = moves(6);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('d3', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4));
  b.answer(lineError(0));
  assert.equal(dec(b.fresh()), upTo(1, 4), 'line 1 lost; 3 and 4 were in the buffer the printer emptied: one refusal for all');
  b.answer('Error:checksum mismatch, Last Line: 0\nResend: 1\nok\n');
  assert.equal(dec(b.fresh()), upTo(1, 4), 'the resent line 1 arrived damaged: a new request, though echoes of the gap were due');
  b.answer(lineError(0));
  assert.equal(dec(b.fresh()), '', 'the refusal of the resent 2 is an echo');
  for (let n = 1; n <= 4; n++) b.answer(`ok N${n} P15 B3\n`);
  assert.equal(dec(b.fresh()), upTo(5, 6) + line(7, 'M105'));
  b.answer('ok N5 P15 B3\nok N6 P15 B3\n');
  b.answer(TEMPS);
  assert.ok(b.done('d3'));
  const all = dec(b.out);
  for (let n = 1; n <= 6; n++) assert.equal(all.split(lines[n - 1] ?? '?').length - 1, n <= 4 ? 3 : 1, `line ${n}`);
});

test('gcode: echoes still due when a print is canceled do not carry into the next job, whose line numbers start again', () => {
  const b = gcode();
  const { job, lines } = moves(4);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('e1', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4));
  // Line 1 lost: three refusals of 2 to 4 may follow; the print is canceled before any comes.
  b.answer(lineError(0));
  assert.equal(dec(b.fresh()), upTo(1, 4));
  b.d.server({ t: 'job.cancel', id: 'e1' });
  // The resent lines answered by plain `ok`s, which name no line and so end no echo allowance.
  for (let n = 1; n <= 4; n++) b.answer('ok\n');
  assert.deepEqual(drain(b), DEFAULT_STOP);
  b.start('e2', job);
  assert.equal(dec(b.fresh()), 'M110 N0\n');
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4));
  b.answer(lineError(0));
  assert.equal(dec(b.fresh()), upTo(1, 4), 'line 1 of the new job lost: asked for, and sent again at once');
});

test('gcode: echoes still due when the printer falls silent are not waited for past the line time limit: its next request for that line is acted on', () => {
  const b = gcode();
  const { job, lines } = moves(4);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('e3', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4));
  b.answer(lineError(0));
  assert.equal(dec(b.fresh()), upTo(1, 4), 'line 1 lost: three refusals may follow');
  // None come and nothing else does: the resent lines were lost too.
  b.advance(30_000);
  const tickle = dec(b.fresh());
  assert.match(tickle, /M105/);
  b.answer(lineError(0));
  assert.equal(dec(b.fresh()), upTo(1, 3), 'after the silence the request is new: sent again at once (the tickle holds a place)');
});

test('gcode: a line lost again when resent is asked for once more: one refusal may pass as an echo (a lost line answers nothing, so the count is one high), the next is acted on', () => {
  const b = gcode();
  const { job, lines } = moves(6);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('d5', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  b.answer('ok N1 P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 5), 'lines 2 to 5 in flight');
  b.answer(lineError(1).repeat(3));
  assert.equal(dec(b.fresh()), upTo(2, 5), 'line 2 lost: 3, 4 and 5 refused; 2 to 5 go again once');
  // The resent 2 is lost too: the resent 3 is refused (taken for the last echo of the first gap), then the resent 4.
  b.answer(lineError(1));
  assert.equal(dec(b.fresh()), '');
  b.answer(lineError(1));
  assert.equal(dec(b.fresh()), upTo(2, 5), 'a new request: 2 to 5 again');
  b.answer(lineError(1));
  assert.equal(dec(b.fresh()), '', 'the refusal of the resent 5 is an echo');
  for (let n = 2; n <= 5; n++) b.answer(`ok N${n} P15 B3\n`);
  assert.equal(dec(b.fresh()), upTo(6, 6) + line(7, 'M105'));
  b.answer('ok N6 P15 B3\n' + TEMPS);
  assert.ok(b.done('d5'));
  assert.ok(!dec(b.out).split('\n').includes('M105'), 'no tickle');
});

test('gcode: a printer command refused with the lines of a gap goes again and answers once, with what the printer said to it', () => {
  const b = gcode();
  const { job, lines } = moves(2);
  b.start('d4', job);
  b.d.server({ t: 'control', ref: 'c1', name: 'printer.command', args: { port: 0, data: 'M114' } });
  assert.equal(dec(b.fresh()), 'M110 N0\n');
  b.answer('ok P15 B3\n');
  const m114 = line(1, 'M114');
  const job2 = line(2, 'G1 X1') + line(3, 'G1 X2');
  assert.equal(lines[0], line(1, 'G1 X1'));
  const fence = line(4, 'M105');
  assert.equal(dec(b.fresh()), m114 + job2 + fence, 'the command goes first, numbered');
  b.answer(lineError(0));
  assert.equal(dec(b.fresh()), m114 + job2 + fence);
  assert.equal(b.news().filter((m) => m.t === 'control.result').length, 0, 'no result for a refused command');
  b.answer('X:10.00 Y:0.00 Z:0.00\nok N1 P15 B3\n');
  const results = b.news().filter((m) => m.t === 'control.result' && m.ref === 'c1');
  assert.equal(results.length, 1);
  const r = results[0];
  assert.ok(r?.t === 'control.result' && r.ok);
  assert.deepEqual(r.data, { lines: ['X:10.00 Y:0.00 Z:0.00', 'ok N1 P15 B3'] });
});

test('gcode: a printer without ADVANCED_OK gets one line at a time; malformed ok fields mean one line', () => {
  const b = gcode();
  const { job, lines } = moves(9);
  b.start('a4', job);
  b.fresh();
  const oks = ['ok\n', 'ok N1\n', 'ok N2 B4\n', 'ok N3 P15\n', 'ok N4 P15 B4x\n', 'ok N5 P-1 B4\n', 'ok N6 P15 B4 B9\n', 'ok T:20.0 /0.0 B:20.0 /0.0\n', 'ok N8 P1.5 B4\n'];
  for (const [i, ok] of oks.entries()) {
    b.answer(ok);
    assert.equal(dec(b.fresh()), lines[i], `after ${JSON.stringify(ok)}: line ${i + 1} alone`);
  }
  b.answer('ok N9 P15 B4\n');
  assert.ok(b.done('a4'));
});

test('gcode: after a stall with several in flight, the lines stay counted and the printer\'s next ok N<k> resynchronises: up to k answered, the rest still in flight', () => {
  const b = gcode();
  const { job, lines } = moves(8);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('s1', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4), 'four in flight');
  b.advance(30_000);
  assert.equal(dec(b.fresh()), 'M105\n', 'a tickle, nothing else');
  // The printer was slow, not deaf: line 1 ran, 2 to 4 wait in its queue, the tickle behind them.
  b.answer('ok N1 P14 B0\n');
  assert.equal(dec(b.fresh()), '', 'lines 2 to 4 and the tickle are still in the printer: no room');
  b.answer('ok N2 P15 B0\n');
  assert.equal(dec(b.fresh()), '');
  b.answer('ok N3 P15 B1\n');
  assert.equal(dec(b.fresh()), '', 'line 4 and the tickle fill the two slots');
  b.answer('ok N4 P16 B2\n');
  assert.equal(dec(b.fresh()), upTo(5, 6), 'only the tickle left: two more make three');
  b.answer(TEMPS);
  assert.equal(dec(b.fresh()), '', 'the tickle answered; lines 5 and 6 in flight, room for one');
  b.answer('ok N5 P15 B2\n');
  assert.equal(dec(b.fresh()), upTo(7, 8));
  b.answer('ok N6 P15 B3\n');
  assert.equal(dec(b.fresh()), line(9, 'M105'));
  b.answer('ok N7 P15 B3\nok N8 P15 B3\n');
  b.answer(TEMPS);
  assert.ok(b.done('s1'));
  const all = dec(b.out);
  for (let n = 1; n <= 8; n++) assert.equal(all.split(lines[n - 1] ?? '?').length - 1, 1, `line ${n} once`);
});

test('gcode: after a stall the tickle\'s ok releases lines the printer lost; it asks for them by number and each goes once more, in order', () => {
  const b = gcode();
  const { job, lines } = moves(5);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('s2', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4));
  b.advance(30_000);
  assert.equal(dec(b.fresh()), 'M105\n');
  // Lines 1 to 4 never arrived: the tickle is all the printer answers.
  b.answer(TEMPS);
  assert.equal(dec(b.fresh()), upTo(5, 5), 'nothing is in the printer: one line (no room reported)');
  b.answer(lineError(0));
  assert.equal(dec(b.fresh()), upTo(1, 1), 'from line 1, as far as the last ok left room (one line)');
  b.answer('ok N1 P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(2, 5));
  b.answer('ok N2 P15 B3\n');
  assert.equal(dec(b.fresh()), line(6, 'M105'));
  for (let n = 3; n <= 5; n++) b.answer(`ok N${n} P15 B3\n`);
  assert.ok(!b.done('s2'));
  b.answer(TEMPS);
  assert.ok(b.done('s2'));
  const all = dec(b.out);
  for (let n = 1; n <= 4; n++) assert.equal(all.split(lines[n - 1] ?? '?').length - 1, 2, `line ${n} twice: lost once`);
  assert.equal(all.split(lines[4] ?? '?').length - 1, 2, 'line 5 twice: refused once');
});

test('gcode: a resend while resynchronising after a stall goes from the line asked for, each line once more, the refusals behind it not acted on', () => {
  const b = gcode();
  const { job, lines } = moves(6);
  const upTo = (from: number, to: number): string => lines.slice(from - 1, to).join('');
  b.start('s3', job);
  b.fresh();
  b.answer('ok P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(1, 4));
  b.advance(30_000);
  assert.equal(dec(b.fresh()), 'M105\n');
  b.answer('ok N1 P15 B3\n');
  assert.equal(dec(b.fresh()), '', 'lines 2 to 4 and the tickle still in flight');
  b.answer('Error:checksum mismatch, Last Line: 1\nResend: 2\nok\n');
  assert.equal(dec(b.fresh()), upTo(2, 4), 'lines 2 to 4 are out of the printer: they go again, the tickle still in flight');
  for (const n of [3, 4]) {
    b.answer(lineError(1));
    assert.equal(dec(b.fresh()), '', `the refusal of the first ${n} is an echo`);
  }
  b.answer(TEMPS);
  assert.equal(dec(b.fresh()), '', 'the tickle answered: 2 to 4 in flight, no room reported');
  b.answer('ok N2 P15 B3\n');
  assert.equal(dec(b.fresh()), upTo(5, 6));
  b.answer('ok N3 P15 B3\n');
  assert.equal(dec(b.fresh()), line(7, 'M105'));
  for (const n of [4, 5, 6]) b.answer(`ok N${n} P15 B3\n`);
  b.answer(TEMPS);
  assert.ok(b.done('s3'));
  assert.equal(b.failure('s3'), undefined);
  const all = dec(b.out);
  for (let n = 1; n <= 6; n++) assert.equal(all.split(lines[n - 1] ?? '?').length - 1, n >= 2 && n <= 4 ? 2 : 1, `line ${n}`);
});

test('gcode: a last line released by the tickle after a stall is not done on faith: a numbered M105 must be taken after it', () => {
  for (const lost of [false, true]) {
    const b = gcode();
    const { job, lines } = moves(2);
    b.start('s4', job);
    b.fresh();
    b.answer('ok P15 B3\n');
    assert.equal(dec(b.fresh()), lines.join('') + line(3, 'M105'));
    b.advance(30_000);
    assert.equal(dec(b.fresh()), 'M105\n');
    b.answer('ok N1 P15 B3\n');
    // The oks of line 2 and of the M105 behind it never come: they were lost (or their oks were).
    b.answer(TEMPS);
    assert.ok(!b.done('s4'), 'lines 2 and 3 are unconfirmed');
    assert.equal(dec(b.fresh()), line(4, 'M105'), 'a numbered line asks the printer where it is');
    if (lost) {
      b.answer(lineError(1));
      assert.equal(dec(b.fresh()), lines[1], 'from line 2, as far as the tickle\'s ok left room (one line)');
      b.answer('ok N2 P15 B3\n');
      assert.equal(dec(b.fresh()), line(3, 'M105') + line(4, 'M105'));
      b.answer(TEMPS);
      assert.ok(!b.done('s4'));
    }
    b.answer(TEMPS);
    assert.ok(b.done('s4'), `done once line 4 was taken (line 2 ${lost ? 'resent' : 'ran'})`);
  }
});

test('gcode: a printer without ADVANCED_OK still gets one line after a stall once the tickle is answered', () => {
  const b = gcode();
  const { job, lines } = moves(3);
  b.start('s5', job);
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), `M110 N0\n${lines[0]}`);
  b.advance(30_000);
  assert.equal(dec(b.fresh()), 'M105\n');
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), lines[1], 'a plain ok names no line: it answers the tickle, line 1 is released with it');
  b.answer('ok\n');
  assert.equal(dec(b.fresh()), lines[2]);
  b.answer('ok\n');
  assert.ok(b.done('s5'), 'line 3 taken after line 1: line 1 confirmed');
});
