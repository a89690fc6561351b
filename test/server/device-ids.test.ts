// The ids a broadcast goes to, read as one string from the store: in order,
// by tag, none when there are none; kept between broadcasts until a device
// is added or removed.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { openStore } from '../../server/store/db.js';
import { addDevice, listDeviceIds, listDeviceIdsWithTag, registeredIds, removeDevice, touchDeviceLater } from '../../server/store/devices.js';
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

test('the registered ids are read again only after an add or remove, here or by another connection', (ctx) => {
  const dir = tempDir('pb-ids-');
  ctx.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = openStore(dir);
  ctx.after(() => server.close());
  const cli = openStore(dir);
  ctx.after(() => cli.close());
  addDevice(server, 'a', []);
  const first = registeredIds(server);
  assert.deepEqual([first.list, [...first.set]], [['a'], ['a']]);
  assert.equal(registeredIds(server), first, 'nothing changed: not read again');
  // Writes that leave the ids alone keep what was read.
  touchDeviceLater(server, 'a', 5);
  assert.equal(registeredIds(server), first);
  addDevice(server, 'b', []);
  assert.deepEqual(registeredIds(server).list, ['a', 'b'], 'an add here');
  addDevice(cli, 'c', []);
  assert.deepEqual(registeredIds(server).list, ['a', 'b', 'c'], 'an add by another process');
  removeDevice(cli, 'a');
  assert.deepEqual(registeredIds(server).list, ['b', 'c'], 'a remove by another process');
  removeDevice(server, 'b');
  assert.deepEqual(registeredIds(server).list, ['c'], 'a remove here');
  assert.equal(registeredIds(server).set.has('b'), false);
});
