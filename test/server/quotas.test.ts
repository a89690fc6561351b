// Storage quotas over real sockets: the bytes of unfinished jobs are bounded
// per printer, per client token and for the whole server (QUOTA_EXCEEDED, and
// the server goes on serving), the bytes count again once a job finishes;
// jobs go only to ports a device reported, online or offline; and the
// database file shrinks once finished jobs are swept.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { DEFAULT_LIMITS } from '../../server/limits.js';
import { DB_FILE, openDatabase, openStore } from '../../server/store/db.js';
import { removeDevice } from '../../server/store/devices.js';
import { failDeviceJobs } from '../../server/store/jobs.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, eventually, health, registerDevice, reportPorts } from './peers.js';

type Err = { code: string; message: string };

const MiB = 1024 * 1024;
const bytes = (n: number) => Buffer.alloc(n, 0x41).toString('base64');
const PORTS = [0, 1, 2, 3].map((port) => ({ port, dialect: 'raw' }));

describe('quotas: bytes of unfinished jobs', () => {
  let t: TestServer;
  let admin: TestClient;
  let dev: FakeDevice;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxPrinterQueueBytes: 1000, maxTokenQueueBytes: 1500, maxQueuedBytes: 2500 } });
    admin = await TestClient.connect(t);
    // Online but silent: what it is offered stays unfinished.
    dev = await FakeDevice.connect(t, 'qt', registerDevice(t, 'qt'), { ports: PORTS });
  });
  after(() => t.close());

  it('has defaults: 64 MiB per printer, 128 MiB per client token, 512 MiB in all', () => {
    assert.equal(DEFAULT_LIMITS.maxPrinterQueueBytes, 64 * MiB);
    assert.equal(DEFAULT_LIMITS.maxTokenQueueBytes, 128 * MiB);
    assert.equal(DEFAULT_LIMITS.maxQueuedBytes, 512 * MiB);
  });

  it('a printer: a job that would pass its quota is QUOTA_EXCEEDED until a job of it finishes; other printers and clients are served', async () => {
    const first = await admin.call<JobView>('job.submit', { printer: 'qt/0', data: bytes(600) });
    await admin.call<JobView>('job.submit', { printer: 'qt/0', data: bytes(400) });
    const over = await admin.request('job.submit', { printer: 'qt/0', data: bytes(1) });
    assert.equal(over['ok'], false);
    assert.equal((over['error'] as Err).code, 'QUOTA_EXCEEDED');
    assert.match((over['error'] as Err).message, /printer qt\/0 holds 1000 bytes of unfinished jobs; 1 more would pass 1000/);

    // REST says the same, and the server goes on serving everyone.
    const rest = await fetch(`${t.server.url}/api/v1/jobs?printer=qt/0`, {
      method: 'POST', headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/octet-stream' }, body: 'x',
    });
    assert.equal(rest.status, 409);
    assert.equal(((await rest.json()) as { error: Err }).error.code, 'QUOTA_EXCEEDED');
    assert.equal((await admin.call<JobView>('job.submit', { printer: 'qt/1', data: bytes(10) })).size, 10);
    const other = await TestClient.connect(t);
    assert.equal(await other.call('ping'), 'pong');
    other.close();
    assert.equal((await health(t)).devices, 1);
    assert.equal(dev.ws.readyState, dev.ws.OPEN);

    // A finished job's bytes no longer count.
    await admin.call('job.cancel', { job: first.id });
    assert.equal((await admin.call<JobView>('job.submit', { printer: 'qt/0', data: bytes(600) })).size, 600);
    await admin.call('printer.cancel', { printer: 'qt/0' });
    await admin.call('printer.cancel', { printer: 'qt/1' });
  });

  it('the server: the unfinished jobs of all printers together stay within maxQueuedBytes', async () => {
    for (const [printer, size] of [['qt/0', 1000], ['qt/1', 1000], ['qt/2', 500]] as const) {
      await admin.call('job.submit', { printer, data: bytes(size) });
    }
    const over = await admin.request('job.submit', { printer: 'qt/3', data: bytes(1) });
    assert.equal((over['error'] as Err).code, 'QUOTA_EXCEEDED');
    assert.match((over['error'] as Err).message, /the server holds 2500 bytes/);
    for (const port of [0, 1, 2]) await admin.call('printer.cancel', { printer: `qt/${port}` });
    assert.equal((await admin.call<JobView>('job.submit', { printer: 'qt/3', data: bytes(1) })).size, 1);
    await admin.call('printer.cancel', { printer: 'qt/3' });
  });

  it('a client token: its unfinished jobs stay within maxTokenQueueBytes, while others may still submit', async () => {
    const issued = await admin.call<{ token: string }>('token.issue', { ttl: 60 });
    const browser = await TestClient.connect(t, issued.token);
    await browser.call('job.submit', { printer: 'qt/0', data: bytes(1000) });
    await browser.call('job.submit', { printer: 'qt/1', data: bytes(500) });
    const over = await browser.request('job.submit', { printer: 'qt/2', data: bytes(1) });
    assert.equal((over['error'] as Err).code, 'QUOTA_EXCEEDED');
    assert.match((over['error'] as Err).message, /this client token holds 1500 bytes/);
    assert.equal((await admin.call<JobView>('job.submit', { printer: 'qt/2', data: bytes(1) })).size, 1);
    browser.close();
    for (const port of [0, 1, 2]) await admin.call('printer.cancel', { printer: `qt/${port}` });
  });

  it('the jobs another process failed (devices remove --offline) free their bytes', async () => {
    registerDevice(t, 'qt-gone');
    reportPorts(t, 'qt-gone', PORTS);
    for (const port of [0, 1]) await admin.call('job.submit', { printer: `qt-gone/${port}`, data: bytes(1000) });
    assert.equal(((await admin.request('job.submit', { printer: 'qt/0', data: bytes(600) }))['error'] as Err).code, 'QUOTA_EXCEEDED');
    const store = openStore(t.dataDir);
    try {
      store.db.transaction(() => removeDevice(store, 'qt-gone') && failDeviceJobs(store, 'qt-gone', Date.now()))();
    } finally {
      store.close();
    }
    await eventually(async () => (await admin.request('job.submit', { printer: 'qt/0', data: bytes(600) }))['ok'] === true, 'the freed bytes count');
    await admin.call('printer.cancel', { printer: 'qt/0' });
  });
});

