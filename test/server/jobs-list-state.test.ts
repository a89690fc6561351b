// jobs.list by state while news of jobs (the state of an offered job, bytes
// confirmed) still waits for its flush: the page is full up to its limit
// and in one order, newest first and, for jobs submitted in the same
// millisecond, the later first. Once, the file was asked with the limit and
// the news laid over the answer: a job whose news left the state took a
// place on the page and was then dropped (a short page), and jobs whose
// news entered it came in the order their news did.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { openStore } from '../../server/store/db.js';
import { insertJob, listJobs, saveJobLater, type JobRecord } from '../../server/store/jobs.js';
import { startTestServer, tempDir } from '../helpers/server.js';
import { FakeDevice, TestClient, registerDevice, reportPorts } from './peers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function store() {
  const dir = tempDir();
  dirs.push(dir);
  return openStore(dir);
}

describe('jobs.list by state with news pending', () => {
  it('a page is full: a job whose news left the state does not take a place on it', () => {
    const s = store();
    const [a, b, c] = ['a', 'b', 'c'].map((id) => insertJob(s, { id, device: 'd', port: 0, data: new Uint8Array([1]) }, 1000)) as [JobRecord, JobRecord, JobRecord];
    // The newest was offered to its device: news only, the file still says queued.
    saveJobLater(s, { ...c, state: 'sending', updated: 1001 });
    assert.deepEqual(listJobs(s, { state: 'queued', limit: 2 }).map((j) => j.id), [b.id, a.id]);
    assert.deepEqual(listJobs(s, { state: 'sending', limit: 2 }).map((j) => j.id), [c.id]);
    s.close();
  });

  it('jobs submitted in the same millisecond come the later first, whatever order their news came in', () => {
    const s = store();
    const jobs = ['p', 'q', 'r'].map((id) => insertJob(s, { id, device: 'd', port: 0, data: new Uint8Array([1]) }, 5000));
    // News in submission order, as a device reconnecting gets its jobs offered.
    for (const job of jobs) saveJobLater(s, { ...job, state: 'sending', updated: 5001 });
    assert.deepEqual(listJobs(s, { state: 'sending', limit: 10 }).map((j) => j.id), ['r', 'q', 'p']);
    assert.deepEqual(listJobs(s, { limit: 10 }).map((j) => j.id), ['r', 'q', 'p'], 'the same order as a list without a state');
    s.close();
  });

  it('over the wire: a queued page right after a job was offered holds the next queued job', async () => {
    const t = await startTestServer({ heartbeatMs: 60_000 });
    try {
      registerDevice(t, 'ls-off');
      reportPorts(t, 'ls-off');
      const dev = await FakeDevice.connect(t, 'ls-on', registerDevice(t, 'ls-on'));
      const admin = await TestClient.connect(t);
      const q1 = await admin.call<JobView>('job.submit', { printer: 'ls-off/0', text: 'one' });
      const q2 = await admin.call<JobView>('job.submit', { printer: 'ls-off/0', text: 'two' });
      // Offered at once to the online device: sending, as news the file has not heard yet.
      const offered = await admin.call<JobView>('job.submit', { printer: 'ls-on/0', text: 'three' });
      assert.equal((await dev.jobStart())['id'], offered.id);
      assert.equal((await admin.call<JobView>('job.get', { job: offered.id })).state, 'sending');
      const page = await admin.call<JobView[]>('jobs.list', { state: 'queued', limit: 2 });
      assert.deepEqual(page.map((j) => j.id), [q2.id, q1.id]);
      dev.close();
      admin.close();
    } finally {
      await t.close();
    }
  });
});
