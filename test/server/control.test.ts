// control.send: relay to one device, a tag or all devices, one encoded
// message for every recipient, and a delivery report per device: ok, error,
// offline (not connected, or gone while we waited) and timeout (silent).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, registerDevice, type Item } from './peers.js';

type Reports = { device: string; status: string; code?: string; message?: string; data?: unknown }[];

/** Waits for the control message on a device and returns it with its exact text. */
async function control(dev: FakeDevice): Promise<{ raw: string; msg: Record<string, unknown> }> {
  const item = (await dev.inbox.take((x) => x.kind === 'text' && x.json['t'] === 'control', 'control')) as Extract<Item, { kind: 'text' }>;
  return { raw: item.raw, msg: item.json };
}

describe('control relay', () => {
  let t: TestServer;
  let client: TestClient;
  let watcher: TestClient;
  let ok: FakeDevice;
  let silent: FakeDevice;
  let other: FakeDevice;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, controlTimeoutMs: 1000 });
    const tok = {
      ok: registerDevice(t, 'c-ok', ['lobby']),
      silent: registerDevice(t, 'c-silent', ['lobby']),
      other: registerDevice(t, 'c-other', ['kitchen']),
    };
    registerDevice(t, 'c-off', ['lobby']);
    ok = await FakeDevice.connect(t, 'c-ok', tok.ok);
    silent = await FakeDevice.connect(t, 'c-silent', tok.silent);
    other = await FakeDevice.connect(t, 'c-other', tok.other);
    client = await TestClient.connect(t);
    watcher = await TestClient.connect(t);
    await watcher.call('subscribe');
  });
  after(() => t.close());

  it('relays to one device and reports its answer, also as a control.delivered event', async () => {
    const pending = client.call<{ ref: string; reports: Reports }>('control.send', { to: { device: 'c-ok' }, name: 'identify', args: { seconds: 3 } });
    const { msg } = await control(ok);
    assert.deepEqual({ ...msg, ref: undefined }, { t: 'control', ref: undefined, name: 'identify', args: { seconds: 3 } });
    ok.sendJson({ t: 'control.result', ref: msg['ref'], ok: true, data: { blinked: true } });
    const result = await pending;
    assert.equal(result.ref, msg['ref']);
    assert.deepEqual(result.reports, [{ device: 'c-ok', status: 'ok', data: { blinked: true } }]);
    const event = await watcher.event('control.delivered');
    assert.deepEqual(event, { event: 'control.delivered', ref: result.ref, reports: result.reports });
  });

  it('reports a device refusal as error with its code', async () => {
    const pending = client.call<{ reports: Reports }>('control.send', { to: { device: 'c-ok' }, name: 'reflash' });
    const { msg } = await control(ok);
    assert.deepEqual(msg['args'], {});
    ok.sendJson({ t: 'control.result', ref: msg['ref'], ok: false, code: 'UNSUPPORTED', message: 'no OTA on this board' });
    assert.deepEqual((await pending).reports, [{ device: 'c-ok', status: 'error', code: 'UNSUPPORTED', message: 'no OTA on this board' }]);
  });

  it('relays to a tag: one identical message for all, offline and silent devices reported', async () => {
    const pending = client.call<{ ref: string; reports: Reports }>('control.send', { to: { tag: 'lobby' }, name: 'led', args: { pattern: 'identify' }, timeout: 1000 });
    const [a, b] = await Promise.all([control(ok), control(silent)]);
    assert.equal(a.raw, b.raw, 'the same encoded message (one ref) goes to every recipient');
    ok.sendJson({ t: 'control.result', ref: a.msg['ref'], ok: true });
    const { reports } = await pending;
    assert.deepEqual(reports, [
      { device: 'c-off', status: 'offline' },
      { device: 'c-ok', status: 'ok' },
      { device: 'c-silent', status: 'timeout' },
    ]);
    // An answer after the timeout is late, not an error.
    silent.sendJson({ t: 'control.result', ref: b.msg['ref'], ok: true });
    silent.sendJson({ t: 'ping' });
    await silent.json((m) => m['t'] === 'pong');
    assert.equal(silent.inbox.items.length, 0);
  });

  it('relays to all devices, using controlTimeoutMs when no timeout is given', async () => {
    const pending = client.call<{ reports: Reports }>('control.send', { to: { all: true }, name: 'sync' });
    const [a, , c] = await Promise.all([control(ok), control(silent), control(other)]);
    ok.sendJson({ t: 'control.result', ref: a.msg['ref'], ok: true });
    other.sendJson({ t: 'control.result', ref: c.msg['ref'], ok: true, data: { n: 1 } });
    assert.deepEqual((await pending).reports.map((r) => [r.device, r.status]), [
      ['c-off', 'offline'], ['c-ok', 'ok'], ['c-other', 'ok'], ['c-silent', 'timeout'],
    ]);
  });

  it('answers at once when every target is offline, and refuses an unknown device or tag', async () => {
    assert.deepEqual((await client.call<{ reports: Reports }>('control.send', { to: { device: 'c-off' }, name: 'x' })).reports, [{ device: 'c-off', status: 'offline' }]);
    const unknown = await client.request('control.send', { to: { device: 'nobody' }, name: 'x' });
    assert.equal((unknown['error'] as { code: string }).code, 'UNKNOWN_DEVICE');
    const bad = await client.request('control.send', { to: { device: 'c-ok', tag: 'lobby' }, name: 'x' });
    assert.equal((bad['error'] as { code: string }).code, 'BAD_FIELD');
    // A tag no device carries reaches nobody: an error naming it, not an empty report.
    const nowhere = await client.request('control.send', { to: { tag: 'nowhere' }, name: 'x' });
    assert.deepEqual(nowhere['error'], { code: 'UNKNOWN_TAG', message: 'no registered device carries this tag: nowhere' });
  });

  it('reports a device that disconnects while the server waits as offline', async () => {
    const pending = client.call<{ reports: Reports }>('control.send', { to: { device: 'c-silent' }, name: 'x', timeout: 60_000 });
    await control(silent);
    silent.close();
    assert.deepEqual((await pending).reports, [{ device: 'c-silent', status: 'offline' }]);
  });

  // Last: the devices it registers would show up in the relays to all above.
  it('relays to a tag by the whole tag, whichever of the device tags it is', async () => {
    registerDevice(t, 'c-hall-b', ['hallway', 'hall', 'lobby-hall']);
    registerDevice(t, 'c-hall-a', ['hallway']);
    registerDevice(t, 'c-hall-c', ['hall']);
    const result = await client.call<{ reports: Reports }>('control.send', { to: { tag: 'hall' }, name: 'x' });
    assert.deepEqual(result.reports, [{ device: 'c-hall-b', status: 'offline' }, { device: 'c-hall-c', status: 'offline' }]);
  });
});
