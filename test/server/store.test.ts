// The SQLite store on real files: migrations on a fresh file, device tokens
// stored only as hashes, job constraints, and the admin token that is
// generated once and then reused.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PrintbridgeError } from '../../server/errors.js';
import { resolveLimits } from '../../server/limits.js';
import { adminTokenPath, loadOrCreateAdminToken, startServer } from '../../server/server.js';
import { DB_FILE, openDatabase, MIGRATIONS, openStore, schemaVersion } from '../../server/store/db.js';
import { addDevice, getDevice, listDevices, recordHello, removeDevice, verifyDeviceToken } from '../../server/store/devices.js';
import {
  getJob, insertJob, jobData, listJobs, nextPendingJob, pausedPrinters, pruneFinishedJobs, queuedBefore, saveJob, setPrinterPaused, type JobRecord,
} from '../../server/store/jobs.js';
import { tempDir } from '../helpers/server.js';

const dirs: string[] = [];
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('store: schema', () => {
  it('migrates a fresh file to the latest version in WAL mode, and reopening changes nothing', () => {
    const d = dir();
    const store = openStore(join(d, 'nested', 'data'));
    assert.equal(schemaVersion(store.db), MIGRATIONS.length);
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('busy_timeout', { simple: true }), 5000);
    const columns = (table: string) => (store.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
    assert.deepEqual(columns('jobs'), [
      'id', 'printer', 'device', 'port', 'idem_key', 'state', 'size', 'data', 'written', 'started', 'error_code', 'error_message', 'created', 'updated',
      'held', 'started_at', 'finished_at', 'resume', 'owner', 'name',
    ]);
    assert.deepEqual(columns('printer_queues'), ['printer', 'paused', 'updated']);
    assert.deepEqual(columns('client_tokens'), ['id', 'token_hash', 'label', 'created', 'expires', 'revoked', 'scopes']);
    assert.deepEqual(columns('devices'), ['id', 'token_hash', 'tags', 'created', 'last_seen', 'fw', 'ports', 'address']);
    const indexes = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL").all() as { name: string }[]).map((i) => i.name);
    assert.ok(indexes.includes('jobs_queue') && indexes.includes('jobs_idem'));
    addDevice(store, 'keep', []);
    store.close();

    const again = openStore(join(d, 'nested', 'data'));
    assert.equal(schemaVersion(again.db), MIGRATIONS.length);
    assert.deepEqual(listDevices(again).map((x) => x.id), ['keep']);
    again.close();
  });

  it('refuses a database written by a newer schema', () => {
    const d = dir();
    openStore(d).close();
    const raw = openDatabase(join(d, DB_FILE));
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    assert.throws(() => openStore(d), /newer/);
  });

  it('allows one job per (printer, idempotency key), any number without a key; the same key again returns the first', () => {
    const store = openStore(dir());
    const job = (id: string, key?: string) => insertJob(store, { id, device: 'd', port: 0, key, data: new Uint8Array([1]) }, 1);
    job('a', 'k');
    job('b');
    job('c');
    // The same key again (another node's retry, say) stores nothing and answers with the first job.
    assert.equal(job('d', 'k').id, 'a');
    assert.equal(getJob(store, 'd'), undefined);
    assert.equal(jobData(store, 'd'), undefined);
    insertJob(store, { id: 'e', device: 'd', port: 1, key: 'k', data: new Uint8Array([1]) }, 1);
    store.close();
  });

  it('migrates a version 1 file: finished jobs get their finish time, data and rows are kept', () => {
    const d = dir();
    const raw = openDatabase(join(d, DB_FILE));
    raw.exec(MIGRATIONS[0] as string);
    raw.pragma('user_version = 1');
    raw.prepare("INSERT INTO jobs (id, printer, device, port, state, size, data, created, updated) VALUES ('a', 'd/0', 'd', 0, 'done', 1, NULL, 1, 5)").run();
    raw.prepare("INSERT INTO jobs (id, printer, device, port, state, size, data, created, updated) VALUES ('b', 'd/0', 'd', 0, 'queued', 1, x'07', 2, 2)").run();
    raw.close();
    const store = openStore(d);
    assert.equal(schemaVersion(store.db), MIGRATIONS.length);
    assert.deepEqual([getJob(store, 'a')?.finishedAt, getJob(store, 'a')?.held], [5, false]);
    assert.deepEqual([getJob(store, 'b')?.state, getJob(store, 'b')?.finishedAt], ['queued', undefined]);
    // Version 5 moved the bytes of the unfinished job out of its row.
    assert.deepEqual([...(jobData(store, 'b') ?? [])], [7]);
    assert.equal(store.db.prepare("SELECT data FROM jobs WHERE id = 'b'").pluck().get(), null);
    assert.equal(jobData(store, 'a'), undefined);
    store.close();
  });

  it('offers a started job first and lets nothing pass it while it is paused; held queued jobs are passed over', () => {
    const store = openStore(dir());
    const add = (id: string, created: number): JobRecord => insertJob(store, { id, device: 'd', port: 0, data: new Uint8Array([1]) }, created);
    const a = add('a', 1);
    const b = add('b', 2);
    add('c', 3);
    assert.equal(nextPendingJob(store, 'd/0')?.id, 'a');
    saveJob(store, { ...a, state: 'paused', held: true });
    assert.equal(nextPendingJob(store, 'd/0')?.id, 'b', 'a held job that never started is passed over');
    saveJob(store, { ...b, state: 'sending', started: true, startedAt: 4 });
    saveJob(store, { ...a, state: 'queued', held: false });
    assert.equal(nextPendingJob(store, 'd/0')?.id, 'b', 'the started job goes before an older queued one');
    saveJob(store, { ...b, state: 'paused', started: true, held: true });
    assert.equal(nextPendingJob(store, 'd/0'), undefined, 'a paused started job blocks the printer');
    assert.equal(nextPendingJob(store, 'd/1'), undefined);
    store.close();
  });

  it('lists by printer and state, newest first; finds queued jobs past a time; prunes finished jobs by age and count', () => {
    const store = openStore(dir());
    for (let i = 1; i <= 6; i++) insertJob(store, { id: `j${i}`, device: 'd', port: i % 2, data: new Uint8Array([i]) }, i);
    for (const [id, at] of [['j1', 10], ['j2', 20], ['j3', 30], ['j4', 40]] as const) {
      const job = getJob(store, id) as JobRecord;
      saveJob(store, { ...job, state: 'done', finishedAt: at, updated: at });
    }
    assert.deepEqual(listJobs(store, { limit: 10 }).map((j) => j.id), ['j6', 'j5', 'j4', 'j3', 'j2', 'j1']);
    assert.deepEqual(listJobs(store, { printer: 'd/1', limit: 10 }).map((j) => j.id), ['j5', 'j3', 'j1']);
    assert.deepEqual(listJobs(store, { state: 'queued', limit: 10 }).map((j) => j.id), ['j6', 'j5']);
    assert.deepEqual(listJobs(store, { printer: 'd/0', state: 'done', limit: 1 }).map((j) => j.id), ['j4']);
    assert.equal(getJob(store, 'j1')?.state, 'done');
    // A finished job keeps its bytes (for a reprint) apart from its row, until retention drops them.
    assert.deepEqual([...(jobData(store, 'j1') ?? [])], [1]);
    assert.equal(store.db.prepare("SELECT data FROM jobs WHERE id = 'j1'").pluck().get(), null, 'never in its row');
    assert.deepEqual(queuedBefore(store, 6, 10).map((j) => j.id), ['j5']);

    assert.equal(pruneFinishedJobs(store, 20, undefined), 1); // j1 finished at 10
    assert.equal(jobData(store, 'j1'), undefined, 'its bytes went with the row');
    assert.deepEqual([...(jobData(store, 'j2') ?? [])], [2]);
    assert.equal(pruneFinishedJobs(store, 20, undefined), 0);
    assert.equal(pruneFinishedJobs(store, undefined, 2), 1); // j2 is the oldest of three
    assert.deepEqual(listJobs(store, { limit: 10 }).map((j) => j.id), ['j6', 'j5', 'j4', 'j3']);
    store.close();
  });

  it('remembers paused printer queues', () => {
    const d = dir();
    const store = openStore(d);
    setPrinterPaused(store, 'd/0', true, 1);
    setPrinterPaused(store, 'd/1', true, 1);
    setPrinterPaused(store, 'd/1', false, 2);
    store.close();
    const again = openStore(d);
    assert.deepEqual([...pausedPrinters(again)], ['d/0']);
    again.close();
  });
});

