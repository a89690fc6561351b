// A node whose PostgreSQL goes away keeps serving: what needs the database
// is answered STORE_UNAVAILABLE (503 over REST) instead of hanging or
// INTERNAL, /healthz and connected clients stay up, and when the database
// is back (a new server process on the same folder) the node works again
// by itself. A PostgreSQL that stops answering (SIGSTOP, as a hung host)
// costs one timeout, not one per statement; a transaction whose connection
// goes is lost whole, never half committed.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pgClient from 'pg';
import { openStore } from '../../server/store/db.js';
import { OUTBOX_MAX, PG_BUS } from '../../server/store/pg-messages.js';
import { PgSync, REVIVE_MS } from '../../server/store/pg-sync.js';
import type { MessagePort, Worker } from 'node:worker_threads';
import { addDevice, recordHello } from '../../server/store/devices.js';
import { openPostgresStore } from '../../server/store/pg-store.js';
import type { Store } from '../../server/store/store.js';
import { connectClient } from '../../tools/client/client.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { rest, TestClient } from './peers.js';

const ADMIN = 'test-admin-token';
let pg: Postgres | undefined;
let t: TestServer | undefined;
after(async () => {
  await t?.close();
  await pg?.stop();
});

describe('the database out of reach', () => {
  it('answers STORE_UNAVAILABLE while PostgreSQL is down, keeps its clients, and works again once it is back', async () => {
    pg = await startPostgres();
    const url = await pg.createDatabase();
    const setup = openStore(tempDir(), url);
    addDevice(setup, 'dark-1', []);
    recordHello(setup, 'dark-1', { fw: 'fake-1.0', ports: [{ port: 0, dialect: 'escpos' }] }, Date.now());
    setup.close();
    t = await startTestServer({ storeUrl: url });
    const client = await TestClient.connect(t, ADMIN);
    const job = { printer: 'dark-1/0', text: 'hello\n' };
    assert.equal((await client.request('job.submit', job))['ok'], true);

    await pg.kill();
    const refused = await client.request('job.submit', job);
    assert.equal((refused['error'] as { code: string }).code, 'STORE_UNAVAILABLE', JSON.stringify(refused));
    const viaRest = await rest(t, ADMIN, 'POST', '/jobs', job);
    assert.equal(viaRest.status, 503);
    assert.equal((viaRest.body['error'] as { code: string }).code, 'STORE_UNAVAILABLE');
    assert.equal((await fetch(`${t.server.url}/healthz`)).status, 200);

    await pg.restart();
    assert.equal((await client.request('job.submit', job))['ok'], true, 'the node reconnects by itself');
    client.close();
  });
});

describe('the database silent', () => {
  it('a PostgreSQL that stops answering costs one timeout, then statements fail at once until it answers again', async () => {
    const silent = await startPostgres();
    const url = await silent.createDatabase();
    const setup = openStore(tempDir(), url);
    addDevice(setup, 'quiet-1', []);
    recordHello(setup, 'quiet-1', { fw: 'fake-1.0', ports: [{ port: 0, dialect: 'escpos' }] }, Date.now());
    setup.close();
    const node = await startTestServer({ storeUrl: url });
    try {
      // The tools' client: it waits as long as the server takes (the first answer comes after the store's timeout).
      const client = await connectClient(node.wsUrl('/v1/client'), ADMIN);
      const job = { printer: 'quiet-1/0', text: 'hello\n' };
      const refusal = (p: Promise<unknown>): Promise<{ code?: string; message: string }> => p.then(() => ({ message: 'stored' }), (e: { code?: string; message: string }) => e);
      await client.request('job.submit', job);
      // SIGSTOP: the server and its backends hold their sockets open and say nothing, as a hung host does.
      const pids = freeze(silent);
      try {
        // The first statement to meet the silence waits out the timeout (this
        // submit's, or a timer's write that came first)…
        const first = await refusal(client.request('job.submit', job));
        assert.equal(first.code, 'STORE_UNAVAILABLE');
        assert.match(first.message, /did not answer within|stopped answering/);
        // …and the next is not held for it again.
        const started = performance.now();
        const next = await refusal(client.request('job.submit', job));
        assert.equal(next.code, 'STORE_UNAVAILABLE');
        assert.match(next.message, /stopped answering/);
        assert.ok(performance.now() - started < 1_000, `the next submit took ${Math.round(performance.now() - started)} ms`);
      } finally {
        thaw(pids);
      }
      await until('the node stores jobs again', async () => (await refusal(client.request('job.submit', job))).message === 'stored');
      client.close();
    } finally {
      await node.close();
      await silent.stop();
    }
  });
});