describe('quotas: the defaults against a client token that writes 16 MiB jobs', () => {
  it('takes 8 of them (128 MiB), refuses the rest with QUOTA_EXCEEDED, and the database stays below 200 MiB', async () => {
    const t = await startTestServer({ heartbeatMs: 60_000 });
    try {
      const admin = await TestClient.connect(t);
      registerDevice(t, 'bulk');
      reportPorts(t, 'bulk', PORTS);
      const { token } = await admin.call<{ token: string }>('token.issue', { ttl: 600 });
      const body = Buffer.alloc(16 * MiB, 0x41);
      const codes: string[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await fetch(`${t.server.url}/api/v1/jobs?printer=bulk/${i % 4}`, {
          method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body,
        });
        codes.push(res.ok ? 'ok' : ((await res.json()) as { error: Err }).error.code);
      }
      assert.deepEqual(codes, [...Array<string>(8).fill('ok'), ...Array<string>(4).fill('QUOTA_EXCEEDED')]);
      const files = [DB_FILE, `${DB_FILE}-wal`].map((f) => join(t.dataDir, f)).filter(existsSync).reduce((n, f) => n + statSync(f).size, 0);
      assert.ok(files < 200 * MiB, `${files} bytes on disk`);
      assert.equal(await admin.call('ping'), 'pong');
      admin.close();
    } finally {
      await t.close();
    }
  });
});

describe('quotas: jobs only for ports a device reported', () => {
  let t: TestServer;
  let admin: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    admin = await TestClient.connect(t);
  });
  after(() => t.close());

  it('a device that never connected has no printers; once it reported ports 0 and 1 only those take jobs, offline too', async () => {
    const token = registerDevice(t, 'fresh');
    for (let port = 0; port < 256; port++) {
      const reply = await admin.request('job.submit', { printer: `fresh/${port}`, data: bytes(3) });
      assert.equal((reply['error'] as Err).code, 'UNKNOWN_PRINTER', `port ${port}`);
      assert.match((reply['error'] as Err).message, /has not reported its ports yet/);
    }
    assert.equal((await admin.call<unknown[]>('jobs.list')).length, 0, 'nothing was stored');

    const dev = await FakeDevice.connect(t, 'fresh', token, { ports: PORTS.slice(0, 2) });
    assert.equal(((await admin.request('job.submit', { printer: 'fresh/5', data: bytes(3) }))['error'] as Err).code, 'UNKNOWN_PRINTER');
    dev.close();
    await eventually(async () => (await health(t)).devices === 0, 'the device is offline');

    // Queuing for an offline printer it reported is a feature.
    assert.equal((await admin.call<JobView>('job.submit', { printer: 'fresh/1', data: bytes(3) })).state, 'queued');
    assert.equal(((await admin.request('job.submit', { printer: 'fresh/5', data: bytes(3) }))['error'] as Err).code, 'UNKNOWN_PRINTER');
  });
});

describe('quotas: the database gives back what finished jobs freed', () => {
  it('the file shrinks once jobs finish and the sweep runs', async () => {
    const t = await startTestServer({ heartbeatMs: 60_000, retention: { sweepMs: 100, finishedMaxAgeMs: 1 } });
    try {
      const admin = await TestClient.connect(t);
      const dev = await FakeDevice.connect(t, 'big', registerDevice(t, 'big'), { ports: PORTS });
      const files = () => [DB_FILE, `${DB_FILE}-wal`].map((f) => join(t.dataDir, f)).filter(existsSync).reduce((n, f) => n + statSync(f).size, 0);
      const jobs: JobView[] = [];
      for (let i = 0; i < 8; i++) jobs.push(await admin.call<JobView>('job.submit', { printer: `big/${i % 4}`, data: bytes(MiB) }));
      const full = files();
      assert.ok(full > 8 * MiB, `${full} bytes hold the jobs`);
      for (const job of jobs) await admin.call('job.cancel', { job: job.id });
      await eventually(() => files() < 2 * MiB, `the files shrink below 2 MiB from ${full} bytes`);
      const compacted = t.logs.filter((l) => l.msg === 'job sweep').reduce((n, l) => n + Number(l.fields?.['compacted'] ?? 0), 0);
      assert.ok(compacted > 6 * MiB, `the sweeps say they gave back ${compacted} bytes`);
      dev.close();
      admin.close();
    } finally {
      await t.close();
    }
  });

  it('a file made without incremental vacuum is switched to it when opened', () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    const old = openDatabase(join(dir, DB_FILE));
    old.pragma('journal_mode = WAL');
    old.exec('CREATE TABLE leftover (x BLOB)');
    assert.equal(old.pragma('auto_vacuum', { simple: true }), 0);
    old.close();
    const store = openStore(dir);
    try {
      assert.equal(store.db.pragma('auto_vacuum', { simple: true }), 2, 'INCREMENTAL');
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
