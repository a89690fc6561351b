// The two small mechanisms behind fair sharing, on their own: Turns (each
// owner one task per turn, in rotation; a repeated request shares the queued
// one) and the token bucket that throttles a device connection.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from '../../server/core/token-bucket.js';
import { GONE, Turns } from '../../server/core/turns.js';

/** Turns whose next turn runs only when the test says so. */
function stepped(): { turns: Turns; step(): boolean } {
  const due: (() => void)[] = [];
  return {
    turns: new Turns((fn) => due.push(fn)),
    step: () => {
      const fn = due.shift();
      fn?.();
      return fn !== undefined;
    },
  };
}

test('owners take one task each in rotation, one task per turn', async () => {
  const { turns, step } = stepped();
  const ran: string[] = [];
  const a = {};
  const b = {};
  const done = [
    turns.take(a, 'a1', () => ran.push('a1')),
    turns.take(a, 'a2', () => ran.push('a2')),
    turns.take(a, 'a3', () => ran.push('a3')),
    turns.take(b, 'b1', () => ran.push('b1')),
  ];
  assert.deepEqual(ran, [], 'nothing runs in the caller\'s turn');
  while (step()) assert.ok(ran.length <= 4);
  assert.deepEqual(ran, ['a1', 'b1', 'a2', 'a3']);
  await Promise.all(done);
});

test('work of an owner that went away before its turn is skipped and rejects with GONE', async () => {
  const { turns, step } = stepped();
  const ran: string[] = [];
  let open = true;
  const gone = turns.take({}, 'g', () => ran.push('g'), () => open);
  const kept = turns.take({}, 'k', () => ran.push('k'));
  open = false;
  while (step());
  assert.deepEqual(ran, ['k']);
  await assert.rejects(gone, (e) => e === GONE);
  await kept;
});

test('a request that repeats the last one still queued shares its answer; others do not', async () => {
  const { turns, step } = stepped();
  const owner = {};
  let built = 0;
  const work = () => ({ n: ++built });
  const first = turns.take(owner, 'snapshot', work);
  const again = turns.take(owner, 'snapshot', work);
  const other = turns.take(owner, 'list', work);
  const after = turns.take(owner, 'snapshot', work);
  while (step());
  assert.equal(await first, await again);
  assert.equal(built, 3);
  assert.notEqual(await after, await first, 'a repeat behind another request is queued again, so order holds');
  assert.deepEqual([await first, await other, await after].map((r) => r.n), [1, 2, 3]);
});

test('a task that throws rejects its own promise and the next turns go on', async () => {
  const { turns, step } = stepped();
  const bad = turns.take({}, 'x', () => {
    throw new Error('boom');
  });
  const good = turns.take({}, 'y', () => 'fine');
  while (step());
  await assert.rejects(bad, /boom/);
  assert.equal(await good, 'fine');
});

test('the token bucket allows the burst, then the rate', () => {
  const bucket = new TokenBucket(10, 5, 0);
  let taken = 0;
  while (bucket.take(0)) taken++;
  assert.equal(taken, 5);
  assert.equal(bucket.take(50), false, 'half a token after 50 ms');
  assert.equal(bucket.take(100), true, 'one after 100 ms at 10 a second');
  assert.equal(bucket.take(100), false);
  let later = 0;
  while (bucket.take(60_000)) later++;
  assert.equal(later, 5, 'never more than the burst, however long it rested');
});
