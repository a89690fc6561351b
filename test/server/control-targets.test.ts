// control.send to a target that reaches nobody by mistake is an error, not
// an empty success: a tag no registered device carries is UNKNOWN_TAG, a
// device id that is not registered UNKNOWN_DEVICE, over WebSocket and REST
// (404 both). Every device of a server that has none is an empty report:
// nothing was asked of anyone, and nothing was mistyped.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ControlResult } from '../../protocol/client-messages.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, registerDevice, rest } from './peers.js';

const ADMIN = 'test-admin-token';
type Err = { code: string; message: string };

describe('control.send targets', () => {
  let t: TestServer;
  let admin: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, controlTimeoutMs: 500 });
    admin = await TestClient.connect(t);
  });
  after(async () => {
    admin?.close();
    await t?.close();
  });

  it('to every device with none registered: an empty report', async () => {
    assert.deepEqual((await admin.call<ControlResult>('control.send', { to: { all: true }, name: 'identify' })).reports, []);
    const viaRest = await rest(t, ADMIN, 'POST', '/control', { to: { all: true }, name: 'identify' });
    assert.deepEqual([viaRest.status, viaRest.body['reports']], [200, []]);
  });

  it('to a tag nobody carries: UNKNOWN_TAG naming it; to an unregistered device: UNKNOWN_DEVICE', async () => {
    registerDevice(t, 'ct-1', ['front']);
    const tag = await admin.request('control.send', { to: { tag: 'fornt' }, name: 'identify' });
    assert.deepEqual(tag['error'], { code: 'UNKNOWN_TAG', message: 'no registered device carries this tag: fornt' });
    const device = await admin.request('control.send', { to: { device: 'ct-2' }, name: 'identify' });
    assert.deepEqual(device['error'], { code: 'UNKNOWN_DEVICE', message: 'no such device: ct-2' });
    for (const [to, code] of [[{ tag: 'fornt' }, 'UNKNOWN_TAG'], [{ device: 'ct-2' }, 'UNKNOWN_DEVICE']] as const) {
      const viaRest = await rest(t, ADMIN, 'POST', '/control', { to, name: 'identify' });
      assert.deepEqual([viaRest.status, (viaRest.body['error'] as Err).code], [404, code]);
    }
    // The tag a device carries reaches it (offline here: reported so, not refused).
    assert.deepEqual((await admin.call<ControlResult>('control.send', { to: { tag: 'front' }, name: 'identify' })).reports, [{ device: 'ct-1', status: 'offline' }]);
    // The scope is checked before the target: a token that may not send learns nothing of tags.
    const { token } = await admin.call<{ token: string }>('token.issue', {});
    const plain = await TestClient.connect(t, token);
    assert.equal(((await plain.request('control.send', { to: { tag: 'fornt' }, name: 'identify' }))['error'] as Err).code, 'FORBIDDEN');
    plain.close();
  });
});
