// The bus encodes an event's text only for listeners that send text: one
// that reads events itself (the MQTT link) never makes the bus encode.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientEvent } from '../../protocol/client-messages.js';
import { EventBus } from '../../server/core/events.js';

test('a listener that reads events gets them without the bus encoding any text for it', () => {
  const failures: string[] = [];
  const bus = new EventBus((e) => failures.push(String(e)));
  const read: ClientEvent[] = [];
  bus.add({ hears: () => true, wants: () => true, readsEvents: true, send: (text, event) => { assert.equal(text, ''); read.push(event); } });
  // An event JSON cannot encode: had the bus encoded it, it would have failed.
  const unencodable = { event: 'control.delivered', ref: 'r', reports: [], extra: 1n } as unknown as ClientEvent;
  bus.emit(unencodable);
  assert.deepEqual(read, [unencodable]);
  assert.deepEqual(failures, []);
  // A listener that wants text makes the bus encode, and the failure is reported.
  const texts: string[] = [];
  bus.add({ hears: () => true, wants: () => true, send: (text) => texts.push(text) });
  bus.emit(unencodable);
  assert.equal(read.length, 2);
  assert.deepEqual(texts, []);
  assert.equal(failures.length, 1);
});
