// Jobs another process ends in the store while this server runs
// (`printbridge devices remove --offline` fails a device's unfinished jobs
// there): the server has nothing left to fail itself, yet every subscriber
// must still hear each job's end once, or a dashboard shows it unfinished
// for ever.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { CLOSE } from '../../protocol/errors.js';
import { openStore } from '../../server/store/db.js';
import { removeDevice } from '../../server/store/devices.js';
import { failDeviceJobs } from '../../server/store/jobs.js';
import { isFinal } from '../../server/core/job-states.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { eventually, FakeDevice, registerDevice, reportPorts, TestClient } from './peers.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('jobs ended by another process', () => {
  let t: TestServer;
  let watcher: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    watcher = await TestClient.connect(t);
    await watcher.call('subscribe');
  });
  after(() => t.close());

  it('a device removed offline: subscribers hear every unfinished job of it fail with DEVICE_REMOVED, once', async () => {
    const token = registerDevice(t, 'gone-1');
    const dev = await FakeDevice.connect(t, 'gone-1', token, { window: 64, maxChunk: 32 });
    const inFlight = await watcher.call<JobView>('job.submit', { printer: 'gone-1/0', data: b64('y'.repeat(1000)) });
    const queued = await watcher.call<JobView>('job.submit', { printer: 'gone-1/0', data: b64('waiting') });
    await dev.jobStart();
    dev.sendJson({ t: 'job.accept', id: inFlight.id, received: 0, written: 0, fresh: true });
    await dev.frame();
    await eventually(async () => (await watcher.call<JobView>('job.get', { job: inFlight.id })).state === 'sending', 'the first job is sending');
    assert.equal((await watcher.call<JobView>('job.get', { job: queued.id })).state, 'queued');

    // What the CLI's --offline removal does, through its own handle on the file.
    const store = openStore(t.dataDir);
    try {
      store.db.transaction(() => removeDevice(store, 'gone-1') && failDeviceJobs(store, 'gone-1', Date.now()))();
    } finally {
      store.close();
    }
    assert.equal(await dev.closeCode(), CLOSE.REVOKED.code);

    for (const job of [inFlight, queued]) {
      const event = await watcher.json(
        (m) => m['event'] === 'job.updated' && (m['job'] as JobView).id === job.id && (m['job'] as JobView).state === 'failed',
        `job.updated failed for ${job.id}`,
      );
      assert.equal((event['job'] as JobView).error?.code, 'DEVICE_REMOVED');
    }
    // Events reach a subscriber in order: once a later job's is heard, any repeat of those ends would have been too.
    registerDevice(t, 'after-1');
    reportPorts(t, 'after-1');
    const next = await watcher.call<JobView>('job.submit', { printer: 'after-1/0', data: b64('next') });
    await watcher.json((m) => m['event'] === 'job.updated' && (m['job'] as JobView).id === next.id, 'job.updated of a later job');
    const repeats = watcher.inbox.items.filter(
      (x) => x.kind === 'text' && x.json['event'] === 'job.updated' && [inFlight.id, queued.id].includes((x.json['job'] as JobView).id) && isFinal((x.json['job'] as JobView).state),
    );
    assert.deepEqual(repeats, [], 'each end was heard once');
  });

  it('a job on its device canceled in the file by another process: heard once, canceled on the device, the next job offered', async () => {
    const token = registerDevice(t, 'gone-2');
    const dev = await FakeDevice.connect(t, 'gone-2', token, { window: 64, maxChunk: 32 });
    const first = await watcher.call<JobView>('job.submit', { printer: 'gone-2/0', data: b64('c'.repeat(1000)) });
    const second = await watcher.call<JobView>('job.submit', { printer: 'gone-2/0', data: b64('after') });
    await dev.jobStart();
    dev.sendJson({ t: 'job.accept', id: first.id, received: 0, written: 0, fresh: true });
    await dev.frame();

    const store = openStore(t.dataDir);
    try {
      store
        .stmt("UPDATE jobs SET state = 'canceled', error_code = 'JOB_CANCELED', error_message = 'elsewhere', finished_at = ?, updated = ? WHERE id = ?")
        .run(Date.now(), Date.now(), first.id);
    } finally {
      store.close();
    }

    const event = await watcher.json(
      (m) => m['event'] === 'job.updated' && (m['job'] as JobView).id === first.id && isFinal((m['job'] as JobView).state),
      'job.updated of the canceled job',
    );
    assert.deepEqual([(event['job'] as JobView).state, (event['job'] as JobView).error?.code], ['canceled', 'JOB_CANCELED']);
    await dev.json((m) => m['t'] === 'job.cancel' && m['id'] === first.id, 'job.cancel on the device');
    await dev.json((m) => m['t'] === 'job.start' && m['id'] === second.id, 'the next job offered');
    assert.equal((await watcher.call<JobView>('job.get', { job: first.id })).state, 'canceled', 'the end stays as the other process wrote it');
    const repeats = watcher.inbox.items.filter(
      (x) => x.kind === 'text' && x.json['event'] === 'job.updated' && (x.json['job'] as JobView).id === first.id && isFinal((x.json['job'] as JobView).state),
    );
    assert.deepEqual(repeats, [], 'heard once');
    dev.close();
  });
});
