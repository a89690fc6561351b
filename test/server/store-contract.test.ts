// The store's contract: one suite that every store implementation passes,
// run once per backend below. It pins down what the server relies on and
// what a port to another database gets wrong most easily: 64-bit times and
// sums that must come back as numbers, NULL that must read as undefined,
// job bytes (0x00, 0xFF, empty) returned exactly, ties in an ORDER BY broken
// by insertion order even after the rows were updated, ids sorted byte-wise
// whatever the database's collation, a search that folds 'É' and treats
// '%' and '_' as text, LIMIT -1 as no limit, and writes held back in memory
// reaching the database only when flushed.
//
// Each test gets a fresh place (a folder, a database); `open` may be called
// twice on one place, as a server and the CLI open one store.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, afterEach, describe, it } from 'node:test';
import { PrintbridgeError } from '../../server/errors.js';
import { openStore, type Store } from '../../server/store/db.js';
import {
  addDevice, checkBridgeLogin, checkDeviceLogin, flushPresence, getDevice, listDeviceIds, listDeviceIdsWithTag, listDevices,
  recordHello, recordHelloLater, registeredIds, removeDevice, touchDevice, verifyDeviceToken, WEBLINK_TAG, writeHellosNow,
} from '../../server/store/devices.js';
import {
  countUnfinished, dropJobData, failDeviceJobs, findJobByKey, finishedAmong, flushJobs, forgetDeviceQueues, getJob, hasJobData,
  hasJobsFor, insertJob, jobData, keptDataBytes, listJobs, nextPendingJob, oldestKeptData, pausedPrinters, pruneFinishedJobs,
  queuedBefore, saveJob, saveJobLater, setPrinterPaused, unfinishedByPrinter, unfinishedBytes, unfinishedJobs,
  type JobRecord, type NewJob,
} from '../../server/store/jobs.js';
import { claimDevices, FencedOut, fenceOf, liveOwners, nodesOf, ownerOf, releaseDevice, renewLeases } from '../../server/store/owners.js';
import { findTokenByHash, getToken, insertToken, pruneTokens, revokeToken } from '../../server/store/tokens.js';
import { startPostgres, type DatabaseOptions, type Postgres } from '../helpers/postgres.js';
import { randomBytes } from '../helpers/random.js';
import { tempDir } from '../helpers/server.js';

interface Backend {
  name: string;
  /** A new, empty place for a store: what `open` takes. */
  place(): Promise<string> | string;
  /** A store on `place`; a second one on the same place is a second connection to the same data. */
  open(place: string): Store | Promise<Store>;
  /** After the last test: removes what `place` made. */
  close(): Promise<void> | void;
}

const dirs: string[] = [];
function dir(): string {
  const d = tempDir('printbridge-contract-');
  dirs.push(d);
  return d;
}
function removeDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

const sqlite: Backend = {
  name: 'sqlite',
  place: dir,
  open: (place) => openStore(place),
  close: removeDirs,
};

// ---- PostgreSQL, run twice: on the cluster's C collation (lower() folds ASCII only) and on ICU's
// (ORDER BY puts 'a' before 'B'), as clusters in the field are set up either way.
let cluster: Postgres | undefined;
function postgres(name: string, db: DatabaseOptions): Backend {
  return {
    name,
    async place() {
      cluster ??= await startPostgres();
      return cluster.createDatabase(undefined, db);
    },
    open: (url) => openStore(dir(), url),
    close: removeDirs,
  };
}
after(() => cluster?.stop());
const POSTGRES_BACKENDS = [postgres('postgres (C collation)', {}), postgres('postgres (ICU collation)', { icuLocale: 'und' })];

const BACKENDS: Backend[] = [sqlite, ...POSTGRES_BACKENDS];

/** Past 2^31 ms, so that a 32-bit column or a bigint read as a string shows. */
const T = 1_700_000_000_000;

const hello = { fw: '1.2.3', ports: [{ port: 0, dialect: 'zpl' as const, name: 'Label' }, { port: 1, dialect: 'raw' as const }], address: '10.0.0.7' };

