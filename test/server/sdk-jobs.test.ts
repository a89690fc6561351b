// The SDK's side of job names, search, job bytes and reprints, against a
// real server: print() and submit() send `name`, jobs() sends `q`,
// jobData() answers the bytes as a Uint8Array, reprint() queues a new job
// (idempotent under a key), errors carry the server's codes, and LiveState
// keeps every job's name.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { connect, fromBase64, base64, LiveState, PrintbridgeError, type JobView, type PrintbridgeClient, type WebSocketConstructor } from '../../sdk/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, deviceDoes, eventually, registerDevice, reportPorts } from './peers.js';

describe('sdk: names, search, job bytes and reprints', () => {
  let t: TestServer;
  let dev: FakeDevice;
  let pb: PrintbridgeClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, retention: { finishedDataMaxBytes: 64 } });
    registerDevice(t, 'sdk-off');
    reportPorts(t, 'sdk-off');
    dev = await FakeDevice.connect(t, 'sdk-1', registerDevice(t, 'sdk-1'));
    pb = connect({ url: t.server.url, token: 'test-admin-token', WebSocket: WebSocket as unknown as WebSocketConstructor });
    await pb.ready();
  });
  after(async () => {
    await pb?.close();
    dev?.close();
    await t?.close();
  });

  it('base64 both ways, for every length and byte', () => {
    for (let n = 0; n < 70; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      assert.deepEqual(fromBase64(base64(b)), b);
      assert.equal(base64(b), Buffer.from(b).toString('base64'));
    }
    assert.throws(() => fromBase64('abc'), TypeError);
    assert.throws(() => fromBase64('ab!d'), TypeError);
  });

  it('print() with a name, found again with jobs({q}), its bytes with jobData(), printed again with reprint()', async () => {
    const live = new LiveState(pb);
    await live.start();
    const content = 'Table 7\n2 x Espresso\n\n\n';
    const printing = pb.print('sdk-1/0', content, { name: 'Table 7 — bill' });
    assert.equal((await deviceDoes(dev)).toString(), content);
    const done = await printing;
    const first = done.id;
    assert.deepEqual([done.name, done.state], ['Table 7 — bill', 'done']);
    assert.equal(live.jobs.get(first)?.name, 'Table 7 — bill');
    assert.deepEqual(live.findJobs('BILL').map((j) => j.id), [first]);

    assert.deepEqual((await pb.jobs({ q: 'table 7' })).map((j) => j.id), [first]);
    assert.deepEqual(await pb.jobs({ q: 'table 7', state: 'queued' }), []);

    const { job, data } = await pb.jobData(first);
    assert.ok(data instanceof Uint8Array);
    assert.equal(Buffer.from(data).toString(), content);
    assert.equal(job.name, 'Table 7 — bill');

    const copy = await pb.reprint(first, { printer: 'sdk-off/0', key: 'bill-7-copy' });
    assert.deepEqual([copy.printer, copy.name, copy.state], ['sdk-off/0', 'Table 7 — bill', 'queued']);
    assert.equal((await pb.reprint(first, { printer: 'sdk-off/0', key: 'bill-7-copy' })).id, copy.id, 'the same key answers the same job');
    const renamed = await pb.reprint(first, { printer: 'sdk-off/0', name: 'second copy' });
    assert.equal(renamed.name, 'second copy');
    await eventually(() => live.jobs.get(renamed.id)?.name === 'second copy', 'the live state has the reprint by name');
    for (const j of [copy, renamed]) await pb.cancel(j.id);
    live.detach();
  });

  it('submit() sends the name; a view without one keeps the name LiveState knows', async () => {
    const live = new LiveState(pb);
    await live.start();
    const job = await pb.submit('sdk-off/0', { lines: ['a', 'b'] }, { name: 'lines.txt', eol: 'crlf' });
    assert.equal(job.name, 'lines.txt');
    await eventually(() => live.jobs.get(job.id)?.name === 'lines.txt', 'the live state has the job by name');
    const canceled = await pb.cancel(job.id);
    const { name: _dropped, ...withoutName } = canceled;
    live.merge([{ ...withoutName, updated: canceled.updated + 1 } as JobView]);
    assert.equal(live.jobs.get(job.id)?.name, 'lines.txt');
    live.detach();
  });

  it('rejects with the server codes: JOB_DATA_GONE past the budget, UNKNOWN_PRINTER for jobs of a printer that never was', async () => {
    // The budget is 64 bytes: two finished 40-byte jobs do not fit, the older loses its bytes.
    const a = await pb.submit('sdk-off/0', new Uint8Array(40).fill(1));
    const b = await pb.submit('sdk-off/0', new Uint8Array(40).fill(2));
    await pb.cancel(a.id);
    await pb.cancel(b.id);
    await assert.rejects(pb.jobData(a.id), (e: unknown) => e instanceof PrintbridgeError && e.code === 'JOB_DATA_GONE');
    await assert.rejects(pb.reprint(a.id), (e: unknown) => e instanceof PrintbridgeError && e.code === 'JOB_DATA_GONE');
    assert.deepEqual([...(await pb.jobData(b.id)).data], [...new Uint8Array(40).fill(2)]);
    await assert.rejects(pb.jobs({ printer: 'nope/0' }), (e: unknown) => e instanceof PrintbridgeError && e.code === 'UNKNOWN_PRINTER');
  });
});