describe('store: devices', () => {
  it('stores only a SHA-256 of the token and verifies against it', () => {
    const store = openStore(dir());
    const token = addDevice(store, 'esp-01', ['shop', 'shop', 'kitchen']);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const row = store.db.prepare('SELECT token_hash FROM devices WHERE id = ?').get('esp-01') as { token_hash: string };
    assert.equal(row.token_hash, createHash('sha256').update(token).digest('hex'));
    for (const file of [store.path, `${store.path}-wal`]) {
      if (existsSync(file)) assert.equal(readFileSync(file).includes(Buffer.from(token)), false, `token in ${file}`);
    }

    assert.equal(verifyDeviceToken(store, 'esp-01', token), true);
    assert.equal(verifyDeviceToken(store, 'esp-01', `${token}x`), false);
    assert.equal(verifyDeviceToken(store, 'esp-01', ''), false);
    assert.equal(verifyDeviceToken(store, 'esp-02', token), false);
    assert.notEqual(addDevice(store, 'esp-02', []), token);
    assert.deepEqual(getDevice(store, 'esp-01')?.tags, ['shop', 'kitchen']);
    store.close();
  });

  it('refuses a duplicate id with DEVICE_EXISTS and a malformed id or tag with BAD_FIELD', () => {
    const store = openStore(dir());
    addDevice(store, 'dup', []);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof PrintbridgeError);
        return e.code;
      }
      return 'no error';
    };
    assert.equal(code(() => addDevice(store, 'dup', [])), 'DEVICE_EXISTS');
    assert.equal(code(() => addDevice(store, 'has space', [])), 'BAD_FIELD');
    assert.equal(code(() => addDevice(store, 'x'.repeat(65), [])), 'BAD_FIELD');
    assert.equal(code(() => addDevice(store, 'ok', ['bad tag'])), 'BAD_FIELD');
    assert.equal(code(() => addDevice(store, 'A.b_c-9', [])), 'no error');
    store.close();
  });

  it('keeps the last hello and removes devices', () => {
    const store = openStore(dir());
    const token = addDevice(store, 'gone', ['t']);
    recordHello(store, 'gone', { fw: '1.2', ports: [{ port: 2, dialect: 'tspl' }], address: '10.0.0.9' }, 1234);
    assert.deepEqual(getDevice(store, 'gone'), {
      id: 'gone', tags: ['t'], created: getDevice(store, 'gone')?.created, lastSeen: 1234, fw: '1.2', ports: [{ port: 2, dialect: 'tspl' }], address: '10.0.0.9',
    });
    assert.equal(removeDevice(store, 'gone'), true);
    assert.equal(removeDevice(store, 'gone'), false);
    assert.equal(verifyDeviceToken(store, 'gone', token), false);
    assert.deepEqual(listDevices(store), []);
    store.close();
  });
});

