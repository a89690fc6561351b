// One copy of each repeated value, and no more kept than the bound allows.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Interned } from '../../server/interned.js';

test('equal keys give the first value; past the bound values are kept as they come', () => {
  const kept = new Interned<number[]>(2);
  const a = [1];
  assert.equal(kept.of('a', a), a);
  assert.equal(kept.of('a', [1]), a, 'the copy kept for the key');
  const b = [2];
  assert.equal(kept.of('b', b), b);
  const c = [3];
  assert.equal(kept.of('c', c), c, 'no room: the value itself');
  assert.notEqual(kept.of('c', [3]), c, 'and not kept');
  assert.equal(kept.of('b', [2]), b);
});
