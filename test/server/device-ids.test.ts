// The ids a broadcast goes to, read as one string from the store: in order,
// by tag, none when there are none.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { openStore } from '../../server/store/db.js';
import { addDevice, listDeviceIds, listDeviceIdsWithTag, removeDevice } from '../../server/store/devices.js';
import { tempDir } from '../helpers/server.js';

test('device ids in order, by tag, and none', (ctx) => {
  const dir = tempDir('pb-ids-');
  ctx.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openStore(dir);
  ctx.after(() => store.close());
  assert.deepEqual(listDeviceIds(store), []);
  assert.deepEqual(listDeviceIdsWithTag(store, 'lobby'), []);
  addDevice(store, 'b-2', ['lobby', 'front']);
  addDevice(store, 'a.1', ['lobby']);
  addDevice(store, 'c_3', []);
  addDevice(store, 'B-0', ['front']);
  assert.deepEqual(listDeviceIds(store), ['B-0', 'a.1', 'b-2', 'c_3']);
  assert.deepEqual(listDeviceIdsWithTag(store, 'lobby'), ['a.1', 'b-2']);
  assert.deepEqual(listDeviceIdsWithTag(store, 'front'), ['B-0', 'b-2']);
  assert.deepEqual(listDeviceIdsWithTag(store, 'nosuchtag'), []);
  removeDevice(store, 'b-2');
  assert.deepEqual(listDeviceIdsWithTag(store, 'lobby'), ['a.1']);
});
