// job.data of a job too large for one answer. A WebSocket answer must fit in
// what the server lets one client have unsent (maxClientBuffer), or a client
// that does not read it at once is closed as a slow consumer; beyond that
// job.data answers REPLY_TOO_LARGE naming the REST download, which sends the
// bytes themselves (Accept: application/octet-stream or ?raw=1) in any size,
// to whoever may see the job.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { JobData, JobView } from '../../protocol/client-messages.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { registerDevice, reportPorts, rest, TestClient } from './peers.js';

const ADMIN = 'test-admin-token';
const UNSENT = 64 * 1024;
type Err = { code: string; message: string };

/** A REST GET of a job's bytes, answered raw or as JSON. */
async function download(t: TestServer, token: string, id: string, how: { accept?: string; query?: string } = {}): Promise<Response> {
  return fetch(`${t.server.url}/api/v1/jobs/${encodeURIComponent(id)}/data${how.query ?? ''}`, {
    headers: { authorization: `Bearer ${token}`, ...(how.accept === undefined ? {} : { accept: how.accept }) },
  });
}

/** The name a Content-Disposition gives exactly (filename*, RFC 6266). */
function dispositionName(header: string | null): string | undefined {
  const m = /filename\*=UTF-8''([^;\s]+)/.exec(header ?? '');
  return m === null ? undefined : decodeURIComponent(m[1] as string);
}

