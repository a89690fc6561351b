import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Bench, enc } from './dialect-harness.js';

test('XON/XOFF: DC3 stops job data, DC1 lets it go on; only when configured', () => {
  const b = new Bench('raw', { flow: 'xonxoff', room: 0 });
  b.start('x1', new Uint8Array(1000).fill(0x41));
  b.room(100);
  assert.equal(b.out.length, 100);
  b.answer(Uint8Array.of(0x13));
  assert.equal(b.state(), 'busy');
  b.room(100);
  assert.equal(b.out.length, 100, 'nothing while XOFF');
  b.answer(Uint8Array.of(0x11));
  assert.equal(b.out.length, 200, 'the room reported during XOFF is used at DC1');
  const plain = new Bench('raw', { room: 0 });
  plain.start('x2', new Uint8Array(1000));
  plain.answer(Uint8Array.of(0x13));
  plain.room(100);
  assert.equal(plain.out.length, 100, 'without flow: xonxoff a DC3 is just a byte');
});

test('XON/XOFF: a TSPL status answer of 0x13 is status, not XOFF', () => {
  const b = new Bench('tspl', { flow: 'xonxoff' });
  b.answer(Uint8Array.of(0x13)); // head open + jam + pause
  assert.equal(b.status().state, 'cover-open');
  b.start('x3', enc('CLS\r\n'));
  b.room(100);
  assert.ok(b.out.length > 3, 'not stopped by the answer byte');
});

test('job.pause holds job data (polls continue); job.resume releases it', () => {
  const b = new Bench('escpos', { room: 0 });
  b.room(64);
  b.answer(Uint8Array.of(0x12, 0x12, 0x12, 0x12));
  b.start('p1', enc('x'.repeat(1000)));
  b.d.server({ t: 'job.pause', id: 'p1' });
  b.answer(Uint8Array.of(0x12, 0x12, 0x12, 0x12)); // the poll before the first byte
  const before = b.out.length;
  b.room(64);
  assert.equal(b.out.length, before);
  assert.equal(b.d.core.snapshot().ports[0]?.job?.held, true);
  b.advance(5000);
  b.room(64);
  assert.equal(b.out.length, before + 12, 'a poll still goes');
  b.d.server({ t: 'job.resume', id: 'p1' });
  b.room(64);
  assert.ok(b.out.length >= before + 12 + 64);
});
