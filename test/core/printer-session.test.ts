// Printer sessions (spooler.ts, docs/printers.md): a job is done only on
// proof from the printer session that took all of its bytes. For every
// dialect: a session lost before the proof fails the job JOB_INTERRUPTED,
// after telling the server how many bytes reached the port; the answer of an
// idle printer on the next session never confirms it; a kept session ends
// done as before; the job after it starts cleanly on the new session; a job
// of which no byte went yet just starts over. On a serial line a printer
// that went silent past the status timeout and answers again is a new
// session; on a network connection it is the same one.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeviceMessage } from '../../protocol/device-messages.js';
import { Bench, dec, enc } from './dialect-harness.js';

type Fail = Extract<DeviceMessage, { t: 'job.fail' }>;

const hs = (paper = 0): string =>
  `\x02030,${paper},0,1245,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n`;
const hqes = (errors: string): string =>
  `\x02\r\nPRINTER STATUS\r\n   ERRORS:         1 00000000 ${errors}\r\n   WARNINGS:       0 00000000 00000000\r\n\x03\r\n`;

interface ByteCase {
  readonly dialect: 'escpos' | 'tspl' | 'zpl';
  /** Its status queries, to tell them from job bytes in what the port got. */
  readonly queries: readonly string[];
  /** An idle printer's answer: ready, nothing pending. */
  readonly ready: string;
  readonly job: Uint8Array;
  readonly next: Uint8Array;
}

const label = (text: string): string => `^XA^FO50,50^A0N,50,50^FD${text}^FS^XZ`;
const tsplLabel = (text: string): string => `SIZE 40 mm,30 mm\r\nCLS\r\nTEXT 10,10,"3",0,1,1,"${text}"\r\nPRINT 1\r\n`;

const BYTE_CASES: readonly ByteCase[] = [
  {
    dialect: 'escpos', queries: ['\x10\x04\x01\x10\x04\x02\x10\x04\x03\x10\x04\x04'], ready: '\x12\x12\x12\x12',
    job: enc('Receipt line\n'.repeat(40)), next: enc('Next receipt\n'.repeat(3)),
  },
  { dialect: 'tspl', queries: ['\x1b!?'], ready: '\x00', job: enc(tsplLabel('one') + tsplLabel('two')), next: enc(tsplLabel('next')) },
  { dialect: 'zpl', queries: ['~HQES', '~HS'], ready: hs(), job: enc(label('one') + label('two')), next: enc(label('next')) },
];

/** A port of the dialect whose printer answered its first poll: idle, ready. */
function bench(c: ByteCase, opts: { transport?: 'serial' | 'network'; room?: number } = {}): Bench {
  const b = new Bench(c.dialect, { room: 0, ...(opts.transport === undefined ? {} : { transport: opts.transport }) });
  b.room(4096);
  b.answer(c.ready);
  b.room(opts.room ?? 4096);
  b.fresh();
  return b;
}

/** The job bytes in what the port got: status queries taken out. */
function jobBytes(c: ByteCase, out: Uint8Array): string {
  let s = dec(out);
  for (const q of c.queries) s = s.split(q).join('');
  return s;
}

/** A second of time, room on the port, and `answer` from the printer; until `id` is done or `rounds` went by. */
function poll(b: Bench, answer: string | undefined, id: string, rounds = 6): void {
  for (let i = 0; i < rounds && !b.done(id); i++) {
    b.advance(1000);
    b.room(4096);
    if (answer !== undefined) b.answer(answer);
  }
}

/** The job's failure, which must be JOB_INTERRUPTED, and the last `written` the server heard before it. */
function interrupted(b: Bench, id: string): { fail: Fail; written: number } {
  const at = b.msgs.findIndex((m) => m.t === 'job.fail' && m.id === id);
  const fail = b.msgs[at];
  assert.ok(fail?.t === 'job.fail', `job ${id} failed: ${JSON.stringify(b.msgs.slice(-5))}`);
  assert.equal(fail.code, 'JOB_INTERRUPTED', fail.message);
  const acks = b.msgs.slice(0, at).flatMap((m) => (m.t === 'job.ack' && m.id === id ? [m.written] : []));
  return { fail, written: acks.at(-1) ?? 0 };
}

function portDown(b: Bench, detail = 'ECONNRESET'): void {
  b.d.handle({ type: 'port.state', port: 0, state: 'offline', detail });
  b.collect();
}

function portUp(b: Bench): void {
  b.d.handle({ type: 'port.state', port: 0, state: 'online' });
  b.room(4096);
}

