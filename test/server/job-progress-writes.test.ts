// What a job's progress costs the store: the bytes a device confirms are
// news, kept in memory while the job is on its device and written with
// other jobs' news, or when the job leaves its device; the facts (submitted,
// started, the end) are on disk before anyone hears of them. Reads in the
// server see the news at once; the file is read here through a second
// connection, as another process would.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { failDeviceJobs, flushJobs, getJob, insertJob, listJobs, nextPendingJob, saveJob, saveJobLater } from '../../server/store/jobs.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, eventually, registerDevice, reportPorts } from './peers.js';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

describe('store: news of a job waits for a flush', () => {
  const dir = tempDir();
  let store: Store;
  let other: Store;
  before(() => {
    store = openStore(dir);
    other = openStore(dir);
    addDevice(store, 'n1', []);
  });
  after(() => {
    store.close();
    other.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is seen by reads of the same store at once, and by the file after flushJobs', () => {
    const job = insertJob(store, { id: 'news-1', device: 'n1', port: 0, data: randomBytes(300) }, 1000);
    job.started = true;
    job.state = 'sending';
    saveJob(store, job);
    job.written = 120;
    job.state = 'sending';
    job.updated = 2000;
    saveJobLater(store, job);
    assert.equal(getJob(store, 'news-1')?.written, 120);
    assert.equal(listJobs(store, { limit: 10 })[0]?.written, 120);
    assert.equal(nextPendingJob(store, 'n1/0')?.written, 120);
    assert.equal(getJob(other, 'news-1')?.written, 0, 'not in the file yet');
    assert.equal(flushJobs(store), 1);
    assert.deepEqual([getJob(other, 'news-1')?.written, getJob(other, 'news-1')?.updated], [120, 2000]);
    assert.equal(flushJobs(store), 0, 'written once');
  });

  it('is dropped by a synchronous save, which writes it too', () => {
    const job = insertJob(store, { id: 'news-2', device: 'n1', port: 0, data: randomBytes(300) }, 1000);
    job.written = 50;
    saveJobLater(store, job);
    job.held = true;
    job.state = 'paused';
    saveJob(store, job);
    assert.deepEqual([getJob(other, 'news-2')?.written, getJob(other, 'news-2')?.state], [50, 'paused']);
    assert.equal(flushJobs(store), 0);
  });

  it('is what a query by state goes by', () => {
    const job = insertJob(store, { id: 'news-4', device: 'n1', port: 0, data: randomBytes(300) }, 5000);
    job.state = 'printing';
    job.written = 300;
    saveJobLater(store, job);
    const ids = (state: 'queued' | 'printing') => listJobs(store, { printer: 'n1/0', state, limit: 10 }).map((j) => j.id);
    assert.ok(ids('printing').includes('news-4'), 'in the state its news gives');
    assert.ok(!ids('queued').includes('news-4'), 'not in the state the file still has');
    assert.deepEqual(listJobs(store, { states: ['printing'], limit: 10 }).map((j) => [j.id, j.written]), [['news-4', 300]]);
    flushJobs(store);
  });

  it('never undoes the end another process gave the job', () => {
    const job = insertJob(store, { id: 'news-3', device: 'n1', port: 0, data: randomBytes(300) }, 1000);
    job.written = 10;
    job.state = 'sending';
    saveJobLater(store, job);
    assert.ok(failDeviceJobs(other, 'n1', 3000) >= 1);
    assert.equal(getJob(store, 'news-3')?.state, 'failed', 'the stored end wins over news');
    assert.equal(flushJobs(store), 0);
    assert.equal(getJob(other, 'news-3')?.state, 'failed');
  });
});

describe('jobs: progress is not a commit per ack', () => {
  let t: TestServer;
  let token: string;
  let file: Store;
  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    token = registerDevice(t, 'pw');
    reportPorts(t, 'pw');
    file = openStore(t.dataDir);
  });
  after(async () => {
    file.close();
    await t.close();
  });

  it('keeps acks in memory while the job prints, `started` on disk before the first byte, and the count on disk once the device goes', async () => {
    const client = await TestClient.connect(t);
    const data = randomBytes(3000);
    const { id } = await client.call<{ id: string }>('job.submit', { printer: 'pw/0', data: b64(data) });
    const device = await FakeDevice.connect(t, 'pw', token, { window: 1024, maxChunk: 256 });
    const start = await device.jobStart();
    assert.equal(start['id'], id);
    device.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    let got = 0;
    while (got < 1024) got += (await device.frame()).payload.length;
    assert.equal(getJob(file, id)?.started, true, 'started is on disk once a byte arrived');
    device.sendJson({ t: 'job.ack', id, written: 512 });
    await eventually(async () => (await client.call<{ written: number }>('job.get', { job: id })).written === 512, 'the ack seen by job.get');
    assert.equal(getJob(file, id)?.written, 0, 'the ack waits for the next write');

    device.close();
    await device.closeCode();
    await eventually(() => getJob(file, id)?.written === 512, 'the count written when the device went');
    assert.equal(getJob(file, id)?.state, 'sending');
    // A started job would hold the printer for the next test.
    await client.call('job.cancel', { job: id });
    client.close();
  });

  it('tells the submitter of progress without an event per ack', async () => {
    const client = await TestClient.connect(t);
    const data = randomBytes(2048);
    const { id } = await client.call<{ id: string }>('job.submit', { printer: 'pw/0', data: b64(data) });
    const device = await FakeDevice.connect(t, 'pw', token, { window: 2048, maxChunk: 256 });
    await device.jobStart();
    device.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    let got = 0;
    while (got < 2048) got += (await device.frame()).payload.length;
    for (let w = 100; w <= 2000; w += 100) device.sendJson({ t: 'job.ack', id, written: w });
    const heard = await client.event('job.updated', (e) => (e['job'] as { written: number }).written === 2000);
    assert.equal((heard['job'] as { state: string }).state, 'sending');
    const progress = client.inbox.items.filter((x) => x.kind === 'text' && x.json['event'] === 'job.updated' && (x.json['job'] as { written: number }).written > 0);
    assert.ok(progress.length <= 2, `${progress.length} progress events left unread for 20 acks`);
    device.sendJson({ t: 'job.ack', id, written: 2048 });
    device.sendJson({ t: 'job.done', id });
    await client.event('job.updated', (e) => (e['job'] as { state: string }).state === 'done');
    device.close();
    client.close();
  });
});
