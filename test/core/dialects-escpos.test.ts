import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Bench, count, enc } from './dialect-harness.js';

const QUERY = Uint8Array.of(0x10, 4, 1, 0x10, 4, 2, 0x10, 4, 3, 0x10, 4, 4);
const OK = Uint8Array.of(0x12, 0x12, 0x12, 0x12);
const PAPER_OUT = Uint8Array.of(0x1a, 0x32, 0x12, 0x7e);
const COVER = Uint8Array.of(0x1a, 0x16, 0x12, 0x12);
const CUTTER = Uint8Array.of(0x1a, 0x52, 0x1a, 0x12);
const LOW = Uint8Array.of(0x12, 0x12, 0x12, 0x1e);

test('escpos: DLE EOT 1..4 polls and every status maps', () => {
  const b = new Bench('escpos');
  assert.deepEqual(b.fresh(), QUERY, 'the first poll goes as soon as the port takes bytes');
  const cases: [Uint8Array, string, string | undefined][] = [
    [OK, 'online', undefined], [PAPER_OUT, 'paper-out', undefined], [COVER, 'cover-open', undefined],
    [CUTTER, 'error', 'autocutter error'], [LOW, 'paper-low', undefined],
    [Uint8Array.of(0x1a, 0x12, 0x12, 0x12), 'offline', 'printer reports offline'],
    [Uint8Array.of(0x1a, 0x1a, 0x12, 0x12), 'offline', 'paper feed button'],
  ];
  for (const [answer, state, detail] of cases) {
    b.answer(answer);
    assert.equal(b.status().state, state, `answer ${Array.from(answer)}`);
    assert.equal(b.status().detail, detail);
    b.advance(5000);
    assert.deepEqual(b.fresh(), QUERY, 'polls every 5 s');
  }
});

test('escpos: silence, a cut-short answer and junk become offline / unknown with a reason', () => {
  const b = new Bench('escpos');
  b.answer(OK);
  b.advance(5000);
  b.advance(2000);
  assert.equal(b.status().state, 'offline');
  assert.match(b.status().detail ?? '', /no answer/);
  b.advance(5000);
  b.answer(Uint8Array.of(0x12, 0x12));
  b.advance(2000);
  assert.deepEqual([b.status().state, b.status().detail], ['unknown', 'status answer cut short']);
  b.advance(5000);
  b.answer(Uint8Array.of(0xff, 0x00, 0x41));
  b.advance(2000);
  assert.deepEqual([b.status().state, b.status().detail], ['unknown', 'unreadable status answer']);
  b.advance(5000);
  b.answer(OK);
  assert.equal(b.status().state, 'online');
});

test('escpos: Automatic Status Back blocks are read whenever they come, between poll answers too', () => {
  const b = new Bench('escpos');
  b.answer(OK);
  // ASB: offline + cover open in byte 1, nothing in 2, paper end in byte 3.
  b.answer(Uint8Array.of(0x38, 0x00, 0x00, 0x00));
  assert.equal(b.status().state, 'cover-open');
  b.answer(Uint8Array.of(0x18, 0x00, 0x0c, 0x00));
  assert.equal(b.status().state, 'paper-out');
  b.advance(5000);
  // A poll answer with an ASB block in the middle of it.
  b.answer(Uint8Array.of(0x12, 0x12, 0x10, 0x00, 0x00, 0x00, 0x12, 0x12));
  assert.equal(b.status().state, 'online');
});

/** Walks the port output against the job; returns the job offsets at which a query was inserted. */
function queryOffsets(out: Uint8Array, job: Uint8Array): number[] {
  const at: number[] = [];
  let j = 0;
  for (let i = 0; i < out.length;) {
    if (j < job.length && out[i] === job[j]) {
      i++;
      j++;
      continue;
    }
    assert.deepEqual(out.subarray(i, i + QUERY.length), QUERY, `unexpected byte at output ${i}, job ${j}`);
    at.push(j);
    i += QUERY.length;
  }
  assert.equal(j, job.length, 'every job byte went out');
  return at;
}

