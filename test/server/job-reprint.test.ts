// job.data and job.reprint over real sockets. job.data answers a job's bytes
// exactly as they were submitted (text after its encoding) to whoever may
// job.get the job; job.reprint queues a new job with them, through the same
// limits, quotas and queue as job.submit. Finished jobs keep their bytes
// within retention's finishedDataMaxBytes, the oldest finished dropped
// first; then both ops answer JOB_DATA_GONE, over WebSocket and REST (410).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JobData, JobView } from '../../protocol/client-messages.js';
import { openStore } from '../../server/store/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, deviceDoes, eventually, registerDevice, reportPorts, rest } from './peers.js';

const ADMIN = 'test-admin-token';
type Err = { code: string; message: string };

function errorOf(reply: Record<string, unknown>): Err {
  assert.equal(reply['ok'], false, JSON.stringify(reply));
  return reply['error'] as Err;
}

const bytesOf = (d: JobData): Buffer => Buffer.from(d.data, 'base64');

describe('job.data and job.reprint', () => {
  let t: TestServer;
  let admin: TestClient;
  let dev: FakeDevice;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxQueue: 3 } });
    registerDevice(t, 'rp-off');
    reportPorts(t, 'rp-off', [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'escpos' }]);
    dev = await FakeDevice.connect(t, 'rp-1', registerDevice(t, 'rp-1'));
    admin = await TestClient.connect(t);
  });
  after(async () => {
    dev?.close();
    admin?.close();
    await t?.close();
  });

  it('job.data answers the bytes as submitted: base64 as given, text after its encoding and line ends', async () => {
    const raw = Buffer.from([0x1b, 0x40, 0x00, 0xff, 0x0a]);
    const a = await admin.call<JobView>('job.submit', { printer: 'rp-off/0', data: raw.toString('base64'), name: 'raw.bin' });
    const got = await admin.call<JobData>('job.data', { job: a.id });
    assert.deepEqual(bytesOf(got), raw);
    assert.deepEqual([got.job.id, got.job.name, got.job.size], [a.id, 'raw.bin', 5]);

    const b = await admin.call<JobView>('job.submit', { printer: 'rp-off/0', lines: ['Käse', '½'], eol: 'crlf', encoding: 'cp437' });
    assert.deepEqual(bytesOf(await admin.call<JobData>('job.data', { job: b.id })), Buffer.from([0x4b, 0x84, 0x73, 0x65, 0x0d, 0x0a, 0xab, 0x0d, 0x0a]));

    const viaRest = await rest(t, ADMIN, 'GET', `/jobs/${a.id}/data`);
    assert.equal(viaRest.status, 200);
    assert.deepEqual(Buffer.from(viaRest.body['data'] as string, 'base64'), raw);
    assert.equal((viaRest.body['job'] as JobView).id, a.id);

    assert.equal(errorOf(await admin.request('job.data', { job: 'no-such-job' })).code, 'UNKNOWN_JOB');
    assert.equal((await rest(t, ADMIN, 'GET', '/jobs/no-such-job/data')).status, 404);
    for (const job of [a, b]) await admin.call('job.cancel', { job: job.id });
  });

  it('reprints a job that finished printing: a new job with the same bytes and name, printed again by the device', async () => {
    const content = Buffer.from('Order 4711\nTotal 12.50\n\n\n');
    const first = await admin.call<JobView>('job.submit', { printer: 'rp-1/0', data: content.toString('base64'), name: 'order-4711.txt' });
    assert.deepEqual(await deviceDoes(dev, first.id), content);
    await eventually(async () => (await admin.call<JobView>('job.get', { job: first.id })).state === 'done', 'the first print is done');

    // Finished, and its bytes are still there.
    assert.deepEqual(bytesOf(await admin.call<JobData>('job.data', { job: first.id })), content);
    const again = await admin.call<JobView>('job.reprint', { job: first.id });
    assert.notEqual(again.id, first.id);
    assert.deepEqual([again.printer, again.name, again.size], ['rp-1/0', 'order-4711.txt', content.length]);
    assert.deepEqual(await deviceDoes(dev, again.id), content, 'the device printed the same bytes again');
    await eventually(async () => (await admin.call<JobView>('job.get', { job: again.id })).state === 'done', 'the reprint is done');

    // Elsewhere, under another name; and a key makes it idempotent.
    const moved = await admin.call<JobView>('job.reprint', { job: first.id, printer: 'rp-off/1', name: 'copy for the office', key: 'copy-1' });
    assert.deepEqual([moved.printer, moved.name, moved.state], ['rp-off/1', 'copy for the office', 'queued']);
    assert.equal((await admin.call<JobView>('job.reprint', { job: first.id, printer: 'rp-off/1', key: 'copy-1' })).id, moved.id);
    assert.deepEqual(bytesOf(await admin.call<JobData>('job.data', { job: moved.id })), content);

    // REST: 201 with the new job and where it lives.
    const viaRest = await rest(t, ADMIN, 'POST', `/jobs/${first.id}/reprint`, { printer: 'rp-off/1', name: 'via REST' });
    assert.deepEqual([viaRest.status, viaRest.body['name'], viaRest.body['printer']], [201, 'via REST', 'rp-off/1']);
    assert.equal(viaRest.headers.get('location'), `/api/v1/jobs/${String(viaRest.body['id'])}`);
    for (const id of [moved.id, viaRest.body['id'] as string]) await admin.call('job.cancel', { job: id });
  });

  it('goes through the rules of job.submit: an unknown printer, a full queue, a bad name', async () => {
    const original = await admin.call<JobView>('job.submit', { printer: 'rp-off/0', text: 'queued\n' });
    assert.equal(errorOf(await admin.request('job.reprint', { job: original.id, printer: 'nope/0' })).code, 'UNKNOWN_PRINTER');
    assert.equal(errorOf(await admin.request('job.reprint', { job: original.id, name: 'bad\nname' })).code, 'BAD_FIELD');
    assert.equal(errorOf(await admin.request('job.reprint', { job: 'no-such-job' })).code, 'UNKNOWN_JOB');
    // maxQueue is 3: the original and two reprints fill the queue of rp-off/0.
    await admin.call('job.reprint', { job: original.id });
    await admin.call('job.reprint', { job: original.id });
    const full = errorOf(await admin.request('job.reprint', { job: original.id }));
    assert.equal(full.code, 'QUEUE_FULL');
    const viaRest = await rest(t, ADMIN, 'POST', `/jobs/${original.id}/reprint`, {});
    assert.deepEqual([viaRest.status, (viaRest.body['error'] as Err).code], [503, 'QUEUE_FULL']);
    await admin.call('printer.cancel', { printer: 'rp-off/0' });
  });

  it('is for whoever may see the job: another token without jobs:any, or a token without print, is FORBIDDEN', async () => {
    const issue = async (scopes: string[]): Promise<TestClient> => TestClient.connect(t, (await admin.call<{ token: string }>('token.issue', { scopes })).token);
    const owner = await issue(['print']);
    const other = await issue(['print']);
    const noPrint = await issue(['control']);
    const any = await issue(['print', 'jobs:any']);
    const mine = await owner.call<JobView>('job.submit', { printer: 'rp-off/1', text: 'mine\n', name: 'own' });
    const admins = await admin.call<JobView>('job.submit', { printer: 'rp-off/1', text: 'admin\n' });

    assert.equal((await owner.call<JobData>('job.data', { job: mine.id })).job.id, mine.id);
    const copy = await owner.call<JobView>('job.reprint', { job: mine.id });
    // The copy is the owner's own job: it may cancel it.
    assert.equal((await owner.call<JobView>('job.cancel', { job: copy.id })).state, 'canceled');
    for (const op of ['job.data', 'job.reprint']) {
      for (const job of [mine.id, admins.id]) {
        const e = errorOf(await other.request(op, { job }));
        assert.deepEqual([e.code, /needs the scope jobs:any/.test(e.message)], ['FORBIDDEN', true], `${op} ${job}`);
      }
      const e = errorOf(await noPrint.request(op, { job: mine.id }));
      assert.deepEqual([e.code, /needs the scope print$/.test(e.message)], ['FORBIDDEN', true], op);
    }
    const token = (await admin.call<{ token: string }>('token.issue', { scopes: ['print'] })).token;
    const viaRest = await rest(t, token, 'GET', `/jobs/${mine.id}/data`);
    assert.deepEqual([viaRest.status, (viaRest.body['error'] as Err).code], [403, 'FORBIDDEN']);
    const reprintRest = await rest(t, token, 'POST', `/jobs/${mine.id}/reprint`, {});
    assert.deepEqual([reprintRest.status, (reprintRest.body['error'] as Err).code], [403, 'FORBIDDEN']);

    assert.deepEqual(bytesOf(await any.call<JobData>('job.data', { job: mine.id })), Buffer.from('mine\n'));
    assert.equal((await any.call<JobView>('job.reprint', { job: admins.id })).size, 6);
    await admin.call('printer.cancel', { printer: 'rp-off/1' });
    for (const c of [owner, other, noPrint, any]) c.close();
  });
});