for (const c of BYTE_CASES) {
  test(`${c.dialect}: the session kept, the job is done on a status after its last byte, as before`, () => {
    const b = bench(c);
    b.start('k1', c.job);
    assert.ok(!b.done('k1'), 'not done on the bytes alone');
    poll(b, c.ready, 'k1');
    assert.ok(b.done('k1'));
    assert.equal(b.failure('k1'), undefined);
    assert.equal(jobBytes(c, b.out), dec(c.job));
  });

  test(`${c.dialect}: the port lost after every byte went, before the proof: JOB_INTERRUPTED; the idle printer of the next session confirms nothing`, () => {
    const b = bench(c);
    b.start('s1', c.job);
    assert.ok(b.has((m) => m.t === 'job.ack' && m.id === 's1' && m.written === c.job.length), 'every byte reached the port');
    portDown(b);
    const { fail, written } = interrupted(b, 's1');
    assert.equal(written, c.job.length);
    assert.match(fail.message, new RegExp(`went offline \\(ECONNRESET\\) after all ${c.job.length} bytes`));
    portUp(b);
    b.fresh();
    poll(b, c.ready, 's1');
    assert.ok(!b.done('s1'), 'an answer on the new session never confirms the old job');
    assert.equal(jobBytes(c, b.fresh()), '', 'nothing of it is sent again');
    assert.equal(b.msgs.filter((m) => (m.t === 'job.done' || m.t === 'job.fail') && m.id === 's1').length, 1, 'one outcome');

    // The job queued behind it starts on the new session and is proven there.
    b.start('s2', c.next, 2);
    poll(b, c.ready, 's2');
    assert.ok(b.done('s2'));
    assert.equal(jobBytes(c, b.fresh()), dec(c.next));
  });

  test(`${c.dialect}: the port lost mid-job: JOB_INTERRUPTED with the bytes that reached it, the rest never sent`, () => {
    const b = bench(c, { room: 0 });
    b.start('m1', c.job);
    b.room(40);
    const sent = jobBytes(c, b.out).length;
    assert.ok(sent > 0 && sent < c.job.length, `part of the job went (${sent})`);
    portDown(b, 'closed by the printer');
    const { fail, written } = interrupted(b, 'm1');
    assert.equal(written, sent, 'the server hears how many bytes reached the port');
    assert.match(fail.message, new RegExp(`after ${sent} of ${c.job.length} bytes`));
    portUp(b);
    b.fresh();
    poll(b, c.ready, 'm1');
    assert.equal(jobBytes(c, b.fresh()), '', 'the rest is not sent on the new session');
    b.start('m2', c.next, 2);
    poll(b, c.ready, 'm2');
    assert.ok(b.done('m2'));
    assert.equal(jobBytes(c, b.fresh()), dec(c.next));
  });

  test(`${c.dialect}: the port lost before the job's first byte: the job starts on the next session and is done there`, () => {
    const b = bench(c, { room: 0 });
    b.start('w1', c.job);
    assert.equal(b.fresh().length, 0);
    portDown(b);
    assert.equal(b.failure('w1'), undefined);
    b.d.handle({ type: 'port.writable', port: 0, room: 4096 }); // a late figure for the closed port
    assert.equal(b.fresh().length, 0, 'nothing goes to a closed port');
    portUp(b);
    poll(b, c.ready, 'w1');
    assert.ok(b.done('w1'));
    assert.equal(jobBytes(c, b.out), dec(c.job), 'the whole job, once');
  });

  test(`${c.dialect}: on a serial line, a printer silent past the status timeout that answers again is a new session: JOB_INTERRUPTED`, () => {
    const b = bench(c);
    b.start('q1', c.job);
    poll(b, undefined, 'q1', 8); // power off: nothing answers the polls
    assert.ok(['offline', 'error'].includes(b.state()), b.state());
    assert.equal(b.failure('q1'), undefined, 'silence alone fails nothing');
    b.answer(c.ready); // back on, idle
    const { fail, written } = interrupted(b, 'q1');
    assert.equal(written, c.job.length);
    assert.match(fail.message, /silent past the status timeout/);
    poll(b, c.ready, 'q1');
    assert.ok(!b.done('q1'));
    b.start('q2', c.next, 2);
    poll(b, c.ready, 'q2');
    assert.ok(b.done('q2'), 'the next job prints on the new session');
  });

  test(`${c.dialect}: on a network connection the same silence keeps the session (the connection would have broken): done`, () => {
    const b = bench(c, { transport: 'network' });
    b.start('n1', c.job);
    poll(b, undefined, 'n1', 8);
    b.answer(c.ready);
    poll(b, c.ready, 'n1');
    assert.equal(b.failure('n1'), undefined);
    assert.ok(b.done('n1'));
  });
}

test('escpos: a serial printer back from silence before a job\'s first byte just prints the job', () => {
  const c = BYTE_CASES[0]!;
  const b = bench(c);
  poll(b, undefined, 'none', 8);
  assert.equal(b.state(), 'offline');
  b.start('e1', c.job);
  assert.equal(jobBytes(c, b.out), '', 'no job data to a printer reported offline');
  b.answer(c.ready);
  poll(b, c.ready, 'e1');
  assert.ok(b.done('e1'));
  assert.equal(jobBytes(c, b.out), dec(c.job));
});