test('escpos: a poll never lands inside a command: bit images, barcodes and NV images are counted out', () => {
  const image = new Uint8Array(3000).fill(0x55);
  const parts = [
    enc('Hello\n'),
    Uint8Array.of(0x1d, 0x76, 0x30, 0, 30, 0, 100, 0), image, // GS v 0: 30 × 100 bytes
    enc('World\n'),
    Uint8Array.of(0x1b, 0x2a, 33, 200, 0), new Uint8Array(600).fill(0x55), // ESC * 24-dot: 200 × 3
    Uint8Array.of(0x1d, 0x6b, 4), enc('CODE39'), Uint8Array.of(0), // GS k NUL-terminated
    Uint8Array.of(0x1d, 0x28, 0x6b, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00), // GS ( k
    enc('Total 10.00\n'), Uint8Array.of(0x1d, 0x56, 0x41, 0x10), // cut
  ];
  const job = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  const inside: [number, number][] = [];
  for (const p of parts) {
    job.set(p, off);
    off += p.length;
  }
  inside.push([6, 6 + 8 + 3000], [6 + 3008 + 6, 6 + 3008 + 6 + 5 + 600]);
  const b = new Bench('escpos', { poll: 100, room: 0 });
  b.room(64);
  b.answer(OK);
  b.d.server({ t: 'job.start', id: 'r1', stream: 1, port: 0, size: job.length });
  for (let o = 0; o < job.length; o += 512) b.d.data(1, o, job.subarray(o, Math.min(job.length, o + 512)));
  for (let step = 0; step < 400 && !b.done('r1'); step++) {
    b.advance(50);
    b.room(64);
    if (step % 2 === 1) b.answer(OK);
  }
  assert.ok(b.done('r1'));
  const at = queryOffsets(b.out, job);
  assert.ok(at.length >= 3, `polls went during the job (${at.length})`);
  for (const p of at) for (const [a, z] of inside) assert.ok(p <= a || p >= z, `poll at ${p} inside [${a}, ${z})`);
});

test('escpos: after an unknown command the tokenizer stops trusting itself: no poll until the job ends', () => {
  const job = new Uint8Array(4000).fill(0x41);
  job.set([0x1b, 0xf0], 100); // ESC 0xF0: not a known command
  const b = new Bench('escpos', { poll: 100, room: 0 });
  b.room(64);
  b.answer(OK);
  b.fresh();
  b.start('r2', job);
  for (let step = 0; step < 200 && b.out.length < 1 + job.length + 12; step++) {
    b.advance(50);
    b.room(64);
  }
  const out = b.fresh();
  const first = out.indexOf(0x10);
  assert.ok(first < 0 || first > 100 + job.length - 100 || first <= 100, 'no query after the unknown command inside the job');
  assert.equal(count(out.subarray(0, job.length), QUERY) <= 1, true);
});

test('escpos: job.done waits for a status after the last byte; paper out mid-job pauses data and the job', () => {
  const b = new Bench('escpos', { room: 0 });
  b.room(100);
  b.answer(OK);
  const job = enc('line\n'.repeat(200)); // 1000 bytes
  b.start('j1', job);
  b.room(100);
  b.answer(OK); // the poll that goes before a job's first byte
  assert.ok(!b.done('j1'));
  // The printer runs out of paper: the next poll says so.
  b.advance(5000);
  b.room(100);
  b.answer(PAPER_OUT);
  assert.deepEqual(b.jobStates('j1'), ['paused']);
  const paused = b.msgs.find((m) => m.t === 'job.state');
  assert.ok(paused?.t === 'job.state' && paused.code === 'PRINTER_ERROR' && /paper-out/.test(paused.message ?? ''));
  const before = b.out.length;
  b.room(100);
  b.room(100);
  assert.equal(b.out.length, before, 'no job data while the printer reports paper out');
  b.advance(5000);
  b.room(100);
  assert.deepEqual(b.out.subarray(before), QUERY, 'polls go on while paused');
  b.answer(OK);
  assert.deepEqual(b.jobStates('j1'), ['paused', 'printing']);
  for (let i = 0; i < 20; i++) b.room(100);
  const sent = b.has((m) => m.t === 'job.ack' && m.written === job.length);
  assert.ok(sent, 'every byte written');
  assert.ok(!b.done('j1'), 'written is not printed: no job.done before the confirming status');
  b.advance(1);
  b.room(100);
  assert.deepEqual(b.out.subarray(b.out.length - 12), QUERY, 'a poll follows the last byte');
  b.answer(COVER);
  assert.ok(!b.done('j1'));
  assert.deepEqual(b.jobStates('j1'), ['paused', 'printing', 'paused']);
  b.advance(1000);
  b.room(100);
  b.answer(OK);
  assert.ok(b.done('j1'));
});

test('escpos: poll 0 means no queries and no confirmation (hello says confirms: false)', () => {
  const b = new Bench('escpos', { poll: 0 });
  const hello = b.d.take().length; // effects already consumed by the harness
  void hello;
  b.start('j2', enc('abc\n'));
  b.room(100);
  assert.ok(b.done('j2'));
  assert.deepEqual(b.out, enc('abc\n'));
});