describe('job.data within maxClientBuffer; the REST download for any size', () => {
  let t: TestServer;
  let admin: TestClient;

  /** Submits `size` random bytes under `name` to the offline printer. */
  async function submit(size: number, name: string): Promise<{ job: JobView; bytes: Buffer }> {
    const bytes = randomBytes(size);
    const job = await admin.call<JobView>('job.submit', { printer: 'big/0', data: bytes.toString('base64'), name });
    return { job, bytes };
  }

  /** job.data's whole answer as it came, under a request id of a fixed length. */
  async function jobData(id: string, re: string): Promise<{ reply: Record<string, unknown>; bytes: number }> {
    admin.sendJson({ id: re, op: 'job.data', job: id });
    const item = await admin.inbox.take((x) => x.kind === 'text' && x.json['re'] === re, `job.data ${re}`);
    assert.equal(item.kind, 'text');
    return { reply: item.kind === 'text' ? item.json : {}, bytes: item.kind === 'text' ? Buffer.byteLength(item.raw) : 0 };
  }

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxClientBuffer: UNSENT, maxJobBytes: 512 * 1024 } });
    registerDevice(t, 'big');
    reportPorts(t, 'big');
    admin = await TestClient.connect(t);
  });
  after(async () => {
    admin?.close();
    await t?.close();
  });

  it('answers up to maxClientBuffer bytes over WebSocket, REPLY_TOO_LARGE naming the download one base64 group beyond', async () => {
    // What the answer carries besides the base64, measured on a job whose size has as many digits as the ones at
    // the bound, whose name is as long and asked for under an id as long.
    const probe = await submit(30_000, 'job-a.bin');
    const measured = await jobData(probe.job.id, 're-1');
    const around = measured.bytes - (probe.bytes.length / 3) * 4;
    const fitting = Math.floor((UNSENT - around) / 4) * 3;
    assert.equal(String(fitting).length, String(probe.bytes.length).length, 'the sizes have as many digits');

    const fits = await submit(fitting, 'job-b.bin');
    const answered = await jobData(fits.job.id, 're-2');
    assert.equal(answered.reply['ok'], true);
    assert.ok(answered.bytes <= UNSENT && answered.bytes > UNSENT - 4, `${answered.bytes} bytes: at the bound`);
    assert.deepEqual(Buffer.from((answered.reply['result'] as JobData).data, 'base64'), fits.bytes);

    const over = await submit(fitting + 1, 'job-c.bin');
    const refused = await jobData(over.job.id, 're-3');
    assert.equal(refused.reply['ok'], false, `answered ${refused.bytes} bytes`);
    const error = refused.reply['error'] as Err;
    assert.equal(error.code, 'REPLY_TOO_LARGE');
    assert.ok(error.message.includes(`GET /api/v1/jobs/${over.job.id}/data`) && error.message.includes('application/octet-stream'), error.message);
    assert.equal(await admin.call('ping'), 'pong', 'the connection stays open');

    // REST's JSON answer is held to the same bound: 406, the bytes are there raw.
    const json = await rest(t, ADMIN, 'GET', `/jobs/${over.job.id}/data`);
    assert.deepEqual([json.status, (json.body['error'] as Err).code], [406, 'REPLY_TOO_LARGE']);
    assert.equal((await rest(t, ADMIN, 'GET', `/jobs/${fits.job.id}/data`)).status, 200);
  });

  it('REST sends the bytes of any job raw, with their length and the job\'s name', async () => {
    const name = 'Bon №7 "final"/copy.bin';
    const { job, bytes } = await submit(512 * 1024, name);
    for (const how of [{ accept: 'application/octet-stream' }, { query: '?raw=1' }, { accept: 'application/octet-stream, application/json;q=0.5' }]) {
      const res = await download(t, ADMIN, job.id, how);
      assert.equal(res.status, 200, JSON.stringify(how));
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.equal(res.headers.get('content-length'), String(bytes.length));
      const disposition = res.headers.get('content-disposition');
      assert.equal(dispositionName(disposition), name);
      // The plain filename is for clients that read only it: one line of ASCII, no quote or path inside.
      assert.match(disposition ?? '', /^attachment; filename="[\x20-\x21\x23-\x2e\x30-\x5b\x5d-\x7e]*";/);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    }
    // JSON unless asked otherwise; a job without a name is named by its id.
    const unnamed = await admin.call<JobView>('job.submit', { printer: 'big/0', data: 'AAEC' });
    const res = await download(t, ADMIN, unnamed.id, { query: '?raw=true' });
    assert.equal(dispositionName(res.headers.get('content-disposition')), unnamed.id);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from([0, 1, 2]));
    const asJson = await download(t, ADMIN, unnamed.id, { accept: 'application/json, application/octet-stream' });
    assert.equal(asJson.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(((await asJson.json()) as JobData).data, 'AAEC');
    const bad = await download(t, ADMIN, unnamed.id, { query: '?raw=yes' });
    assert.deepEqual([bad.status, ((await bad.json()) as { error: Err }).error.code], [400, 'BAD_FIELD']);
  });

  it('the download goes by the rules of job.data: scope, the job\'s owner, the job and its bytes still there', async () => {
    const issue = async (scopes: string[]): Promise<string> => (await admin.call<{ token: string }>('token.issue', { scopes })).token;
    const owner = await issue(['print']);
    const ownerConn = await TestClient.connect(t, owner);
    const mine = await ownerConn.call<JobView>('job.submit', { printer: 'big/0', data: 'b3du', name: 'own' });
    ownerConn.close();
    const raw = { accept: 'application/octet-stream' };
    assert.equal((await download(t, owner, mine.id, raw)).status, 200);
    for (const [token, code, status] of [
      [await issue(['print']), 'FORBIDDEN', 403],
      [await issue(['control']), 'FORBIDDEN', 403],
      ['wrong-token', 'UNAUTHORIZED', 401],
    ] as const) {
      const res = await download(t, token, mine.id, raw);
      assert.deepEqual([res.status, ((await res.json()) as { error: Err }).error.code], [status, code]);
    }
    assert.equal((await download(t, await issue(['print', 'jobs:any']), mine.id, raw)).status, 200);
    const unknown = await download(t, ADMIN, 'no-such-job', raw);
    assert.deepEqual([unknown.status, ((await unknown.json()) as { error: Err }).error.code], [404, 'UNKNOWN_JOB']);
  });

  it('JOB_DATA_GONE (410) once retention dropped the bytes', async () => {
    const gone = await startTestServer({ heartbeatMs: 60_000, retention: { finishedDataMaxBytes: 0 } });
    try {
      registerDevice(gone, 'g');
      reportPorts(gone, 'g');
      const c = await TestClient.connect(gone);
      const job = await c.call<JobView>('job.submit', { printer: 'g/0', data: 'AAEC' });
      await c.call('job.cancel', { job: job.id });
      const res = await download(gone, ADMIN, job.id, { query: '?raw=1' });
      assert.deepEqual([res.status, ((await res.json()) as { error: Err }).error.code], [410, 'JOB_DATA_GONE']);
      c.close();
    } finally {
      await gone.close();
    }
  });
});