/** SIGSTOP to the postmaster and its backends: they keep their sockets open and say nothing, as a hung host does. */
function freeze(db: Postgres): number[] {
  const pids = [db.pid, ...execFileSync('pgrep', ['-P', String(db.pid)]).toString().trim().split('\n').map(Number)];
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  return pids;
}

function thaw(pids: readonly number[]): void {
  for (const pid of pids) process.kill(pid, 'SIGCONT');
}

function unavailable(e: unknown): boolean {
  return (e as { code?: string }).code === 'STORE_UNAVAILABLE';
}

/** The thread sleeps as the store's statements do, letting the store's own thread run meanwhile. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('the store itself when its connection goes or PostgreSQL falls silent', () => {
  const SHORT_TIMEOUT = 1_500;
  let db: Postgres | undefined;
  let url = '';
  const stores: Store[] = [];
  before(async () => {
    db = await startPostgres();
    url = await db.createDatabase();
  });
  after(async () => {
    for (const s of stores) s.close();
    await db?.stop();
  });

  const open = (): Store => {
    const s = openPostgresStore(tempDir(), url, SHORT_TIMEOUT);
    stores.push(s);
    return s;
  };
  /** What is committed, as another connection sees it. */
  const committed = async (table: string): Promise<string[]> => {
    const c = new pgClient.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(`SELECT v FROM ${table} ORDER BY v`)).rows.map((r: { v: string }) => r.v);
    } finally {
      await c.end();
    }
  };

  it('a statement unanswered inside a transaction loses the transaction whole; the next fail at once, then run on a new connection once PostgreSQL answers', async () => {
    const store = open();
    store.stmt('CREATE TABLE silent_tx (v TEXT)').run();
    const insert = store.stmt('INSERT INTO silent_tx (v) VALUES (?)');
    let pids: number[] = [];
    try {
      assert.throws(
        () =>
          store.db.transaction(() => {
            insert.run('a');
            pids = freeze(db as Postgres);
            insert.run('b');
          })(),
        unavailable,
      );
      const started = performance.now();
      assert.throws(() => insert.run('c'), /stopped answering/);
      assert.throws(() => store.db.transaction(() => insert.run('c'))(), /stopped answering/);
      assert.ok(performance.now() - started < 200, `the statements after the silence waited ${Math.round(performance.now() - started)} ms`);
    } finally {
      thaw(pids);
    }
    await until('the store answers again', () => {
      try {
        return store.stmt('SELECT count(*) FROM silent_tx').pluck().get() === 0;
      } catch (e) {
        if (!unavailable(e)) throw e;
        return false;
      }
    });
    store.db.transaction(() => {
      insert.run('d');
      store.db.transaction(() => insert.run('e'))();
    })();
    insert.run('f');
    // Committed, each: none of them is left inside a transaction of the new connection.
    assert.deepEqual(await committed('silent_tx'), ['d', 'e', 'f']);
  });

  it('a COMMIT PostgreSQL does not answer fails the transaction to its caller; what PostgreSQL kept of it is all or nothing, and later transactions commit', async (t) => {
    const store = open();
    store.stmt('CREATE TABLE silent_commit (v TEXT)').run();
    const insert = store.stmt('INSERT INTO silent_commit (v) VALUES (?)');
    let pids: number[] = [];
    try {
      assert.throws(
        () =>
          store.db.transaction(() => {
            insert.run('a');
            insert.run('b');
            // Both statements answered; the COMMIT that follows is not.
            pids = freeze(db as Postgres);
          })(),
        (e) => unavailable(e) && /did not answer/.test((e as Error).message),
      );
    } finally {
      thaw(pids);
    }
    await until('the store answers again', () => {
      try {
        return store.stmt('SELECT 1').pluck().get() === 1;
      } catch (e) {
        if (!unavailable(e)) throw e;
        return false;
      }
    });
    store.db.transaction(() => {
      insert.run('c');
      store.db.transaction(() => insert.run('d'))();
    })();
    // The COMMIT may have reached PostgreSQL before its connection was dropped, and run once it woke: never half of it.
    const rows = await committed('silent_commit');
    assert.ok(['a,b,c,d', 'c,d'].includes(rows.join(',')), `committed: ${rows.join(',')}`);
    t.diagnostic(`committed after the unanswered COMMIT: ${rows.join(',')}`);
  });

  it('a transaction whose connection is cut between two statements fails whole, and its second statement is not committed alone on a new connection', async () => {
    const store = open();
    store.stmt('CREATE TABLE cut_tx (v TEXT)').run();
    const insert = store.stmt('INSERT INTO cut_tx (v) VALUES (?)');
    const backend = store.stmt('SELECT pg_backend_pid()').pluck().get() as number;
    assert.throws(
      () =>
        store.db.transaction(() => {
          insert.run('a');
          // pg_terminate_backend's signal, sent while the transaction is open.
          process.kill(backend, 'SIGTERM');
          // Time for the store's thread to see its connection end before the next statement.
          sleepSync(500);
          insert.run('b');
        })(),
      unavailable,
    );
    assert.deepEqual(await committed('cut_tx'), []);
    // The store goes on, on a new connection, and its transactions commit whole again.
    assert.notEqual(store.stmt('SELECT pg_backend_pid()').pluck().get(), backend);
    store.db.transaction(() => {
      insert.run('c');
      insert.run('d');
    })();
    assert.deepEqual(await committed('cut_tx'), ['c', 'd']);
  });

  it('a new connection PostgreSQL does not answer costs one timeout too, not one per statement', async () => {
    const store = open();
    const backend = store.stmt('SELECT pg_backend_pid()').pluck().get() as number;
    process.kill(backend, 'SIGTERM');
    // The store's thread sees its connection end: the next statement needs a new one.
    sleepSync(500);
    let pids: number[] = [];
    try {
      pids = freeze(db as Postgres);
      let started = performance.now();
      assert.throws(() => store.stmt('SELECT 1').get(), unavailable);
      assert.ok(performance.now() - started < SHORT_TIMEOUT + 1_000);
      started = performance.now();
      assert.throws(() => store.stmt('SELECT 1').get(), /stopped answering/);
      assert.ok(performance.now() - started < 200, `the second statement waited ${Math.round(performance.now() - started)} ms`);
    } finally {
      thaw(pids);
    }
    await until('the store answers again', () => {
      try {
        return store.stmt('SELECT 1').pluck().get() === 1;
      } catch (e) {
        if (!unavailable(e)) throw e;
        return false;
      }
    });
  });

  it('a store closed while PostgreSQL is silent leaves nothing that keeps its process alive', async () => {
    const pgStore = new URL('../../server/store/pg-store.ts', import.meta.url).href;
    const script = `
      const { openPostgresStore } = await import(${JSON.stringify(pgStore)});
      const store = openPostgresStore(${JSON.stringify(tempDir())}, process.env.PB_TEST_URL, ${SHORT_TIMEOUT});
      store.stmt('SELECT 1').get();
      console.log('ready');
      process.stdin.once('data', () => {
        process.stdin.destroy();
        try { store.stmt('SELECT 1').get(); } catch (e) { console.log(e.code); }
        store.close();
        console.log('closed');
      });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, PB_TEST_URL: url },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let pids: number[] = [];
    try {
      await until('the child has its store open', () => out.includes('ready'), 20_000);
      pids = freeze(db as Postgres);
      child.stdin.write('go\n');
      await until('the child closed its store', () => out.includes('closed'), 20_000);
      const closedAt = Date.now();
      // Its worker would keep probing every couple of seconds, forever, while PostgreSQL stays silent.
      const outcome = await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000, 'still running'))]);
      assert.notEqual(outcome, 'still running', 'the process did not end after its store was closed');
      assert.ok(Date.now() - closedAt < 3_000);
      assert.match(out, /STORE_UNAVAILABLE/);
    } finally {
      child.kill('SIGKILL');
      thaw(pids);
    }
  });
  it('the store\'s thread ended unasked: statements fail at once, a new thread takes over, and the store works again', async () => {
    // Each piece of news with the thread it came from (0 the first; the old one's port is closed before a new one starts).
    const news: string[] = [];
    const sync: PgSync = new PgSync(url, (n) => news.push(`${n.kind}@${sync.revived}`), SHORT_TIMEOUT);
    try {
      assert.deepEqual(sync.query('SELECT 1 AS one').rows, [{ one: 1 }]);
      // As an exception nothing caught in the thread would end it.
      await (sync as unknown as { worker: Worker }).worker.terminate();
      await until('the thread seen gone', () => {
        try {
          sync.query('SELECT 1');
          return false;
        } catch (e) {
          return unavailable(e) && /thread stopped/.test((e as Error).message);
        }
      });
      await until('a new thread answering', () => {
        try {
          return sync.query('SELECT 2 AS two').rows[0]?.['two'] === 2;
        } catch {
          return false;
        }
      });
      assert.equal(sync.revived, 1);
      // Its listening connection is new too: what changed meanwhile is looked at again.
      await until('resync heard from the new thread', () => news.includes('resync@1'));
    } finally {
      sync.close();
    }
  });
  it('a thread that keeps ending is started again later each time: REVIVE_MS, then twice as long', async () => {
    const sync = new PgSync(url, () => undefined, SHORT_TIMEOUT);
    const waits: number[] = [];
    try {
      for (let round = 1; round <= 3; round++) {
        await (sync as unknown as { worker: Worker }).worker.terminate();
        const ended = Date.now();
        await until(`thread ${round} started again`, () => sync.revived === round, 10_000);
        waits.push(Date.now() - ended);
      }
      // The first after a long quiet waits REVIVE_MS; each that ends soon after its start waits twice the one before.
      assert.ok(waits[0]! >= REVIVE_MS - 10, `waits ${waits.join(', ')} ms`);
      assert.ok(waits[1]! >= 2 * REVIVE_MS - 10, `waits ${waits.join(', ')} ms`);
      assert.ok(waits[2]! >= 4 * REVIVE_MS - 10, `waits ${waits.join(', ')} ms`);
      assert.deepEqual(sync.query('SELECT 3 AS three').rows, [{ three: 3 }]);
    } finally {
      sync.close();
    }
  });
  it('messages to other nodes waiting for a PostgreSQL that lags are bounded: those beyond OUTBOX_MAX are dropped, the rest delivered once it answers', async () => {
    let heard = 0;
    let listening = false;
    const sync = new PgSync(url, (n) => {
      if (n.kind === 'resync') listening = true;
      if (n.kind === 'notify' && n.channel === PG_BUS) heard += 1;
    }, SHORT_TIMEOUT);
    let pids: number[] = [];
    try {
      await until('the thread listening', () => listening);
      // The publishing connection open before PostgreSQL stops: its statement then waits, it does not fail.
      sync.notify(PG_BUS, 'warm');
      await until('the first message heard back', () => heard === 1);
      heard = 0;
      pids = freeze(db!);
      for (let i = 0; i < 2 * OUTBOX_MAX; i++) sync.notify(PG_BUS, `m${i}`);
      // The loop is free: the thread takes every message in.
      await new Promise((r) => setTimeout(r, 500));
      thaw(pids);
      pids = [];
      await until('the kept messages heard', () => heard >= OUTBOX_MAX, 20_000);
      await new Promise((r) => setTimeout(r, 500));
      // One batch may have left before the rest queued up.
      assert.ok(heard <= OUTBOX_MAX + 100, `${heard} messages went out, ${2 * OUTBOX_MAX} posted`);
    } finally {
      thaw(pids);
      sync.close();
    }
  });
  it('the store\'s thread ending while a statement waits on it fails that statement at once, not after the timeout', async () => {
    const sync = new PgSync(url, () => undefined, SHORT_TIMEOUT);
    try {
      assert.deepEqual(sync.query('SELECT 1 AS one').rows, [{ one: 1 }]);
      // A message the thread cannot read ends it with an exception nothing catches, before it reaches the statement posted next.
      (sync as unknown as { queries: MessagePort }).queries.postMessage(null);
      const started = Date.now();
      assert.throws(() => sync.query('SELECT pg_sleep(0.2)'), (e) => unavailable(e) && /thread stopped/.test((e as Error).message));
      const waited = Date.now() - started;
      assert.ok(waited < SHORT_TIMEOUT / 2, `the statement waited ${waited} ms for a thread that had ended`);
      await until('a new thread answering', () => {
        try {
          return sync.query('SELECT 2 AS two').rows[0]?.['two'] === 2;
        } catch {
          return false;
        }
      });
      assert.equal(sync.revived, 1);
    } finally {
      sync.close();
    }
  });
});
