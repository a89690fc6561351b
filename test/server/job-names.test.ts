// Job names and search over real sockets: job.submit takes a `name`
// (stored, listed, in every view and event, kept across a restart), the
// same over REST (JSON or raw bytes with ?name=); jobs.list `q` finds jobs
// by a piece of the name in any case or by the start of the id; and
// jobs.list of a printer the server never heard of is UNKNOWN_PRINTER, not
// an empty list.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, registerDevice, reportPorts, rest } from './peers.js';

const ADMIN = 'test-admin-token';
type Err = { code: string; message: string };

function errorOf(reply: Record<string, unknown>): Err {
  assert.equal(reply['ok'], false, JSON.stringify(reply));
  return reply['error'] as Err;
}

describe('job names', () => {
  let t: TestServer;
  let admin: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    // Offline printers: jobs stay queued, as they were submitted.
    registerDevice(t, 'nm-1');
    reportPorts(t, 'nm-1', [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'zpl' }]);
    admin = await TestClient.connect(t);
    await admin.call('subscribe');
  });
  after(async () => {
    admin?.close();
    await t?.close();
  });

  it('is stored, answered, listed, in job.updated and still there after a restart', async () => {
    const job = await admin.call<JobView>('job.submit', { printer: 'nm-1/0', text: 'hello\n', name: 'Invoice 2024-117.pdf' });
    assert.equal(job.name, 'Invoice 2024-117.pdf');
    const event = await admin.event('job.updated', (e) => (e['job'] as JobView).id === job.id);
    assert.equal((event['job'] as JobView).name, 'Invoice 2024-117.pdf');
    assert.equal((await admin.call<JobView>('job.get', { job: job.id })).name, 'Invoice 2024-117.pdf');
    assert.equal((await admin.call<JobView[]>('jobs.list', { printer: 'nm-1/0' })).find((j) => j.id === job.id)?.name, 'Invoice 2024-117.pdf');
    // Every view of it carries the name, its end too.
    assert.equal((await admin.call<JobView>('job.cancel', { job: job.id })).name, 'Invoice 2024-117.pdf');

    const unnamed = await admin.call<JobView>('job.submit', { printer: 'nm-1/0', text: 'x' });
    assert.equal('name' in unnamed, false, 'no name when none was given');

    admin.close();
    t = await t.restart();
    admin = await TestClient.connect(t);
    await admin.call('subscribe');
    assert.equal((await admin.call<JobView>('job.get', { job: job.id })).name, 'Invoice 2024-117.pdf');
    const snapshot = await admin.call<{ jobs: JobView[] }>('subscribe');
    assert.equal(snapshot.jobs.find((j) => j.id === job.id)?.name, 'Invoice 2024-117.pdf');
  });

  it('refuses an empty name, one over 200 characters, or one with a control character: BAD_FIELD over WebSocket and REST', async () => {
    for (const name of ['', 'x'.repeat(201), 'two\nlines', 'tab\there', 'nul\u0000', 'del\u007f', 'c1\u0085', 42]) {
      const e = errorOf(await admin.request('job.submit', { printer: 'nm-1/0', text: 'x', name }));
      assert.equal(e.code, 'BAD_FIELD', JSON.stringify(name));
      assert.match(e.message, /name/);
      const viaRest = await rest(t, ADMIN, 'POST', '/jobs', { printer: 'nm-1/0', text: 'x', name });
      assert.deepEqual([viaRest.status, (viaRest.body['error'] as Err).code], [400, 'BAD_FIELD'], JSON.stringify(name));
    }
    const raw = await rest(t, ADMIN, 'POST', `/jobs?printer=nm-1/0&name=${encodeURIComponent('a\rb')}`, { raw: Buffer.from('x') });
    assert.deepEqual([raw.status, (raw.body['error'] as Err).code], [400, 'BAD_FIELD']);
    // 200 characters of any script are fine.
    const long = 'Ж'.repeat(200);
    assert.equal((await admin.call<JobView>('job.submit', { printer: 'nm-1/0', text: 'x', name: long })).name, long);
  });

  it('REST takes the name in the JSON body, or in the query with raw bytes', async () => {
    const json = await rest(t, ADMIN, 'POST', '/jobs', { printer: 'nm-1/1', text: '^XA^XZ', name: 'label.zpl' });
    assert.deepEqual([json.status, json.body['name']], [201, 'label.zpl']);
    const raw = await rest(t, ADMIN, 'POST', `/jobs?printer=nm-1/1&name=${encodeURIComponent('Étiquette 7.zpl')}`, { raw: Buffer.from('^XA^XZ') });
    assert.deepEqual([raw.status, raw.body['name']], [201, 'Étiquette 7.zpl']);
    const got = await rest(t, ADMIN, 'GET', `/jobs/${String(raw.body['id'])}`);
    assert.equal(got.body['name'], 'Étiquette 7.zpl');
  });

  it('jobs.list q finds a piece of the name in any case, or the start of an id; over WebSocket and REST', async () => {
    const submit = (name: string | undefined) => admin.call<JobView>('job.submit', { printer: 'nm-1/1', text: 'q', ...(name === undefined ? {} : { name }) });
    const shipping = await submit('Shipping-Label_ÄÖÜ.zpl');
    const packing = await submit('packing slip 12');
    const plain = await submit(undefined);
    const ids = async (q: string): Promise<string[]> => (await admin.call<JobView[]>('jobs.list', { printer: 'nm-1/1', q })).map((j) => j.id);

    assert.deepEqual(await ids('PING-label'), [shipping.id]);
    assert.deepEqual(await ids('äöü'), [shipping.id], 'case folds beyond ASCII');
    assert.deepEqual(await ids('ing'), [packing.id, shipping.id], 'newest first');
    assert.deepEqual(await ids('no such thing'), []);
    assert.deepEqual(await ids(plain.id.slice(0, 8)), [plain.id], 'an id prefix finds an unnamed job');
    assert.deepEqual(await ids(plain.id.slice(0, 8).toUpperCase()), [plain.id]);
    assert.deepEqual(await ids(plain.id.slice(4, 12)), [], 'the middle of an id is no prefix');
    // q works with the other filters and without a printer.
    assert.deepEqual((await admin.call<JobView[]>('jobs.list', { q: 'packing', state: 'queued' })).map((j) => j.id), [packing.id]);
    assert.deepEqual((await admin.call<JobView[]>('jobs.list', { q: 'packing', state: 'done' })).map((j) => j.id), []);

    const viaRest = await rest(t, ADMIN, 'GET', `/jobs?q=${encodeURIComponent('Shipping')}`);
    assert.deepEqual([viaRest.status, (viaRest.body as unknown as JobView[]).map((j) => j.id)], [200, [shipping.id]]);
    assert.equal(errorOf(await admin.request('jobs.list', { q: 'x'.repeat(201) })).code, 'BAD_FIELD');
    assert.equal((await rest(t, ADMIN, 'GET', `/jobs?q=${'x'.repeat(201)}`)).status, 400);
  });

  it('jobs.list of a printer the server neither knows nor holds jobs of is UNKNOWN_PRINTER; a gone printer with jobs still lists', async () => {
    for (const printer of ['nope/0', 'nm-1/7']) {
      const e = errorOf(await admin.request('jobs.list', { printer }));
      assert.equal(e.code, 'UNKNOWN_PRINTER', printer);
      const viaRest = await rest(t, ADMIN, 'GET', `/jobs?printer=${encodeURIComponent(printer)}`);
      assert.deepEqual([viaRest.status, (viaRest.body['error'] as Err).code], [404, 'UNKNOWN_PRINTER'], printer);
    }
    assert.equal(errorOf(await admin.request('jobs.list', { printer: 'no-port' })).code, 'BAD_FIELD');
    // A known printer without jobs is an empty list, not an error.
    registerDevice(t, 'nm-empty');
    reportPorts(t, 'nm-empty');
    assert.deepEqual(await admin.call('jobs.list', { printer: 'nm-empty/0' }), []);
    // A token that sees none of the jobs still hears that the printer does not exist.
    const { token } = await admin.call<{ token: string }>('token.issue', {});
    const plain = await TestClient.connect(t, token);
    assert.equal(errorOf(await plain.request('jobs.list', { printer: 'nope/0' })).code, 'UNKNOWN_PRINTER');
    assert.deepEqual(await plain.call('jobs.list', { printer: 'nm-1/0' }), []);
    plain.close();

    // The history of a removed device's printer is still there to list.
    registerDevice(t, 'nm-gone');
    reportPorts(t, 'nm-gone');
    const job = await admin.call<JobView>('job.submit', { printer: 'nm-gone/0', text: 'x', name: 'before removal' });
    await admin.call('device.remove', { device: 'nm-gone' });
    const listed = await admin.call<JobView[]>('jobs.list', { printer: 'nm-gone/0' });
    assert.deepEqual(listed.map((j) => [j.id, j.state, j.name]), [[job.id, 'failed', 'before removal']]);
  });
});
