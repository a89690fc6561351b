// The device core's side of a CUPS queue: a `spooler` port (spooler.ts).
// Byte-level, on a virtual clock: every write of job data names its job, the
// one that completes it says `last`, and the job ends only on the host's
// `port.verdict` for it, never on the raw dialect's "all bytes went".

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobPiece } from '../../device/core/types.js';
import { Bench, enc } from '../core/dialect-harness.js';

/** The job tags of every port write so far, with their sizes. */
function pieces(b: Bench): { job: JobPiece | undefined; size: number }[] {
  return b.d.effects.flatMap((e) => (e.type === 'port.write' ? [{ job: e.job, size: e.bytes.length }] : []));
}

test('job data names its job, the last write says so, and done waits for the host\'s verdict', () => {
  const b = new Bench('raw', { transport: 'spooler', room: 0 });
  const data = enc('x'.repeat(3000));
  b.start('j1', data);
  b.room(1000);
  b.room(1000);
  assert.ok(!b.done('j1'), 'not done before all bytes went');
  // A verdict before the hand-over does not count.
  b.d.handle({ type: 'port.verdict', port: 0, job: 'j1', ok: true });
  b.room(1000);
  const p = pieces(b);
  assert.deepEqual(p.map((x) => x.job?.id), ['j1', 'j1', 'j1']);
  assert.deepEqual(p.map((x) => x.job?.last), [false, false, true]);
  assert.equal(p.reduce((n, x) => n + x.size, 0), data.length);
  assert.ok(!b.done('j1'), 'all bytes handed over is not done on a spooler port');
  b.d.handle({ type: 'port.verdict', port: 0, job: 'other', ok: true });
  assert.ok(!b.done('j1'), 'a verdict for another job does not end this one');
  b.d.handle({ type: 'port.verdict', port: 0, job: 'j1', ok: true });
  assert.ok(b.done('j1'));
});

test('the host\'s failure fails the job PRINTER_ERROR with its words', () => {
  const b = new Bench('raw', { transport: 'spooler' });
  b.start('j2', enc('abc'));
  b.d.handle({ type: 'port.verdict', port: 0, job: 'j2', ok: false, detail: 'CUPS job 7 on pos aborted (job-aborted-by-system)' });
  const f = b.failure('j2');
  assert.equal(f?.code, 'PRINTER_ERROR');
  assert.equal(f?.message, 'printer reported an error: CUPS job 7 on pos aborted (job-aborted-by-system)');
});

test('an empty job is handed over by an empty last write', () => {
  const b = new Bench('raw', { transport: 'spooler' });
  b.start('j3', new Uint8Array(0));
  assert.deepEqual(pieces(b), [{ job: { id: 'j3', last: true }, size: 0 }]);
  b.d.handle({ type: 'port.verdict', port: 0, job: 'j3', ok: true });
  assert.ok(b.done('j3'));
});

test('the print system unreachable after the hand-over ends the session: JOB_INTERRUPTED, not done', () => {
  const b = new Bench('raw', { transport: 'spooler' });
  b.start('j4', enc('abc'));
  b.d.handle({ type: 'port.state', port: 0, state: 'offline', detail: 'CUPS at 127.0.0.1:631: connect ECONNREFUSED' });
  b.d.handle({ type: 'port.verdict', port: 0, job: 'j4', ok: true });
  assert.equal(b.failure('j4')?.code, 'JOB_INTERRUPTED');
  assert.ok(!b.done('j4'));
});

test('other transports are untouched: raw is done when its bytes went, with untagged writes', () => {
  const b = new Bench('raw', { transport: 'network' });
  b.start('j5', enc('abc'));
  assert.ok(b.done('j5'));
  assert.deepEqual(pieces(b), [{ job: undefined, size: 3 }]);
});