test('zpl: ~HS ignored in media out but ~HQES answered is the same session: the job waits and is then done', () => {
  const c = BYTE_CASES[2]!;
  const b = bench(c);
  b.start('z1', c.job);
  b.answer(hs()); // the poll before the first byte
  b.advance(1000);
  b.room(4096);
  assert.ok(dec(b.fresh()).endsWith('~HS'));
  b.advance(2100);
  b.room(4096);
  assert.ok(dec(b.fresh()).endsWith('~HQES'));
  b.answer(hqes('00000001'));
  assert.equal(b.state(), 'paper-out');
  poll(b, hs(), 'z1');
  assert.equal(b.failure('z1'), undefined);
  assert.ok(b.done('z1'));
});

// --- raw: done when the last byte went to the port ----------------------------

test('raw: the port lost mid-job fails it JOB_INTERRUPTED with the bytes written; the rest never goes; the next job prints whole', () => {
  const b = new Bench('raw', { room: 0 });
  const job = enc('x'.repeat(1000));
  b.start('r1', job);
  b.room(300);
  assert.equal(b.out.length, 300);
  portDown(b);
  const { fail, written } = interrupted(b, 'r1');
  assert.equal(written, 300);
  assert.match(fail.message, /after 300 of 1000 bytes/);
  portUp(b);
  assert.equal(b.out.length, 300, 'nothing of it after the port came back');
  const next = enc('next job\n');
  b.start('r2', next, 2);
  assert.ok(b.done('r2'));
  assert.equal(dec(b.out.subarray(300)), dec(next));
});

test('raw: done when every byte went to the port on one session; a later port loss does not undo it', () => {
  const b = new Bench('raw');
  b.start('r3', enc('hello\n'));
  assert.ok(b.done('r3'));
  portDown(b);
  portUp(b);
  assert.equal(b.failure('r3'), undefined);
  assert.equal(b.msgs.filter((m) => m.t === 'job.done' && m.id === 'r3').length, 1);
});

test('raw: a job offered while the port is closed waits, and prints whole on the next session', () => {
  const b = new Bench('raw');
  portDown(b, 'ECONNREFUSED');
  b.start('r4', enc('waiting\n'));
  b.room(4096); // a stale figure: the port is closed
  assert.equal(b.out.length, 0);
  assert.deepEqual(b.jobStates('r4'), ['paused']);
  portUp(b);
  assert.ok(b.done('r4'));
  assert.equal(dec(b.out), 'waiting\n');
});

// --- gcode: done on the last ok -------------------------------------------------

function gcodeBench(): Bench {
  const b = new Bench('gcode', { poll: 0 });
  b.fresh();
  return b;
}

const PRINT = enc('G28\nG1 X10\nG1 X20\nG1 X30\n');

test('gcode: the port lost mid-print: JOB_INTERRUPTED with the lines written; the printer back after a reset confirms nothing', () => {
  const b = gcodeBench();
  b.start('g1', PRINT);
  b.answer('ok\n'); // M110 N0
  b.answer('ok\n'); // G28
  assert.ok(dec(b.out).includes('G1 X10'));
  portDown(b, 'unplugged');
  const { fail, written } = interrupted(b, 'g1');
  assert.equal(written, 'G28\nG1 X10\n'.length);
  assert.match(fail.message, new RegExp(`after ${written} of ${PRINT.length} bytes`));
  portUp(b);
  b.fresh();
  b.answer('start\nok\n');
  b.advance(60_000);
  assert.ok(!b.done('g1'));
  assert.ok(!dec(b.fresh()).includes('X20'), 'the rest of the print never goes');

  b.start('g2', enc('G1 X1\n'), 2);
  b.answer('ok\n');
  b.answer('ok\n');
  assert.ok(b.done('g2'));
  assert.equal(dec(b.fresh()), 'M110 N0\nN1 G1 X1*' + checksum('N1 G1 X1') + '\n');
});

test('gcode: the port lost before a job line went: the job starts over on the next session with M110 N0', () => {
  const b = gcodeBench();
  b.start('g3', enc('G1 X1\n'));
  assert.equal(dec(b.fresh()), 'M110 N0\n');
  portDown(b);
  assert.equal(b.failure('g3'), undefined);
  portUp(b);
  assert.equal(dec(b.fresh()), 'M110 N0\n');
  b.answer('ok\n');
  b.answer('ok\n');
  assert.ok(b.done('g3'));
});

test('gcode: the session kept, done on the ok of the last line, as before', () => {
  const b = gcodeBench();
  b.start('g4', enc('G1 X1\nG1 X2\n'));
  b.answer('ok\n');
  b.answer('ok\n');
  assert.ok(!b.done('g4'));
  b.answer('ok\n');
  assert.ok(b.done('g4'));
});

function checksum(s: string): number {
  let x = 0;
  for (let i = 0; i < s.length; i++) x ^= s.charCodeAt(i);
  return x;
}