describe('admin token', () => {
  const saved = process.env['PRINTBRIDGE_ADMIN_TOKEN'];
  after(() => {
    if (saved === undefined) delete process.env['PRINTBRIDGE_ADMIN_TOKEN'];
    else process.env['PRINTBRIDGE_ADMIN_TOKEN'] = saved;
  });

  it('is generated once into <dataDir>/admin-token (0600) and reused', () => {
    delete process.env['PRINTBRIDGE_ADMIN_TOKEN'];
    const d = dir();
    const first = loadOrCreateAdminToken(d);
    assert.equal(first.generated, true);
    assert.match(first.token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(statSync(adminTokenPath(d)).mode & 0o777, 0o600);
    assert.equal(readFileSync(adminTokenPath(d), 'utf8').trim(), first.token);
    assert.deepEqual(loadOrCreateAdminToken(d), { token: first.token, generated: false });
  });

  it('prefers an explicit token, then PRINTBRIDGE_ADMIN_TOKEN, over the file', () => {
    const d = dir();
    process.env['PRINTBRIDGE_ADMIN_TOKEN'] = 'from-env';
    assert.deepEqual(loadOrCreateAdminToken(d, 'given'), { token: 'given', generated: false });
    assert.deepEqual(loadOrCreateAdminToken(d), { token: 'from-env', generated: false });
    delete process.env['PRINTBRIDGE_ADMIN_TOKEN'];
    assert.equal(loadOrCreateAdminToken(d).generated, true);
  });

  it('is reported by the server as generated on the first start only', async () => {
    delete process.env['PRINTBRIDGE_ADMIN_TOKEN'];
    const d = dir();
    const quiet = () => undefined;
    const one = await startServer({ host: '127.0.0.1', port: 0, dataDir: d, log: quiet });
    await one.close();
    const two = await startServer({ host: '127.0.0.1', port: 0, dataDir: d, log: quiet });
    await two.close();
    assert.equal(one.adminTokenGenerated, true);
    assert.equal(two.adminTokenGenerated, false);
    assert.equal(two.adminToken, one.adminToken);
    assert.equal(readFileSync(adminTokenPath(d), 'utf8').trim(), one.adminToken);
  });
});

describe('limits', () => {
  it('fills defaults and rejects nonsense', () => {
    assert.equal(resolveLimits({ maxQueue: 5 }).maxQueue, 5);
    assert.equal(resolveLimits().maxJobBytes, 16 * 1024 * 1024);
    assert.throws(() => resolveLimits({ maxQueue: -1 }), RangeError);
    assert.throws(() => resolveLimits({ maxClients: 1.5 }), RangeError);
  });
});