function bytesOf(data: Uint8Array | undefined): Buffer | undefined {
  return data === undefined ? undefined : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

for (const backend of BACKENDS) {
  describe(`store contract: ${backend.name}`, () => {
    const opened: Store[] = [];
    let place = '';
    /** A fresh place and a store on it; `again()` opens a second store on the same place. */
    async function fresh(): Promise<Store> {
      place = await backend.place();
      return again();
    }
    async function again(): Promise<Store> {
      const store = await backend.open(place);
      opened.push(store);
      return store;
    }
    afterEach(() => {
      for (const store of opened.splice(0)) store.close();
    });
    after(() => backend.close());

    function job(store: Store, id: string, created: number, more: Partial<NewJob> = {}): JobRecord {
      return insertJob(store, { id, device: 'dev', port: 0, data: new Uint8Array([id.length]), ...more }, created);
    }
    /** Ends a job as the server does, with its finish time. */
    function finish(store: Store, record: JobRecord, state: 'done' | 'failed' | 'canceled', at: number): JobRecord {
      const ended = { ...record, state, finishedAt: at, updated: at };
      saveJob(store, ended);
      return ended;
    }

    describe('devices', () => {
      it('adds a device and reads it back with numbers as numbers and absent fields undefined', async () => {
        const store = await fresh();
        const token = addDevice(store, 'shop-1', ['front', 'zebra', 'front'], T);
        assert.match(token, /^[A-Za-z0-9_-]{43}$/);
        const record = getDevice(store, 'shop-1');
        assert.deepEqual(record, { id: 'shop-1', tags: ['front', 'zebra'], created: T, lastSeen: undefined, fw: undefined, ports: [], address: undefined });
        assert.equal(getDevice(store, 'shop-2'), undefined);
        assert.equal(getDevice(store, 'SHOP-1'), undefined, 'ids are case-sensitive');
      });

      it('refuses an id twice (DEVICE_EXISTS) and keeps the first token; refuses bad ids and tags (BAD_FIELD)', async () => {
        const store = await fresh();
        const token = addDevice(store, 'a', [], T);
        assert.throws(() => addDevice(store, 'a', ['x'], T + 1), (e) => e instanceof PrintbridgeError && e.code === 'DEVICE_EXISTS');
        assert.equal(checkDeviceLogin(store, 'a', token), 'ok');
        assert.deepEqual(getDevice(store, 'a')?.tags, []);
        assert.throws(() => addDevice(store, 'a b', [], T), (e) => e instanceof PrintbridgeError && e.code === 'BAD_FIELD');
        assert.throws(() => addDevice(store, 'c', ['no spaces'], T), (e) => e instanceof PrintbridgeError && e.code === 'BAD_FIELD');
        assert.deepEqual(listDeviceIds(store), ['a']);
      });

      it('lists devices and ids in byte order, whatever the collation', async () => {
        const store = await fresh();
        for (const id of ['b', 'B', 'a', '_x', 'A-1', '0', 'a.b', 'a-b']) addDevice(store, id, [], T);
        const expected = ['0', 'A-1', 'B', '_x', 'a', 'a-b', 'a.b', 'b'];
        assert.deepEqual(listDevices(store).map((d) => d.id), expected);
        assert.deepEqual(listDeviceIds(store), expected);
        const ids = registeredIds(store);
        assert.deepEqual(ids.list, expected);
        assert.equal(ids.set.has('_x'), true);
        assert.deepEqual(listDeviceIds(await again()), expected);
      });

      it('finds ids by a whole tag: no substring, no wildcard', async () => {
        const store = await fresh();
        addDevice(store, 'd3', ['a_b', 'x'], T);
        addDevice(store, 'd1', ['a_b'], T);
        addDevice(store, 'd2', ['aXb', 'a_bc', 'xa_b'], T);
        addDevice(store, 'd4', ['site:1.2'], T);
        assert.deepEqual(listDeviceIdsWithTag(store, 'a_b'), ['d1', 'd3']);
        assert.deepEqual(listDeviceIdsWithTag(store, 'x'), ['d3']);
        assert.deepEqual(listDeviceIdsWithTag(store, 'site:1.2'), ['d4']);
        assert.deepEqual(listDeviceIdsWithTag(store, 'site'), []);
        assert.deepEqual(listDeviceIdsWithTag(store, 'none'), []);
      });

      it('removes a device once; the id can be registered again with a new token', async () => {
        const store = await fresh();
        const first = addDevice(store, 'gone', [], T);
        addDevice(store, 'stays', [], T);
        assert.deepEqual(registeredIds(store).list, ['gone', 'stays']);
        assert.equal(removeDevice(store, 'gone'), true);
        assert.equal(removeDevice(store, 'gone'), false);
        assert.equal(getDevice(store, 'gone'), undefined);
        assert.deepEqual(registeredIds(store).list, ['stays']);
        assert.deepEqual(listDeviceIds(store), ['stays']);
        const second = addDevice(store, 'gone', [], T + 1);
        assert.equal(checkDeviceLogin(store, 'gone', first), 'wrong-token');
        assert.equal(checkDeviceLogin(store, 'gone', second), 'ok');
        assert.equal(getDevice(store, 'gone')?.created, T + 1);
      });

      it('checks logins: ok, wrong token, unknown device, and a Weblink printer refused as a bridge', async () => {
        const store = await fresh();
        const token = addDevice(store, 'bridge', [], T);
        const printer = addDevice(store, 'printer', [WEBLINK_TAG], T);
        assert.equal(checkDeviceLogin(store, 'bridge', token), 'ok');
        assert.equal(verifyDeviceToken(store, 'bridge', token), true);
        assert.equal(checkDeviceLogin(store, 'bridge', printer), 'wrong-token');
        assert.equal(verifyDeviceToken(store, 'bridge', `${token}x`), false);
        assert.equal(checkDeviceLogin(store, 'nobody', token), 'unknown-device');
        assert.equal(checkBridgeLogin(store, 'bridge', token), 'ok');
        assert.equal(checkBridgeLogin(store, 'printer', printer), 'weblink-printer');
        assert.equal(checkBridgeLogin(store, 'printer', token), 'wrong-token');
        assert.equal(checkDeviceLogin(store, 'printer', printer), 'ok');
      });

      it('records a hello and a last-seen time; a hello without an address clears it', async () => {
        const store = await fresh();
        addDevice(store, 'dev', ['t'], T);
        recordHello(store, 'dev', hello, T + 5);
        assert.deepEqual(getDevice(await again(), 'dev'), {
          id: 'dev', tags: ['t'], created: T, lastSeen: T + 5, fw: '1.2.3', ports: hello.ports, address: '10.0.0.7',
        });
        touchDevice(store, 'dev', T + 9);
        recordHello(store, 'dev', { fw: '2.0', ports: [] }, T + 7);
        touchDevice(store, 'dev', T + 9);
        assert.deepEqual(getDevice(await again(), 'dev'), {
          id: 'dev', tags: ['t'], created: T, lastSeen: T + 9, fw: '2.0', ports: [], address: undefined,
        });
      });

      it('holds a hello back until flushed: read here at once, stored by flushPresence; same ports are not news', async () => {
        const store = await fresh();
        addDevice(store, 'dev', [], T);
        assert.equal(recordHelloLater(store, 'dev', hello, T + 1), true);
        assert.equal(getDevice(store, 'dev')?.lastSeen, T + 1);
        assert.equal(flushPresence(store), undefined);
        assert.deepEqual(getDevice(await again(), 'dev')?.ports, hello.ports);
        assert.equal(recordHelloLater(store, 'dev', hello, T + 2), false);
        assert.equal(recordHelloLater(store, 'dev', { ...hello, ports: [{ port: 0, dialect: 'tspl' }] }, T + 3), true);
        flushPresence(store);
        const other = await again();
        assert.deepEqual(getDevice(other, 'dev')?.ports, [{ port: 0, dialect: 'tspl' }]);
        assert.equal(getDevice(other, 'dev')?.lastSeen, T + 3);
      });
    });

    describe('jobs', () => {
      it('inserts a job and reads back exactly what insertJob returned, booleans and absent fields included', async () => {
        const store = await fresh();
        const full = insertJob(store, { id: 'j1', device: 'dev', port: 3, key: 'k', data: new Uint8Array(10), resume: true, owner: 'tok', name: 'Été' }, T);
        assert.deepEqual(full, {
          id: 'j1', printer: 'dev/3', device: 'dev', port: 3, key: 'k', state: 'queued', size: 10, written: 0, started: false, held: false,
          resume: true, owner: 'tok', name: 'Été', error: undefined, created: T, startedAt: undefined, finishedAt: undefined, updated: T,
        });
        const bare = insertJob(store, { id: 'j2', device: 'dev', port: 0, data: new Uint8Array(1) }, T + 1);
        const other = await again();
        assert.deepEqual(getJob(other, 'j1'), full);
        assert.deepEqual(getJob(other, 'j2'), bare);
        assert.equal(bare.key, undefined);
        assert.equal(bare.resume, false);
        assert.equal(getJob(other, 'j3'), undefined);
        assert.equal(hasJobsFor(other, 'dev/3'), true);
        assert.equal(hasJobsFor(other, 'dev/4'), false);
      });

      it('returns job bytes exactly: every byte value, 0x00 and 0xFF at the ends, an empty job, a large one', async () => {
        const store = await fresh();
        const all = Buffer.concat([Buffer.from([0x00]), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0xff])]);
        const large = Buffer.from(randomBytes(1 << 20, 7));
        insertJob(store, { id: 'all', device: 'd', port: 0, data: all }, T);
        insertJob(store, { id: 'empty', device: 'd', port: 0, data: new Uint8Array(0) }, T);
        insertJob(store, { id: 'large', device: 'd', port: 0, data: new Uint8Array(large) }, T);
        const other = await again();
        for (const [id, bytes] of [['all', all], ['empty', Buffer.alloc(0)], ['large', large]] as const) {
          const data = jobData(other, id);
          assert.ok(data instanceof Uint8Array, `${id}: a Uint8Array`);
          assert.equal(bytesOf(data)?.equals(bytes), true, `${id}: the same bytes`);
          assert.equal(getJob(other, id)?.size, bytes.length);
          assert.equal(hasJobData(other, id), true);
        }
        assert.equal(jobData(other, 'none'), undefined);
        assert.equal(hasJobData(other, 'none'), false);
      });

      it('finds a job by (printer, key); a key is one job per printer, and a second insert of it or of an id stores nothing', async () => {
        const store = await fresh();
        const a = insertJob(store, { id: 'a', device: 'dev', port: 0, key: 'k', data: new Uint8Array([1]) }, T);
        const b = insertJob(store, { id: 'b', device: 'dev', port: 1, key: 'k', data: new Uint8Array([2]) }, T);
        job(store, 'c', T);
        job(store, 'd', T);
        assert.deepEqual(findJobByKey(store, 'dev/0', 'k'), a);
        assert.deepEqual(findJobByKey(store, 'dev/1', 'k'), b);
        assert.equal(findJobByKey(store, 'dev/2', 'k'), undefined);
        assert.equal(findJobByKey(store, 'dev/0', 'K'), undefined);
        // The same key again (a client retrying, maybe through another node): the first job stored is the job.
        assert.deepEqual(insertJob(await again(), { id: 'dup', device: 'dev', port: 0, key: 'k', data: new Uint8Array([9]) }, T + 1), a);
        assert.equal(getJob(store, 'dup'), undefined);
        assert.equal(hasJobData(store, 'dup'), false);
        assert.equal(bytesOf(jobData(store, 'a'))?.equals(Buffer.from([1])), true);
        assert.throws(() => insertJob(store, { id: 'c', device: 'dev', port: 5, data: new Uint8Array([9]) }, T + 1), 'an id is taken once');
        assert.equal(getJob(store, 'c')?.port, 0);
        assert.equal(bytesOf(jobData(store, 'c'))?.equals(Buffer.from([1])), true);
        // A pruned job frees its key.
        finish(store, a, 'done', T + 1);
        assert.equal(pruneFinishedJobs(store, T + 2, undefined), 1);
        assert.equal(findJobByKey(store, 'dev/0', 'k'), undefined);
        insertJob(store, { id: 'again', device: 'dev', port: 0, key: 'k', data: new Uint8Array([3]) }, T + 3);
        assert.equal(findJobByKey(store, 'dev/0', 'k')?.id, 'again');
      });

      it('gives a printer its oldest queued job, ties in insertion order even after updates; a started job first', async () => {
        const store = await fresh();
        job(store, 'late', T + 2000);
        const zFirst = job(store, 'z-first', T + 1000);
        job(store, 'a-second', T + 1000);
        job(store, 'm-third', T + 1000);
        job(store, 'other-printer', T, { port: 1 });
        // An update may move a row to the end of the table; the order must not follow it.
        saveJob(store, { ...zFirst, updated: T + 3000 });
        assert.equal(nextPendingJob(store, 'dev/0')?.id, 'z-first');

        saveJob(store, { ...zFirst, state: 'paused', held: true, updated: T + 3001 });
        assert.equal(nextPendingJob(store, 'dev/0')?.id, 'a-second', 'a held job is passed over');
        const late = getJob(store, 'late') as JobRecord;
        saveJob(store, { ...late, state: 'sending', started: true, startedAt: T + 3002, updated: T + 3002 });
        assert.equal(nextPendingJob(store, 'dev/0')?.id, 'late', 'a started job comes first, whatever its age');
        saveJob(store, { ...late, state: 'paused', started: true, held: true, startedAt: T + 3002, updated: T + 3003 });
        assert.equal(nextPendingJob(store, 'dev/0'), undefined, 'nothing passes a started job that is paused');
        finish(store, { ...late, started: true, startedAt: T + 3002 }, 'canceled', T + 3004);
        assert.equal(nextPendingJob(store, 'dev/0')?.id, 'a-second');
        assert.equal(nextPendingJob(store, 'dev/1')?.id, 'other-printer');
        assert.equal(nextPendingJob(store, 'dev/2'), undefined);
        assert.deepEqual(unfinishedJobs(store).map((j) => j.id), ['other-printer', 'z-first', 'a-second', 'm-third']);
        assert.deepEqual(queuedBefore(store, T + 1000, 10).map((j) => j.id), ['other-printer']);
        assert.deepEqual(queuedBefore(store, T + 1001, 2).map((j) => j.id), ['other-printer', 'a-second']);
      });

      it('saves every mutable field, and an error both ways; started never goes back', async () => {
        const store = await fresh();
        const j = job(store, 'j', T);
        const failed: JobRecord = {
          ...j, state: 'failed', written: 2_500_000_000, started: true, held: true, error: { code: 'PRINTER_ERROR', message: 'jam: ünïcode' },
          startedAt: T + 1, finishedAt: T + 2, updated: T + 2,
        };
        saveJob(store, failed);
        assert.deepEqual(getJob(await again(), 'j'), failed);
        const cleared: JobRecord = { ...failed, state: 'queued', written: 0, started: false, held: false, error: undefined, startedAt: undefined, finishedAt: undefined, updated: T + 3 };
        saveJob(store, cleared);
        // All but `started`: once some byte may be on paper, no write (a stale copy's) makes the job resendable.
        assert.deepEqual(getJob(await again(), 'j'), { ...cleared, started: true });
      });

      it('holds news back until flushJobs (of all or some jobs); a job ended elsewhere keeps its end', async () => {
        const store = await fresh();
        const other = await again();
        const a = job(store, 'a', T);
        const b = job(store, 'b', T);
        saveJobLater(store, { ...a, state: 'printing', written: 5, updated: T + 1 });
        saveJobLater(store, { ...b, state: 'sending', written: 1, updated: T + 1 });
        assert.equal(getJob(store, 'a')?.written, 5, 'read here at once');
        assert.equal(flushJobs(store, ['b']), 1);
        assert.deepEqual([getJob(other, 'a')?.written, getJob(other, 'b')?.state], [0, 'sending']);
        assert.equal(flushJobs(store), 1);
        assert.deepEqual([getJob(other, 'a')?.state, getJob(other, 'a')?.written, getJob(other, 'a')?.updated], ['printing', 5, T + 1]);
        assert.equal(flushJobs(store), 0);

        saveJobLater(store, { ...a, state: 'printing', written: 9, updated: T + 2 });
        finish(other, { ...a, written: 7 }, 'done', T + 3);
        assert.equal(getJob(store, 'a')?.state, 'done', 'an end read from the database outranks news');
        assert.equal(flushJobs(store), 0);
        assert.deepEqual([getJob(other, 'a')?.state, getJob(other, 'a')?.written], ['done', 7]);
      });

      it('lists jobs newest first (ties: the later inserted first), by every filter, with LIMIT -1 as no limit', async () => {
        const store = await fresh();
        // j3 before j2, in the same millisecond: ids sort the other way round.
        const j1 = job(store, 'j1', T, { owner: 'alice' });
        const j3 = job(store, 'j3', T + 10, { port: 1 });
        const j2 = job(store, 'j2', T + 10, { device: 'other', owner: 'alice' });
        const j4 = job(store, 'j4', T + 20, { owner: 'bob' });
        saveJob(store, { ...j3, updated: T + 30 });
        finish(store, j1, 'done', T + 40);
        finish(store, j4, 'failed', T + 41);
        const ids = (q: Parameters<typeof listJobs>[1]) => listJobs(store, q).map((j) => j.id);
        assert.deepEqual(ids({ limit: -1 }), ['j4', 'j2', 'j3', 'j1']);
        assert.deepEqual(ids({ limit: 2 }), ['j4', 'j2']);
        assert.deepEqual(ids({ limit: 0 }), []);
        assert.deepEqual(ids({ limit: -1, printer: 'dev/0' }), ['j4', 'j1']);
        assert.deepEqual(ids({ limit: -1, device: 'dev' }), ['j4', 'j3', 'j1']);
        assert.deepEqual(ids({ limit: -1, state: 'done' }), ['j1']);
        assert.deepEqual(ids({ limit: -1, states: ['done', 'failed'] }), ['j4', 'j1']);
        assert.deepEqual(ids({ limit: -1, owner: 'alice' }), ['j2', 'j1']);
        assert.deepEqual(ids({ limit: -1, unfinishedOnly: true }), ['j2', 'j3']);
        assert.deepEqual(ids({ limit: -1, finishedOnly: true }), ['j4', 'j1']);
        assert.deepEqual(ids({ limit: -1, owner: 'alice', finishedOnly: true }), ['j1']);
        assert.deepEqual(ids({ limit: -1, printer: 'dev/0', states: ['queued'] }), []);

        // A query by state sees the news: it is flushed first, for the other connection too.
        saveJobLater(store, { ...j2, state: 'printing', written: 3, updated: T + 50 });
        assert.deepEqual(ids({ limit: -1, state: 'printing' }), ['j2']);
        assert.equal(getJob(await again(), 'j2')?.state, 'printing');
      });

      it('searches names with case folded beyond ASCII, ids by prefix, and % and _ as plain text', async () => {
        const store = await fresh();
        job(store, 'job-abc', T, { name: 'Étiquette ÉTÉ' });
        job(store, 'job-def', T + 1, { name: 'ПРИНТЕР 50% off' });
        job(store, 'job-ghi', T + 2, { name: 'a_b' });
        job(store, 'xyz-1', T + 3);
        const q = (text: string) => listJobs(store, { q: text, limit: -1 }).map((j) => j.id);
        assert.deepEqual(q('été'), ['job-abc']);
        assert.deepEqual(q('ÉTÉ'), ['job-abc']);
        assert.deepEqual(q('étiQUEtte'), ['job-abc']);
        assert.deepEqual(q('ete'), [], 'accents are not stripped');
        assert.deepEqual(q('принтер'), ['job-def']);
        assert.deepEqual(q('%'), ['job-def']);
        assert.deepEqual(q('_'), ['job-ghi']);
        assert.deepEqual(q('a%b'), []);
        assert.deepEqual(q('job-'), ['job-ghi', 'job-def', 'job-abc']);
        assert.deepEqual(q('JOB-A'), ['job-abc']);
        assert.deepEqual(q('xyz'), ['xyz-1']);
        assert.deepEqual(q('yz'), [], 'an id matches by its start only');
        assert.deepEqual(listJobs(store, { q: 'job-', limit: 1, device: 'dev' }).map((j) => j.id), ['job-ghi']);
      });

      it('counts unfinished jobs and bytes per printer and owner, as numbers', async () => {
        const store = await fresh();
        job(store, 'a', T, { data: new Uint8Array(100), owner: 'alice' });
        job(store, 'b', T, { data: new Uint8Array(50) });
        job(store, 'c', T, { data: new Uint8Array(7), port: 1, owner: 'alice' });
        finish(store, job(store, 'd', T, { data: new Uint8Array(1000) }), 'done', T + 1);
        assert.equal(countUnfinished(store, 'dev/0'), 2);
        assert.equal(countUnfinished(store, 'dev/9'), 0);
        const bytes = unfinishedBytes(store).sort((x, y) => `${x.printer}${x.owner}`.localeCompare(`${y.printer}${y.owner}`));
        assert.deepEqual(bytes, [
          { printer: 'dev/0', owner: 'alice', bytes: 100 },
          { printer: 'dev/0', owner: undefined, bytes: 50 },
          { printer: 'dev/1', owner: 'alice', bytes: 7 },
        ]);
        assert.deepEqual(unfinishedByPrinter(store), new Map([['dev/0', 2], ['dev/1', 1]]));
      });

      it('finishedAmong: of the ids given, those the database has finished, oldest first, news ignored', async () => {
        const store = await fresh();
        const late = job(store, 'late', T + 5);
        const tie = job(store, 'also-late', T + 5);
        const early = job(store, 'early', T + 1);
        const open = job(store, 'open', T);
        const ended = [finish(store, late, 'canceled', T + 6), finish(store, early, 'failed', T + 7), finish(store, tie, 'done', T + 8)];
        saveJobLater(store, { ...open, state: 'printing', updated: T + 8 });
        assert.deepEqual(finishedAmong(store, ['late', 'open', 'also-late', 'early', 'unknown']), [ended[1], ended[0], ended[2]]);
        assert.deepEqual(finishedAmong(store, new Set(['late'])), [ended[0]]);
        assert.deepEqual(finishedAmong(store, []), []);
        assert.deepEqual(finishedAmong(store, Array.from({ length: 2000 }, (_, i) => `x${i}`).concat('early')).map((j) => j.id), ['early']);
      });

      it('failDeviceJobs fails the unfinished jobs of one device only', async () => {
        const store = await fresh();
        const queued = job(store, 'queued', T);
        const printing = job(store, 'printing', T + 1);
        saveJob(store, { ...printing, state: 'printing', started: true, startedAt: T + 2, updated: T + 2 });
        const paused = job(store, 'paused', T + 3, { port: 1 });
        saveJob(store, { ...paused, state: 'paused', held: true, updated: T + 3 });
        const done = finish(store, job(store, 'done', T + 4), 'done', T + 5);
        const elsewhere = job(store, 'elsewhere', T, { device: 'dev2' });
        assert.equal(failDeviceJobs(store, 'dev', T + 100), 3);
        for (const id of ['queued', 'printing', 'paused']) {
          assert.deepEqual(
            [getJob(store, id)?.state, getJob(store, id)?.error, getJob(store, id)?.finishedAt, getJob(store, id)?.updated],
            ['failed', { code: 'DEVICE_REMOVED', message: 'device was removed while the job was unfinished: dev' }, T + 100, T + 100],
          );
        }
        assert.equal(getJob(store, 'printing')?.started, true);
        assert.deepEqual(getJob(store, 'done'), done);
        assert.deepEqual(getJob(store, 'elsewhere'), elsewhere);
        assert.equal(hasJobData(store, queued.id), true, 'a failed job keeps its bytes for a reprint');
        assert.equal(failDeviceJobs(store, 'dev', T + 200), 0);
      });

      it('pauses and resumes printer queues; forgetting a device forgets its printers only', async () => {
        const store = await fresh();
        assert.deepEqual(pausedPrinters(store), new Set());
        setPrinterPaused(store, 'dev/0', true, T);
        setPrinterPaused(store, 'dev/0', true, T + 1);
        setPrinterPaused(store, 'dev/1', true, T);
        setPrinterPaused(store, 'dev2/0', true, T);
        setPrinterPaused(store, 'a_b/0', true, T);
        setPrinterPaused(store, 'aXb/0', true, T);
        setPrinterPaused(store, 'dev/2', false, T);
        assert.deepEqual(pausedPrinters(await again()), new Set(['dev/0', 'dev/1', 'dev2/0', 'a_b/0', 'aXb/0']));
        setPrinterPaused(store, 'dev/1', false, T + 2);
        forgetDeviceQueues(store, 'dev');
        forgetDeviceQueues(store, 'a_b');
        assert.deepEqual(pausedPrinters(store), new Set(['dev2/0', 'aXb/0']));
      });

      it('prunes finished jobs before a time (strictly) and beyond a count (newest kept, ties by insertion), with their bytes', async () => {
        const store = await fresh();
        const old = job(store, 'old-unfinished', T);
        const ended = ['f1', 'f2', 'f3', 'f4', 'f5'].map((id) => job(store, id, T + 1));
        finish(store, ended[0] as JobRecord, 'done', T + 10);
        finish(store, ended[1] as JobRecord, 'failed', T + 20);
        finish(store, ended[2] as JobRecord, 'canceled', T + 30);
        finish(store, ended[3] as JobRecord, 'done', T + 30);
        finish(store, ended[4] as JobRecord, 'done', T + 40);
        assert.equal(pruneFinishedJobs(store, undefined, undefined), 0);
        assert.equal(pruneFinishedJobs(store, T + 20, undefined), 1);
        assert.equal(getJob(store, 'f1'), undefined);
        assert.equal(hasJobData(store, 'f1'), false);
        assert.notEqual(getJob(store, 'f2'), undefined, 'finished exactly at `before` stays');
        assert.equal(pruneFinishedJobs(store, undefined, 2), 2);
        assert.deepEqual(listJobs(store, { limit: -1 }).map((j) => j.id).sort(), ['f4', 'f5', 'old-unfinished']);
        assert.equal(hasJobData(store, 'f3'), false);
        assert.equal(hasJobData(store, 'f4'), true);
        assert.equal(pruneFinishedJobs(store, undefined, 0), 2);
        assert.deepEqual(getJob(store, old.id), old);
        assert.equal(hasJobData(store, old.id), true);
      });

      it('keeps the bytes of finished jobs: their total, the oldest finished first, and dropping one', async () => {
        const store = await fresh();
        assert.equal(keptDataBytes(store), 0);
        assert.deepEqual(oldestKeptData(store, 0, 10), []);
        const a = job(store, 'a', T, { data: new Uint8Array(3_000) });
        const b = job(store, 'b', T, { data: new Uint8Array(200) });
        const c = job(store, 'c', T, { data: new Uint8Array(10) });
        job(store, 'open', T, { data: new Uint8Array(99_999) });
        finish(store, c, 'done', T + 50);
        finish(store, b, 'failed', T + 50);
        finish(store, a, 'canceled', T + 60);
        saveJob(store, { ...c, state: 'done', finishedAt: T + 50, updated: T + 70 });
        assert.equal(keptDataBytes(store), 3_210);
        // Plain fields; whether the driver gives rows a prototype is not the contract.
        assert.deepEqual(oldestKeptData(store, 0, 10).map((r) => ({ ...r })), [
          { id: 'b', size: 200, finishedAt: T + 50 },
          { id: 'c', size: 10, finishedAt: T + 50 },
          { id: 'a', size: 3_000, finishedAt: T + 60 },
        ]);
        assert.deepEqual(oldestKeptData(store, T + 51, 10).map((r) => r.id), ['a']);
        assert.deepEqual(oldestKeptData(store, T + 60, 10).map((r) => r.id), ['a'], '`since` is inclusive');
        assert.deepEqual(oldestKeptData(store, 0, 1).map((r) => r.id), ['b']);
        dropJobData(store, 'b');
        assert.equal(keptDataBytes(store), 3_010);
        assert.deepEqual(oldestKeptData(store, 0, 10).map((r) => r.id), ['c', 'a']);
        assert.equal(jobData(store, 'b'), undefined);
        assert.equal(getJob(store, 'b')?.state, 'failed', 'the row stays for the history');
      });
    });

    describe('device ownership (several nodes)', () => {
      it('claims raise each device\'s epoch, a release by an older claim tells it moved on, leases renew and lapse', async () => {
        const a = await fresh();
        const b = await again();
        addDevice(a, 'd1', [], T);
        addDevice(a, 'd2', [], T);
        assert.deepEqual([...claimDevices(a, ['d1', 'd2'], 'node-a', T + 100)].sort(), [['d1', 1], ['d2', 1]]);
        assert.equal(fenceOf(a, 'd1'), 1);
        assert.deepEqual([...claimDevices(b, ['d1'], 'node-b', T + 200)], [['d1', 2]]);
        assert.equal(ownerOf(a, 'd1')?.node, 'node-b');
        // The older claim's release: the device moved on, its lease stays the newer one's.
        assert.equal(releaseDevice(a, 'd1', 1), false);
        assert.equal(fenceOf(a, 'd1'), undefined);
        assert.equal(ownerOf(b, 'd1')?.leaseUntil, T + 200);
        assert.equal(renewLeases(a, 'node-a', T + 300), 1, 'node-a holds d2 only');
        assert.deepEqual(liveOwners(b, T + 150).map((o) => [o.device, o.node, o.epoch]), [['d1', 'node-b', 2], ['d2', 'node-a', 1]]);
        assert.deepEqual(liveOwners(b, T + 200).map((o) => o.device), ['d2'], 'd1\'s lease lapsed');
        assert.equal(releaseDevice(b, 'd1', 2), true);
        assert.deepEqual(liveOwners(a, T).map((o) => o.device), ['d2'], 'released: offline at once');
      });

      it('reads the node of many devices at once, past one statement\'s worth of ids; devices never claimed are left out', async () => {
        const a = await fresh();
        const many = Array.from({ length: 1_300 }, (_, i) => `m${String(i).padStart(4, '0')}`);
        claimDevices(a, many.slice(0, 650), 'node-a', T + 100);
        claimDevices(a, many.slice(650, 1_299), 'node-b', T + 100);
        const nodes = nodesOf(await again(), [...many, 'never']);
        assert.equal(nodes.size, 1_299);
        assert.deepEqual([nodes.get('m0000'), nodes.get('m0649'), nodes.get('m0650'), nodes.get('m1298'), nodes.get('m1299'), nodes.get('never')], ['node-a', 'node-a', 'node-b', 'node-b', undefined, undefined]);
        assert.deepEqual([...nodesOf(a, ['m0003'])], [['m0003', 'node-a']]);
        assert.equal(nodesOf(a, []).size, 0);
      });

      it('a write fenced by an epoch another node replaced is refused, and moves nothing', async () => {
        const a = await fresh();
        const b = await again();
        addDevice(a, 'dev', [], T);
        const j = job(a, 'fenced', T);
        claimDevices(a, ['dev'], 'node-a', T + 100);
        claimDevices(b, ['dev'], 'node-b', T + 100);
        assert.throws(() => saveJob(a, { ...j, state: 'sending', started: true, updated: T + 1 }), FencedOut);
        assert.deepEqual([getJob(b, 'fenced')?.state, getJob(b, 'fenced')?.started], ['queued', false]);
        saveJob(b, { ...j, state: 'sending', started: true, updated: T + 2 });
        assert.equal(getJob(a, 'fenced')?.started, true, 'the holder writes');
      });

      it('writes the waiting hellos of devices with new ports in one go, typed as the rest', async () => {
        const store = await fresh();
        addDevice(store, 'h1', [], T);
        addDevice(store, 'h2', [], T);
        recordHelloLater(store, 'h1', hello, T + 5);
        recordHelloLater(store, 'h2', { ...hello, address: undefined }, T + 6);
        writeHellosNow(store, ['h1', 'h2', 'nobody']);
        const other = await again();
        assert.deepEqual(getDevice(other, 'h1'), { id: 'h1', tags: [], created: T, lastSeen: T + 5, fw: hello.fw, ports: hello.ports, address: hello.address });
        assert.deepEqual([getDevice(other, 'h2')?.lastSeen, getDevice(other, 'h2')?.address], [T + 6, undefined]);
      });
    });

    describe('tokens', () => {
      it('stores a token by its hash and finds it by the token; absent fields undefined', async () => {
        const store = await fresh();
        insertToken(store, 't1', 'secret-1', 'kiosk', T, T + 3_600_000, ['print', 'control']);
        insertToken(store, 't2', 'secret-2', undefined, T, T + 1);
        const other = await again();
        assert.deepEqual(findTokenByHash(other, 'secret-1'), { id: 't1', label: 'kiosk', created: T, expires: T + 3_600_000, revoked: undefined, scopes: ['print', 'control'] });
        assert.deepEqual(getToken(other, 't2'), { id: 't2', label: undefined, created: T, expires: T + 1, revoked: undefined, scopes: ['print'] });
        assert.equal(findTokenByHash(other, 'secret-3'), undefined);
        assert.equal(findTokenByHash(other, 'SECRET-1'), undefined);
        assert.equal(getToken(other, 't3'), undefined);
        assert.throws(() => insertToken(store, 't3', 'secret-1', undefined, T, T + 1), 'one row per token');
        assert.throws(() => insertToken(store, 't1', 'secret-4', undefined, T, T + 1), 'one row per id');
      });

      it('revokes once (the first time stays) and prunes tokens that expired before a time', async () => {
        const store = await fresh();
        insertToken(store, 'a', 'sa', undefined, T, T + 10);
        insertToken(store, 'b', 'sb', undefined, T, T + 20);
        insertToken(store, 'c', 'sc', undefined, T, T + 30);
        revokeToken(store, 'a', T + 5);
        revokeToken(store, 'a', T + 6);
        revokeToken(store, 'unknown', T + 6);
        assert.equal(getToken(store, 'a')?.revoked, T + 5);
        assert.equal(findTokenByHash(store, 'sa')?.revoked, T + 5);
        assert.equal(getToken(store, 'b')?.revoked, undefined);
        assert.equal(pruneTokens(store, T + 20), 1);
        assert.deepEqual(['a', 'b', 'c'].map((id) => getToken(store, id)?.id), [undefined, 'b', 'c']);
        assert.equal(pruneTokens(store, T + 20), 0);
        assert.equal(pruneTokens(store, T + 31), 2);
      });
    });
  });
}
