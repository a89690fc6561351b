// REST at /api/v1 over real HTTP: every endpoint, the job submission with
// JSON and with raw bytes, holding the answer until the job is final
// (?wait=done, Prefer: wait=N), and errors as {error: {code, message}} with
// the HTTP status their code maps to. The same core serves it as the
// WebSocket: a job submitted over REST is seen by a WebSocket subscriber.

import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { httpStatus } from '../../server/transports/http-api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { deviceDoes, FakeDevice, TestClient, registerDevice } from './peers.js';

type Json = Record<string, unknown>;
type Job = { id: string; state: string; size: number; printer: string; key?: string; held?: boolean; resume?: boolean };
type Err = { error: { code: string; message: string } };

const ADMIN = { authorization: 'Bearer test-admin-token' };

describe('api: REST /api/v1', () => {
  let t: TestServer;
  let dev: FakeDevice;
  let watcher: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, controlTimeoutMs: 2000, limits: { maxJobBytes: 1024 } });
    registerDevice(t, 'r-off', ['back']);
    dev = await FakeDevice.connect(t, 'r-1', registerDevice(t, 'r-1', ['front']), { ports: [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'gcode' }] });
    watcher = await TestClient.connect(t);
    await watcher.call('subscribe');
  });
  after(() => t.close());

  async function call(method: string, path: string, opts: { body?: unknown; raw?: string | Buffer; type?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
    const headers: Record<string, string> = { ...ADMIN, ...opts.headers };
    let body: string | Buffer | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    } else if (opts.raw !== undefined) {
      body = opts.raw;
      headers['content-type'] = opts.type ?? 'application/octet-stream';
    }
    const res = await fetch(`${t.server.url}/api/v1${path}`, { method, headers, body });
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return { status: res.status, body: await res.json(), headers: res.headers };
  }


  it('GET /api/v1 says which server and protocol answer', async () => {
    const r = await call('GET', '');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body as Json).sort(), ['limits', 'server', 'v', 'version']);
  });

  it('GET /devices (with ?tag), /printers and /printers/{device}/{port}', async () => {
    const all = (await call('GET', '/devices')).body as { id: string; online: boolean }[];
    assert.deepEqual(all.map((d) => [d.id, d.online]), [['r-1', true], ['r-off', false]]);
    const back = (await call('GET', '/devices?tag=back')).body as { id: string }[];
    assert.deepEqual(back.map((d) => d.id), ['r-off']);
    const printers = (await call('GET', '/printers')).body as { id: string }[];
    assert.deepEqual(printers.map((p) => p.id), ['r-1/0', 'r-1/1']);
    const one = await call('GET', '/printers/r-1/1');
    assert.equal(one.status, 200);
    assert.equal((one.body as Json)['dialect'], 'gcode');
    const missing = await call('GET', '/printers/r-1/9');
    assert.equal(missing.status, 404);
    assert.equal((missing.body as Err).error.code, 'UNKNOWN_PRINTER');
  });

  it('POST /jobs with JSON: 201, Location, the job; a WebSocket subscriber sees it', async () => {
    const seen = watcher.event('job.updated', (e) => (e['job'] as Job).printer === 'r-1/0' && (e['job'] as Job).key === 'rest-1');
    const r = await call('POST', '/jobs', { body: { printer: 'r-1/0', lines: ['Total', '£5'], encoding: 'cp437', eol: 'crlf', key: 'rest-1' } });
    assert.equal(r.status, 201);
    const job = r.body as Job;
    assert.equal(r.headers.get('location'), `/api/v1/jobs/${job.id}`);
    assert.ok(['queued', 'sending'].includes(job.state), job.state); // offered at once to the online device
    assert.equal(((await seen)['job'] as Job).id, job.id);
    assert.deepEqual([...(await deviceDoes(dev, job.id))], [...Buffer.from('Total\r\n'), 0x9c, 0x35, 0x0d, 0x0a]);
    const again = await call('POST', '/jobs', { body: { printer: 'r-1/0', text: 'other', key: 'rest-1' } });
    assert.equal((again.body as Job).id, job.id, 'the same key returns the same job');
  });

  it('POST /jobs with raw bytes and ?printer=, held with ?wait=done until the job is done', async () => {
    const bytes = Buffer.from([0x1b, 0x40, 0x00, 0xff, 0x0a]);
    const pending = call('POST', '/jobs?printer=r-1/0&key=raw-1&wait=done', { raw: bytes });
    const start = await dev.jobStart();
    const id = start['id'] as string;
    dev.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    assert.deepEqual((await dev.frame()).payload, bytes);
    dev.sendJson({ t: 'job.done', id });
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal((r.body as Job).state, 'done');
    assert.equal((r.body as Job).key, 'raw-1');
    assert.equal(r.headers.get('preference-applied'), 'wait=60');
  });

  it('Prefer: wait=N is bounded: a job that is not final by then is answered 202 as it stands', async () => {
    await call('POST', '/printers/r-1/1/pause');
    const r = await call('POST', '/jobs', { body: { printer: 'r-1/1', lines: ['G28'], resume: true }, headers: { prefer: 'wait=1' } });
    assert.equal(r.status, 202);
    assert.equal((r.body as Job).state, 'queued');
    assert.equal((r.body as Job).resume, true);
    const canceled = await call('POST', '/printers/r-1/1/cancel');
    assert.equal(canceled.status, 200);
    assert.deepEqual(((canceled.body as { canceled: Job[] }).canceled).map((j) => j.state), ['canceled']);
    await call('POST', '/printers/r-1/1/resume');
  });

  it('GET /jobs with filters and /jobs/{id}; POST /jobs/{id}/pause, resume, cancel', async () => {
    await call('POST', '/printers/r-1/0/pause');
    const job = (await call('POST', '/jobs', { body: { printer: 'r-1/0', data: Buffer.from('hold me').toString('base64') } })).body as Job;
    const paused = await call('POST', `/jobs/${job.id}/pause`);
    assert.equal(paused.status, 200);
    assert.equal((paused.body as Job).held, true);
    const listed = (await call('GET', `/jobs?printer=r-1/0&state=paused&limit=5`)).body as Job[];
    assert.deepEqual(listed.map((j) => j.id), [job.id]);
    assert.equal(((await call('GET', '/jobs?limit=1')).body as Job[]).length, 1);
    assert.equal((await call('GET', '/jobs?limit=many')).status, 400);
    assert.equal((await call('GET', '/jobs?state=lost')).status, 400);
    assert.equal(((await call('POST', `/jobs/${job.id}/resume`)).body as Job).held, undefined);
    assert.equal(((await call('GET', `/jobs/${job.id}`)).body as Job).state, 'queued');
    assert.equal(((await call('POST', `/jobs/${job.id}/cancel`)).body as Job).state, 'canceled');
    const finished = await call('POST', `/jobs/${job.id}/cancel`);
    assert.deepEqual([finished.status, (finished.body as Err).error.code], [409, 'JOB_FINISHED']);
    const unknown = await call('GET', '/jobs/no-such-job');
    assert.deepEqual([unknown.status, (unknown.body as Err).error.code], [404, 'UNKNOWN_JOB']);
    await call('POST', '/printers/r-1/0/resume');
  });

  it('POST /printers/{d}/{p}/command relays to the device and answers its lines; offline is 503, a printer error 502', async () => {
    const pending = call('POST', '/printers/r-1/1/command', { body: { data: 'M105' } });
    const m = await dev.json((x) => x['t'] === 'control', 'control');
    assert.deepEqual(m['args'], { port: 1, data: 'M105' });
    dev.sendJson({ t: 'control.result', ref: m['ref'], ok: true, data: { lines: ['ok T:20.1'] } });
    const r = await pending;
    assert.equal(r.status, 200);
    assert.deepEqual((r.body as Json)['lines'], ['ok T:20.1']);

    const failing = call('POST', '/printers/r-1/1/command', { body: { data: 'M999' } });
    const m2 = await dev.json((x) => x['t'] === 'control', 'control');
    dev.sendJson({ t: 'control.result', ref: m2['ref'], ok: false, code: 'PRINTER_ERROR', message: 'printer reported an error: Error:Printer halted' });
    const f = await failing;
    assert.deepEqual([f.status, (f.body as Err).error.code], [502, 'PRINTER_ERROR']);

    const offline = await call('POST', '/printers/r-off/0/command', { body: { data: 'x' } });
    assert.deepEqual([offline.status, (offline.body as Err).error.code], [503, 'DEVICE_OFFLINE']);
  });

  it('POST /control relays to a tag with delivery reports', async () => {
    const pending = call('POST', '/control', { body: { to: { tag: 'front' }, name: 'identify', args: { seconds: 2 } } });
    const m = await dev.json((x) => x['t'] === 'control', 'control');
    dev.sendJson({ t: 'control.result', ref: m['ref'], ok: true });
    const r = await pending;
    assert.equal(r.status, 200);
    assert.deepEqual((r.body as { reports: unknown[] }).reports, [{ device: 'r-1', status: 'ok' }]);
    const bad = await call('POST', '/control', { body: { to: {}, name: 'identify' } });
    assert.deepEqual([bad.status, (bad.body as Err).error.code], [400, 'BAD_FIELD']);
  });

  it('POST /tokens issues (201), DELETE /tokens/{id} revokes, GET /clients lists connections', async () => {
    const issued = await call('POST', '/tokens', { body: { ttl: 120 } });
    assert.equal(issued.status, 201);
    const { id, token } = issued.body as { id: string; token: string };
    const asClient = await fetch(`${t.server.url}/api/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual([asClient.status, ((await asClient.json()) as Err).error.code], [403, 'FORBIDDEN']);
    const clients = (await call('GET', '/clients')).body as { subscribed: boolean; token: string }[];
    assert.ok(clients.some((c) => c.subscribed && c.token === 'admin'), 'the WebSocket watcher is listed');
    const revoked = await call('DELETE', `/tokens/${id}`);
    assert.equal(revoked.status, 200);
    assert.equal((revoked.body as Json)['revoked'], true);
    const after = await fetch(`${t.server.url}/api/v1/devices`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(after.status, 401);
  });

  it('answers errors as {error: {code, message}} with their HTTP status', async () => {
    const noAuth = await fetch(`${t.server.url}/api/v1/devices`);
    assert.equal(noAuth.status, 401);
    assert.match(noAuth.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal(((await noAuth.json()) as Err).error.code, 'UNAUTHORIZED');

    const cases: [string, string, Parameters<typeof call>[2], number, string][] = [
      ['GET', '/nothing-here', {}, 404, 'NOT_FOUND'],
      ['DELETE', '/jobs', {}, 405, 'METHOD_NOT_ALLOWED'],
      ['POST', '/jobs', { raw: 'printer=x', type: 'application/x-www-form-urlencoded' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['POST', '/jobs', { raw: '{"printer":', type: 'application/json' }, 400, 'BAD_JSON'],
      ['POST', '/jobs', { raw: '[1,2]', type: 'application/json' }, 400, 'BAD_MESSAGE'],
      ['POST', '/jobs', {}, 400, 'MISSING_FIELD'],
      ['POST', '/jobs', { body: { printer: 'r-1/0', text: 'x', encoding: 'ascii', eol: 'crlf', key: 'k'.repeat(129) } }, 400, 'BAD_FIELD'],
      ['POST', '/jobs', { body: { printer: 'r-1/0', text: '€', encoding: 'latin1' } }, 400, 'UNENCODABLE'],
      ['POST', '/jobs?printer=r-1/0', { raw: Buffer.alloc(1025) }, 413, 'JOB_TOO_LARGE'],
      ['POST', '/jobs', { body: { printer: 'nobody/0', text: 'x' } }, 404, 'UNKNOWN_PRINTER'],
      ['POST', '/jobs?wait=soon', { body: { printer: 'r-1/0', text: 'x' } }, 400, 'BAD_FIELD'],
      ['GET', '/printers/r-1/0/command', {}, 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const [method, path, opts, status, code] of cases) {
      const r = await call(method, path, opts);
      assert.deepEqual([r.status, (r.body as Err).error.code], [status, code], `${method} ${path}`);
      assert.equal(typeof (r.body as Err).error.message, 'string');
    }
    const wrongMethod = await call('PUT', '/printers');
    assert.equal(wrongMethod.headers.get('allow'), 'GET');
  });

  it('refuses a body larger than the bound from its Content-Length without reading it', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${t.server.url}/api/v1/jobs?printer=r-1/0`, {
        method: 'POST', headers: { ...ADMIN, 'content-type': 'application/octet-stream', 'content-length': String(50 * 1024 * 1024) },
      }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write(Buffer.alloc(100));
    });
    assert.equal(status, 413);
  });

  it('maps every blame to a status', () => {
    assert.deepEqual(
      ['BAD_FIELD', 'UNAUTHORIZED', 'TOKEN_EXPIRED', 'FORBIDDEN', 'RATE_LIMITED', 'ILLEGAL_TRANSITION', 'PORT_BUSY', 'QUEUE_FULL', 'TIMEOUT', 'PRINTER_UNREACHABLE', 'JOB_INTERRUPTED', 'INTERNAL'].map((c) => httpStatus(c as never)),
      [400, 401, 401, 403, 429, 409, 409, 503, 504, 502, 502, 500],
    );
  });
});