describe('finished jobs keep their bytes within finishedDataMaxBytes', () => {
  const JOB = 100;
  const content = (i: number): string => Buffer.alloc(JOB, 0x30 + i).toString('base64');

  it('past the budget the oldest finished job loses its bytes: JOB_DATA_GONE for job.data and job.reprint, over WebSocket and REST', async () => {
    let t = await startTestServer({ heartbeatMs: 60_000, retention: { finishedDataMaxBytes: 2 * JOB + 50 } });
    try {
      registerDevice(t, 'kd');
      reportPorts(t, 'kd');
      const admin = await TestClient.connect(t);
      const jobs: JobView[] = [];
      for (let i = 0; i < 4; i++) jobs.push(await admin.call<JobView>('job.submit', { printer: 'kd/0', data: content(i), name: `job ${i}` }));
      // Unfinished jobs are not counted: all four hold their bytes.
      for (const job of jobs) assert.equal((await admin.call<JobData>('job.data', { job: job.id })).data, content(jobs.indexOf(job)));
      for (const job of jobs.slice(0, 2)) await admin.call('job.cancel', { job: job.id });
      // Two finished, 200 bytes: within the budget.
      assert.equal((await admin.call<JobData>('job.data', { job: jobs[0]!.id })).data, content(0));
      // A third crosses it: the oldest finished goes, at once.
      await admin.call('job.cancel', { job: jobs[2]!.id });
      const gone = errorOf(await admin.request('job.data', { job: jobs[0]!.id }));
      assert.equal(gone.code, 'JOB_DATA_GONE');
      assert.match(gone.message, /retention/);
      assert.equal(errorOf(await admin.request('job.reprint', { job: jobs[0]!.id })).code, 'JOB_DATA_GONE');
      const viaRest = await rest(t, ADMIN, 'GET', `/jobs/${jobs[0]!.id}/data`);
      assert.deepEqual([viaRest.status, (viaRest.body['error'] as Err).code], [410, 'JOB_DATA_GONE']);
      const reprintRest = await rest(t, ADMIN, 'POST', `/jobs/${jobs[0]!.id}/reprint`, {});
      assert.deepEqual([reprintRest.status, (reprintRest.body['error'] as Err).code], [410, 'JOB_DATA_GONE']);
      // The job itself stays in the history; the newer ones keep their bytes, the unfinished one too.
      assert.deepEqual((await admin.call<JobView>('job.get', { job: jobs[0]!.id })).name, 'job 0');
      for (const i of [1, 2, 3]) assert.equal((await admin.call<JobData>('job.data', { job: jobs[i]!.id })).data, content(i), `job ${i}`);
      const copy = await admin.call<JobView>('job.reprint', { job: jobs[1]!.id });
      assert.equal(copy.name, 'job 1');
      await admin.call('job.cancel', { job: copy.id });

      // A restart with a smaller budget applies it at the first sweep.
      admin.close();
      t = await t.restart({ retention: { finishedDataMaxBytes: JOB } });
      const again = await TestClient.connect(t);
      // Kept now: jobs 1, 2 and the copy of 1, 300 bytes; 100 fit, the newest.
      for (const i of [1, 2]) assert.equal(errorOf(await again.request('job.data', { job: jobs[i]!.id })).code, 'JOB_DATA_GONE', `job ${i}`);
      assert.equal((await again.call<JobData>('job.data', { job: copy.id })).data, content(1));
      again.close();
    } finally {
      await t.close();
    }
  });

  it('0 keeps none; the bytes go with the row when the sweep prunes it', async () => {
    const t = await startTestServer({ heartbeatMs: 60_000, retention: { finishedDataMaxBytes: 0 } });
    try {
      registerDevice(t, 'kd0');
      reportPorts(t, 'kd0');
      const admin = await TestClient.connect(t);
      const job = await admin.call<JobView>('job.submit', { printer: 'kd0/0', data: content(1) });
      assert.equal((await admin.call<JobData>('job.data', { job: job.id })).data, content(1), 'unfinished: held');
      await admin.call('job.cancel', { job: job.id });
      assert.equal(errorOf(await admin.request('job.data', { job: job.id })).code, 'JOB_DATA_GONE');
      admin.close();
    } finally {
      await t.close();
    }
    const p = await startTestServer({ heartbeatMs: 60_000, retention: { sweepMs: 50, finishedMaxAgeMs: 1 } });
    try {
      registerDevice(p, 'kdp');
      reportPorts(p, 'kdp');
      const admin = await TestClient.connect(p);
      const job = await admin.call<JobView>('job.submit', { printer: 'kdp/0', data: content(2) });
      await admin.call('job.cancel', { job: job.id });
      await eventually(async () => ((await admin.request('job.data', { job: job.id }))['error'] as Err | undefined)?.code === 'UNKNOWN_JOB', 'the sweep pruned the job');
      const store = openStore(p.dataDir);
      const { n } = store.db.prepare('SELECT count(*) AS n FROM job_data').get() as { n: number };
      store.close();
      assert.equal(n, 0, 'no bytes left behind');
      admin.close();
    } finally {
      await p.close();
    }
  });
});
