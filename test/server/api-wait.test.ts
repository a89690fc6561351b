// The REST submit's wait is bounded: whatever a caller asks for, a request
// holds its connection at most MAX_WAIT_S. Checked on the parser, so the test
// need not hold a connection for five minutes to cross the bound.

import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { MAX_WAIT_S, waitSeconds } from '../../server/transports/http-api.js';

function req(prefer?: string): IncomingMessage {
  return { headers: prefer === undefined ? {} : { prefer } } as unknown as IncomingMessage;
}

test('a wait past the bound is cut to MAX_WAIT_S, from the query and from Prefer', () => {
  assert.equal(waitSeconds(req(), new URLSearchParams('wait=999999')), MAX_WAIT_S);
  assert.equal(waitSeconds(req('respond-async, wait=100000'), new URLSearchParams()), MAX_WAIT_S);
  assert.equal(waitSeconds(req(), new URLSearchParams(`wait=${MAX_WAIT_S - 1}`)), MAX_WAIT_S - 1);
});

test('no wait, wait=0 and malformed waits', () => {
  assert.equal(waitSeconds(req(), new URLSearchParams()), undefined);
  assert.equal(waitSeconds(req(), new URLSearchParams('wait=0')), undefined);
  assert.throws(() => waitSeconds(req(), new URLSearchParams('wait=soon')), (e: unknown) => (e as { error?: { code?: string } }).error?.code === 'BAD_FIELD');
});
