// The throwaway PostgreSQL of the tests (test/helpers/postgres.ts) does what
// the store and cluster tests take for granted: it runs as an unprivileged
// user when the tests run as root, asks a password over TCP, keeps databases
// apart, cuts connections on demand, and leaves no process and no folder
// behind, even when the test process exits without stopping it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { REPO_ROOT } from '../helpers/processes.js';
import { until } from '../helpers/until.js';

/** The real user id of a live process, undefined once it is gone (a zombie is gone). */
function processUid(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  if (/^State:\s+Z/m.test(status)) return undefined;
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  return uid === undefined ? undefined : Number(uid);
}

const gone = (pid: number) => () => processUid(pid) === undefined;

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

async function backendPid(c: pg.Client): Promise<number> {
  return (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
}

describe('postgres harness: one cluster', () => {
  let cluster: Postgres;
  before(async () => {
    cluster = await startPostgres();
  });
  after(() => cluster.stop());

  it('runs as a user other than root, on 127.0.0.1 only, and asks a password', async () => {
    const uid = processUid(cluster.pid);
    assert.notEqual(uid, undefined);
    if (process.getuid?.() === 0) assert.notEqual(uid, 0, 'the postmaster runs as root');
    else assert.equal(uid, process.getuid?.());
    assert.match(cluster.url, /^postgres:\/\/[^:]+:[^@]+@127\.0\.0\.1:\d+\/printbridge$/);

    const c = await client(cluster.url);
    const settings = await c.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('listen_addresses', 'max_connections', 'port') ORDER BY name",
    );
    await c.end();
    assert.deepEqual(settings.rows, [
      { name: 'listen_addresses', setting: '127.0.0.1' },
      { name: 'max_connections', setting: '200' },
      { name: 'port', setting: String(cluster.port) },
    ]);

    const wrong = new URL(cluster.url);
    wrong.password = 'not-the-password';
    await assert.rejects(client(wrong.href), { code: '28P01' });
  });

  it('makes databases that are independent of each other', async () => {
    const [a, b] = [await client(await cluster.createDatabase()), await client(await cluster.createDatabase('second_db'))];
    assert.equal(new URL(await cluster.createDatabase('third_db')).pathname, '/third_db');
    await a.query('CREATE TABLE t (v int)');
    await a.query('INSERT INTO t VALUES (1)');
    await assert.rejects(b.query('SELECT v FROM t'), { code: '42P01' });
    await b.query('CREATE TABLE t (v text)');
    assert.deepEqual((await a.query('SELECT v FROM t')).rows, [{ v: 1 }]);
    assert.deepEqual((await b.query('SELECT v FROM t')).rows, []);
    await Promise.all([a.end(), b.end()]);
    await assert.rejects(cluster.createDatabase('second_db'), { code: '42P04' });
  });

  it('makes a database with the C collation by default, or an ICU one', async () => {
    const probe = "SELECT lower('ÉTÉ') AS folded, array_to_string(ARRAY(SELECT x FROM unnest(ARRAY['b', 'B', 'a']) x ORDER BY x), ' ') AS sorted";
    const c = await client(await cluster.createDatabase());
    const icu = await client(await cluster.createDatabase(undefined, { icuLocale: 'und' }));
    assert.deepEqual((await c.query(probe)).rows, [{ folded: 'ÉtÉ', sorted: 'B a b' }]);
    assert.deepEqual((await icu.query(probe)).rows, [{ folded: 'été', sorted: 'a b B' }]);
    await Promise.all([c.end(), icu.end()]);
  });

  it('terminateBackends cuts the live connections of one database and no other', async () => {
    const name = 'cut_here';
    const url = await cluster.createDatabase(name);
    const cut = await client(url);
    const cutPid = await backendPid(cut);
    const errors: Error[] = [];
    cut.on('error', (e) => errors.push(e));
    const other = await client(cluster.url);

    assert.equal(await cluster.terminateBackends(name), 1);
    assert.equal(processUid(cutPid), undefined, 'the backend has exited when terminateBackends resolves');
    await assert.rejects(cut.query('SELECT 1'));
    await until('the cut client to report its error', () => errors.length > 0);
    assert.equal((errors[0] as Error & { code?: string }).code, '57P01');
    assert.deepEqual((await other.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    await other.end();

    // Nothing left to cut; the database takes new connections, and its URL names it as well as its name does.
    assert.equal(await cluster.terminateBackends(name), 0);
    const again = await client(url);
    again.on('error', () => {});
    assert.equal(await cluster.terminateBackends(url), 1);
    await assert.rejects(again.query('SELECT 1'));
  });
});

describe('postgres harness: nothing outlives it', () => {
  it('stop() shuts the cluster down, closes the port and removes the folder', async () => {
    const cluster = await startPostgres();
    const c = await client(cluster.url);
    const backend = await backendPid(c);
    c.on('error', () => {});
    await cluster.stop();
    assert.equal(processUid(cluster.pid), undefined);
    await until('the backend to exit', gone(backend));
    assert.equal(await refused(cluster.port), true);
    assert.equal(existsSync(dirname(cluster.dataDir)), false);
  });

  it('kill() ends the postmaster and its backends at once; stop() then removes the folder', async () => {
    const cluster = await startPostgres();
    const c = await client(cluster.url);
    const backend = await backendPid(c);
    c.on('error', () => {});
    await cluster.kill();
    await until('the postmaster to exit', gone(cluster.pid));
    await until('the backend to exit', gone(backend));
    await assert.rejects(c.query('SELECT 1'));
    assert.equal(existsSync(cluster.dataDir), true, 'kill() is a crash: the files stay until stop()');
    await cluster.stop();
    assert.equal(await refused(cluster.port), true);
    assert.equal(existsSync(dirname(cluster.dataDir)), false);
  });

  // A test file that fails before its after() hook, or is killed outright.
  for (const end of ['process.exit(0)', "process.kill(process.pid, 'SIGKILL')"]) {
    it(`a process that ends with ${end} without stop() takes its cluster with it`, async () => {
      const script = `
        const { startPostgres } = await import(${JSON.stringify(new URL('../helpers/postgres.ts', import.meta.url).href)});
        const cluster = await startPostgres();
        console.log(JSON.stringify({ pid: cluster.pid, dataDir: cluster.dataDir, port: cluster.port }));
        ${end};`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      assert.ok(line, `the child printed its cluster\n${r.stderr}`);
      const { pid, dataDir, port } = JSON.parse(line) as { pid: number; dataDir: string; port: number };
      try {
        await until('the orphaned postmaster to exit', gone(pid));
        assert.equal(await refused(port), true);
        // Only the exit handler removes the folder: SIGKILL runs no handler.
        if (end.startsWith('process.exit')) assert.equal(existsSync(dirname(dataDir)), false);
      } finally {
        rmSync(dirname(dataDir), { recursive: true, force: true });
      }
    });
  }
});
