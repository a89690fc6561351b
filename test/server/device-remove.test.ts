// Removing a device through the server (device.remove, DELETE
// /api/v1/devices/{id}) over real sockets: its connection is closed with
// 4006 REVOKED at once, said hello or not; its token is refused from then on
// (HTTP 401); every unfinished job of it ends failed with DEVICE_REMOVED
// instead of waiting, the one on the device canceled there first; only the
// admin token may do it. A device another process removed from the store
// (`printbridge devices remove --offline`) is treated the same way: no job
// for it is taken, no byte more is sent to it, and its connection closes
// within about a second.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeviceView, JobView, PrinterView, RemovedDevice } from '../../protocol/client-messages.js';
import { CLOSE } from '../../protocol/errors.js';
import { openStore } from '../../server/store/db.js';
import { removeDevice } from '../../server/store/devices.js';
import { failDeviceJobs } from '../../server/store/jobs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { deviceUrl, FakeDevice, TestClient, eventually, refusedStatus, registerDevice, reportPorts } from './peers.js';

type Err = { code: string; message: string };

const b64 = (text: string) => Buffer.from(text).toString('base64');
const ADMIN = { authorization: 'Bearer test-admin-token' };

describe('device.remove', () => {
  let t: TestServer;
  let admin: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    admin = await TestClient.connect(t);
    await admin.call('subscribe');
  });
  after(() => t.close());

  it('closes the connection with 4006, refuses the token afterwards and fails every unfinished job', async () => {
    const token = registerDevice(t, 'rm-1');
    const dev = await FakeDevice.connect(t, 'rm-1', token, { window: 64, maxChunk: 32, ports: [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'raw' }] });
    const onDevice = await admin.call<JobView>('job.submit', { printer: 'rm-1/0', data: b64('x'.repeat(200)) });
    const waiting = await admin.call<JobView>('job.submit', { printer: 'rm-1/0', data: b64('second') });
    const other = await admin.call<JobView>('job.submit', { printer: 'rm-1/1', data: b64('third') });
    // The first job is on the device with bytes sent; the other port's job is offered, not yet accepted.
    const start = await dev.json((m) => m['t'] === 'job.start' && m['id'] === onDevice.id, 'job.start');
    dev.sendJson({ t: 'job.accept', id: start['id'], received: 0, written: 0, fresh: true });
    await dev.frame();
    await dev.json((m) => m['t'] === 'job.start' && m['id'] === other.id, 'job.start of port 1');
    await eventually(async () => (await admin.call<JobView>('job.get', { job: onDevice.id })).state === 'sending', 'the job is sending');

    const removed = await admin.call<RemovedDevice>('device.remove', { device: 'rm-1' });
    assert.deepEqual(removed, { id: 'rm-1', removed: true, closed: 1 });

    await dev.json((m) => m['t'] === 'job.cancel' && m['id'] === onDevice.id, 'job.cancel of the job on the device');
    assert.equal(await dev.closeCode(), CLOSE.REVOKED.code);
    assert.equal((await dev.closed).reason, CLOSE.REVOKED.text);
    assert.ok(!dev.inbox.items.some((x) => x.kind === 'text' && x.json['t'] === 'job.start' && x.json['id'] === waiting.id), 'nothing new was offered');

    for (const job of [onDevice, waiting, other]) {
      const now = await admin.call<JobView>('job.get', { job: job.id });
      assert.equal(now.state, 'failed', job.id);
      assert.equal(now.error?.code, 'DEVICE_REMOVED');
      assert.equal(now.error?.message, 'device was removed while the job was unfinished: rm-1');
    }
    const failedEvent = await admin.json((m) => m['event'] === 'job.updated' && (m['job'] as JobView).id === waiting.id && (m['job'] as JobView).state === 'failed', 'job.updated failed');
    assert.equal((failedEvent['job'] as JobView).error?.code, 'DEVICE_REMOVED');
    await admin.json((m) => m['event'] === 'device.offline' && (m['device'] as DeviceView).id === 'rm-1', 'device.offline');

    assert.equal(await refusedStatus(deviceUrl(t, 'rm-1', token)), 401, 'the same token cannot connect again');
    assert.ok(!(await admin.call<DeviceView[]>('devices.list')).some((d) => d.id === 'rm-1'));
    assert.ok(!(await admin.call<PrinterView[]>('printers.list')).some((p) => p.device === 'rm-1'));
    const submit = await admin.request('job.submit', { printer: 'rm-1/0', data: b64('late') });
    assert.equal((submit['error'] as Err).code, 'UNKNOWN_PRINTER');
    assert.ok(t.logs.some((l) => l.msg === 'device removed' && l.fields?.['device'] === 'rm-1'));
  });

  it('an offline device: closed 0, its queued jobs fail, and a REST call waiting on one gets the failure', async () => {
    registerDevice(t, 'rm-off', ['back']);
    reportPorts(t, 'rm-off');
    const job = await admin.call<JobView>('job.submit', { printer: 'rm-off/0', data: b64('queued') });
    assert.equal(job.state, 'queued');
    const held = fetch(`${t.server.url}/api/v1/jobs?printer=rm-off/0&key=k1&wait=done`, {
      method: 'POST', headers: { ...ADMIN, 'content-type': 'application/octet-stream' }, body: 'second',
    });
    await eventually(async () => (await admin.call<JobView[]>('jobs.list', { printer: 'rm-off/0' })).length === 2, 'the waiting job is queued');

    assert.deepEqual(await admin.call<RemovedDevice>('device.remove', { device: 'rm-off' }), { id: 'rm-off', removed: true, closed: 0 });
    const answer = await held;
    assert.equal(answer.status, 200, 'the wait ends with the final job');
    const final = (await answer.json()) as JobView;
    assert.deepEqual([final.state, final.error?.code], ['failed', 'DEVICE_REMOVED']);
    assert.equal((await admin.call<JobView>('job.get', { job: job.id })).state, 'failed');
  });

  it('closes a connection that has not said hello yet', async () => {
    const token = registerDevice(t, 'rm-mute');
    const dev = await FakeDevice.connectRaw(t, 'rm-mute', token);
    // The upgrade made the session before the device saw it open; it is not online (not in the registry).
    assert.ok(!(await admin.call<DeviceView[]>('devices.list')).some((d) => d.id === 'rm-mute' && d.online));
    assert.equal((await admin.call<RemovedDevice>('device.remove', { device: 'rm-mute' })).closed, 1);
    assert.equal(await dev.closeCode(), CLOSE.REVOKED.code);
  });

  it('a client token is FORBIDDEN and the device stays connected', async () => {
    const token = registerDevice(t, 'rm-kept');
    const dev = await FakeDevice.connect(t, 'rm-kept', token);
    const issued = await admin.call<{ token: string }>('token.issue', { ttl: 60 });
    const browser = await TestClient.connect(t, issued.token);
    const reply = await browser.request('device.remove', { device: 'rm-kept' });
    assert.equal(reply['ok'], false);
    assert.equal((reply['error'] as Err).code, 'FORBIDDEN');
    assert.match((reply['error'] as Err).message, /device\.remove needs the scope devices/);
    assert.equal(dev.ws.readyState, dev.ws.OPEN);
    assert.ok((await admin.call<DeviceView[]>('devices.list')).some((d) => d.id === 'rm-kept' && d.online));
    browser.close();
    dev.close();
  });

  it('an unknown id is UNKNOWN_DEVICE; a missing or malformed field is refused', async () => {
    assert.equal(((await admin.request('device.remove', { device: 'no-such-device' }))['error'] as Err).code, 'UNKNOWN_DEVICE');
    assert.equal(((await admin.request('device.remove', {}))['error'] as Err).code, 'MISSING_FIELD');
    assert.equal(((await admin.request('device.remove', { device: 7 }))['error'] as Err).code, 'BAD_FIELD');
    registerDevice(t, 'rm-twice');
    await admin.call('device.remove', { device: 'rm-twice' });
    assert.equal(((await admin.request('device.remove', { device: 'rm-twice' }))['error'] as Err).code, 'UNKNOWN_DEVICE');
  });

  it('a device added again under the id starts afresh: new token, queues running', async () => {
    const first = registerDevice(t, 'rm-again');
    await admin.call('printer.pause', { printer: 'rm-again/0' });
    await admin.call('device.remove', { device: 'rm-again' });
    const second = registerDevice(t, 'rm-again');
    assert.equal(await refusedStatus(deviceUrl(t, 'rm-again', first)), 401, 'the old token stays dead');
    const dev = await FakeDevice.connect(t, 'rm-again', second);
    const job = await admin.call<JobView>('job.submit', { printer: 'rm-again/0', data: b64('fresh') });
    assert.equal((await dev.jobStart())['id'], job.id, 'the queue is not paused');
    dev.close();
  });

  it('removed from the store by another process: no new job, no byte more, closed with 4006 within seconds', async () => {
    const token = registerDevice(t, 'rm-elsewhere');
    const dev = await FakeDevice.connect(t, 'rm-elsewhere', token, { window: 64, maxChunk: 32 });
    const job = await admin.call<JobView>('job.submit', { printer: 'rm-elsewhere/0', data: b64('z'.repeat(1000)) });
    await dev.jobStart();
    dev.sendJson({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
    await dev.frame();
    await dev.frame();
    await eventually(async () => (await admin.call<JobView>('job.get', { job: job.id })).state === 'sending', 'the job is sending');

    // What `printbridge devices remove --offline` does, through its own handle on the file.
    const store = openStore(t.dataDir);
    try {
      store.db.transaction(() => removeDevice(store, 'rm-elsewhere') && failDeviceJobs(store, 'rm-elsewhere', Date.now()))();
    } finally {
      store.close();
    }
    const removedAt = Date.now();
    const submit = await admin.request('job.submit', { printer: 'rm-elsewhere/0', data: b64('late') });
    assert.equal((submit['error'] as Err).code, 'UNKNOWN_PRINTER', 'refused at once');
    const framesBefore = dev.inbox.items.filter((x) => x.kind === 'binary').length;
    // The device grants more credit: none of it is used.
    dev.sendJson({ t: 'job.ack', id: job.id, received: 64, written: 64 });
    assert.equal(await dev.closeCode(), CLOSE.REVOKED.code);
    assert.ok(Date.now() - removedAt < 3000, `closed ${Date.now() - removedAt} ms after the removal`);
    assert.equal(dev.inbox.items.filter((x) => x.kind === 'binary').length, framesBefore, 'no job data after the removal');
    const final = await admin.call<JobView>('job.get', { job: job.id });
    assert.deepEqual([final.state, final.error?.code], ['failed', 'DEVICE_REMOVED']);
    await eventually(() => t.logs.some((l) => l.msg === 'device removed by another process' && l.fields?.['device'] === 'rm-elsewhere'), 'logged');
  });

  it('REST: DELETE /api/v1/devices/{id}', async () => {
    const token = registerDevice(t, 'rm-rest');
    const dev = await FakeDevice.connect(t, 'rm-rest', token);
    const issued = await admin.call<{ token: string }>('token.issue', { ttl: 60 });
    const forbidden = await fetch(`${t.server.url}/api/v1/devices/rm-rest`, { method: 'DELETE', headers: { authorization: `Bearer ${issued.token}` } });
    assert.equal(forbidden.status, 403);
    assert.equal(((await forbidden.json()) as { error: Err }).error.code, 'FORBIDDEN');

    const res = await fetch(`${t.server.url}/api/v1/devices/rm-rest`, { method: 'DELETE', headers: ADMIN });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: 'rm-rest', removed: true, closed: 1 });
    assert.equal(await dev.closeCode(), CLOSE.REVOKED.code);

    const again = await fetch(`${t.server.url}/api/v1/devices/rm-rest`, { method: 'DELETE', headers: ADMIN });
    assert.equal(again.status, 404);
    assert.equal(((await again.json()) as { error: Err }).error.code, 'UNKNOWN_DEVICE');
    const get = await fetch(`${t.server.url}/api/v1/devices/rm-rest`, { headers: ADMIN });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'DELETE');
  });
});
