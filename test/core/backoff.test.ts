import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffCeiling, backoffDelay } from '../../device/core/backoff.js';
import { seeded } from '../helpers/random.js';

test('ceiling doubles per attempt and stops at the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => backoffCeiling(n, 1000, 30_000)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.equal(backoffCeiling(1000, 1000, 30_000), 30_000, 'huge attempt counts do not overflow');
});

test('every delay lies in [0, ceiling) and full jitter spreads them over the whole window', () => {
  const rnd = seeded(42);
  for (const attempt of [0, 1, 3, 8]) {
    const ceiling = backoffCeiling(attempt, 500, 20_000);
    const bins = new Array<number>(10).fill(0);
    let sum = 0;
    const n = 5000;
    for (let i = 0; i < n; i++) {
      const d = backoffDelay(attempt, 500, 20_000, rnd);
      assert.ok(d >= 0 && d < ceiling, `attempt ${attempt}: ${d} outside [0, ${ceiling})`);
      sum += d;
      bins[Math.floor((d / ceiling) * 10)]! += 1;
    }
    // Uniform: the mean sits near the middle and no tenth of the window is starved.
    const mean = sum / n / ceiling;
    assert.ok(mean > 0.45 && mean < 0.55, `attempt ${attempt}: mean ${mean}`);
    for (const b of bins) assert.ok(b > n / 10 / 2, `attempt ${attempt}: bins ${bins.join(',')}`);
  }
});

test('a broken random source cannot produce a negative or oversized wait', () => {
  assert.equal(backoffDelay(3, 1000, 30_000, () => 1), 0);
  assert.equal(backoffDelay(3, 1000, 30_000, () => -5), 0);
  assert.equal(backoffDelay(3, 1000, 30_000, () => Number.NaN), 0);
});
