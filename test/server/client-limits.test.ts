// The hello answer says the bounds a client must stay within (protocol 1.5):
// a page learns them instead of finding out by being closed. Each is checked
// against the bound the server really applies, on both sides of it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClientLimits, JobView, ServerInfo } from '../../protocol/client-messages.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { registerDevice, reportPorts, rest, TestClient } from './peers.js';

const ADMIN = 'test-admin-token';
type Err = { code: string; message: string };

describe('the hello answer carries the client limits', () => {
  const configured = { maxJobBytes: 3000, maxClientBuffer: 50_000 };
  let t: TestServer;
  let limits: ClientLimits;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: configured });
    registerDevice(t, 'lim');
    reportPorts(t, 'lim');
    const c = await TestClient.connect(t);
    const info = await c.call<ServerInfo>('hello', { v: [1, 5] });
    c.close();
    assert.ok(info.limits, 'a 1.5 server says its limits');
    limits = info.limits;
  });
  after(async () => {
    await t?.close();
  });

  it('names the configured job size and unsent bound, over WebSocket and REST alike', async () => {
    assert.equal(limits.maxJobBytes, configured.maxJobBytes);
    assert.equal(limits.maxUnsent, configured.maxClientBuffer);
    const viaRest = await rest(t, ADMIN, 'GET', '');
    assert.deepEqual(viaRest.body['limits'], limits);
  });

  it('maxJobBytes is the largest job taken', async () => {
    const c = await TestClient.connect(t);
    const at = await c.call<JobView>('job.submit', { printer: 'lim/0', data: Buffer.alloc(limits.maxJobBytes, 0x41).toString('base64') });
    assert.equal(at.size, limits.maxJobBytes);
    const over = await c.request('job.submit', { printer: 'lim/0', data: Buffer.alloc(limits.maxJobBytes + 1, 0x41).toString('base64') });
    assert.equal((over['error'] as Err).code, 'JOB_TOO_LARGE');
    await c.call('printer.cancel', { printer: 'lim/0' });
    c.close();
  });

  it('maxFrame is the largest message read: one of exactly that many bytes is answered, one more closes with 1009', async () => {
    const c = await TestClient.connect(t);
    // Padding of multi-byte characters: the bound is in bytes, not in characters.
    const frame = (bytes: number): string => {
      const head = JSON.stringify({ id: 'f', op: 'ping', pad: '' });
      const room = bytes - Buffer.byteLength(head);
      const pad = 'é'.repeat(Math.floor(room / 2)) + 'x'.repeat(room % 2);
      const text = JSON.stringify({ id: 'f', op: 'ping', pad });
      assert.equal(Buffer.byteLength(text), bytes);
      return text;
    };
    c.sendRaw(frame(limits.maxFrame));
    assert.equal((await c.json((m) => m['re'] === 'f', 'the pong')).result, 'pong');
    c.sendRaw(frame(limits.maxFrame + 1));
    assert.equal(await c.closeCode(), 1009);
  });
});
