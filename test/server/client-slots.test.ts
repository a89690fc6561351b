// The one client bound shared by every listener, on its own: pending
// (unauthenticated) slots have their own cap inside maxClients and always
// give way, oldest first, so that they never keep an authenticated client out.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientSlots } from '../../server/transports/client-slots.js';

test('pending slots give way oldest first to newer pending ones and to clients; clients alone meet maxClients', () => {
  const slots = new ClientSlots({ maxClients: 4, maxPreAuthClients: 2 });
  const evicted: string[] = [];
  const a = slots.admitPending(() => evicted.push('a'));
  const b = slots.admitPending(() => evicted.push('b'));
  const c = slots.admitPending(() => evicted.push('c'));
  assert.ok(a && b && c);
  assert.deepEqual(evicted, ['a'], 'the pending cap made room by closing the oldest');
  assert.equal(slots.pendingCount, 2);

  const clients = [slots.admitClient(), slots.admitClient()];
  assert.deepEqual(evicted, ['a'], 'room was left without evicting');
  clients.push(slots.admitClient());
  assert.deepEqual(evicted, ['a', 'b'], 'an authenticated client takes the oldest pending slot');
  c.promote();
  assert.equal(slots.clientCount, 4);
  assert.equal(slots.pendingCount, 0);
  assert.equal(slots.admitClient(), undefined, 'maxClients authenticated clients: refused');
  assert.equal(slots.admitPending(() => evicted.push('d')), undefined);

  clients[0]!.release();
  clients[0]!.release();
  assert.equal(slots.clientCount, 3, 'release is idempotent');
  a.promote();
  a.release();
  assert.equal(slots.clientCount, 3, 'an evicted slot neither counts when promoted nor frees another when released');
  assert.ok(slots.admitClient());
});

test('no pending slots at all when maxPreAuthClients is 0', () => {
  const slots = new ClientSlots({ maxClients: 4, maxPreAuthClients: 0 });
  assert.equal(slots.admitPending(() => assert.fail('nothing to evict')), undefined);
  assert.ok(slots.admitClient());
});
