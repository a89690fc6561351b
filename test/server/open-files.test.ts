// The open-file limit read at start, and the warning when it is below what
// the connection limits allow.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_LIMITS } from '../../server/limits.js';
import { filesNeeded, openFileLimit } from '../../server/open-files.js';
import { tempDir } from '../helpers/server.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`;

test('reads the soft open-file limit from a limits file, and nothing from one that lacks it', () => {
  const dir = tempDir('pb-files-');
  writeFileSync(join(dir, 'limits'), LIMITS);
  assert.equal(openFileLimit(join(dir, 'limits')), 20000);
  writeFileSync(join(dir, 'unlimited'), LIMITS.replace('20000                20000', 'unlimited            unlimited'));
  assert.equal(openFileLimit(join(dir, 'unlimited')), undefined);
  assert.equal(openFileLimit(join(dir, 'missing')), undefined);
  // This process's own, where /proc is.
  const own = openFileLimit();
  if (own !== undefined) assert.ok(own > 0);
});

test('the default limits need more descriptors than a default 20,000 hard limit gives', () => {
  assert.equal(filesNeeded(DEFAULT_LIMITS), DEFAULT_LIMITS.maxDevices + DEFAULT_LIMITS.maxClients + 64);
  assert.ok(filesNeeded(DEFAULT_LIMITS) > 20_000);
  assert.ok(filesNeeded({ maxDevices: 10, maxClients: 5 }) < 1024);
});
