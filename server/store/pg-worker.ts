// The thread that talks to PostgreSQL for a PgSync (pg-sync.ts). The store
// is synchronous, as SQLite's is, so the server's thread posts one statement
// and sleeps on a shared flag until this thread has the answer; the answer
// itself travels as a message the sleeper reads with receiveMessageOnPort.
//
// A second connection LISTENs for the notifications other nodes send on
// commit, and passes each on as an ordinary (asynchronous) message.

import { workerData, type MessagePort } from 'node:worker_threads';
import pg from 'pg';
import { FLAG_GONE, OUTBOX_MAX, PG_BUS, PG_CHANNEL, type PgAnswer, type PgAsk, type PgNews, type PgWorkerData } from './pg-messages.js';

const { url, flag, queries, news, statementTimeoutMs } = workerData as PgWorkerData;
const signal = new Int32Array(flag);
// An exception nothing caught ends this thread; a statement the server's
// thread sleeps on would otherwise wait out its whole timeout.
process.on('exit', () => {
  Atomics.store(signal, FLAG_GONE, 1);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});

// int8 (counts, sums of bigint, times in ms) and numeric (sum) as numbers: the
// store keeps nothing near 2^53, and SQLite gives numbers for all of them.
pg.types.setTypeParser(pg.types.builtins.INT8, Number);
pg.types.setTypeParser(pg.types.builtins.NUMERIC, Number);

function connectionOptions(): pg.ClientConfig {
  return {
    connectionString: url,
    statement_timeout: statementTimeoutMs,
    connectionTimeoutMillis: statementTimeoutMs,
    keepAlive: true,
    application_name: 'printbridge',
  };
}

let client: pg.Client | undefined;
let connecting: Promise<pg.Client> | undefined;
/** The query connection being opened: dropped with the others when PostgreSQL falls silent. */
let opening: pg.Client | undefined;
/** Connections given up on a silence: what their statements leave behind is not looked at. */
const abandoned = new WeakSet<pg.Client>();

/**
 * A connection closed at once: its socket destroyed, so that pg fails the
 * statement in flight, or the connection attempt, as a cut connection.
 * `end()` would not do: it may wait for a goodbye a server that stopped
 * answering never sends, and it leaves a pending connect() unsettled.
 */
function drop(c: pg.Client | undefined): void {
  if (c === undefined) return;
  abandoned.add(c);
  (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** A connection attempt that had no answer at all: PostgreSQL is silent, not refusing. */
class Silence extends Error {
  readonly code = '08001';
}

/** The query connection, made again after it broke: a cut connection fails the statements in flight only. */
function queryClient(): Promise<pg.Client> {
  if (client !== undefined) return Promise.resolve(client);
  connecting ??= (async () => {
    // Timed here rather than by pg's connectionTimeoutMillis, to tell silence from refusal.
    const c = new pg.Client({ ...connectionOptions(), connectionTimeoutMillis: 0 });
    opening = c;
    c.on('error', () => {
      if (client === c) client = undefined;
    });
    c.on('end', () => {
      if (client === c) client = undefined;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      drop(c);
    }, statementTimeoutMs);
    try {
      await c.connect();
    } catch (e) {
      c.end().catch(() => undefined);
      if (timedOut) throw new Silence(`PostgreSQL did not answer a new connection within ${statementTimeoutMs} ms`);
      throw e;
    } finally {
      clearTimeout(timer);
      if (opening === c) opening = undefined;
    }
    client = c;
    const pid = (c as unknown as { processID?: number }).processID;
    news.postMessage({ kind: 'connected', pid: pid ?? 0 } satisfies PgNews);
    return c;
  })().finally(() => {
    connecting = undefined;
  });
  return connecting;
}

function answer(a: PgAnswer): void {
  queries.postMessage(a);
  Atomics.store(signal, 0, a.id);
  Atomics.notify(signal, 0);
}

/**
 * The connection a transaction is open on (BEGIN ran, COMMIT or ROLLBACK
 * not yet). Its statements run there or nowhere: once that connection is
 * gone PostgreSQL has rolled the transaction back, and the rest of it run
 * on a new connection would commit statement by statement, half of it.
 */
let inTransaction: pg.Client | undefined;

async function run(ask: PgAsk): Promise<void> {
  if (inTransaction !== undefined && inTransaction !== client) {
    if (ask.ends !== undefined) inTransaction = undefined;
    // Rolled back already, with the connection.
    if (ask.ends === 'rollback') return answer({ id: ask.id, rows: [], rowCount: 0 });
    return answer({ id: ask.id, error: { message: 'the connection holding the transaction was lost; PostgreSQL rolled the transaction back', code: '08003' } });
  }
  let c: pg.Client | undefined;
  try {
    c = await queryClient();
    const result = await c.query({ text: ask.sql, values: ask.params as unknown[] });
    answer({ id: ask.id, rows: result.rows as Record<string, unknown>[], rowCount: result.rowCount ?? 0 });
  } catch (e) {
    const err = e as { message?: string; code?: string };
    if (e instanceof Silence) stall();
    // pg reports a connection that ended under a statement without a SQLSTATE: it is a link failure all the same.
    const code = err.code ?? (c !== undefined && c !== client ? '08006' : undefined);
    answer({ id: ask.id, error: { message: err.message ?? String(e), code, silent: e instanceof Silence ? true : undefined } });
  } finally {
    // The server's last word on the connection (ReadyForQuery) says whether a transaction is open on it.
    if (c !== undefined && !abandoned.has(c)) inTransaction = c.getTransactionStatus() === 'I' ? undefined : c;
  }
}

// One statement at a time, in the order posted: the caller sleeps on each.
let chain = Promise.resolve();
(queries as MessagePort).on('message', (ask: PgAsk) => {
  if (ask.reset === true) return stall();
  if (ask.quiet === true) return publish(ask);
  chain = chain.then(() => run(ask));
});

let closed = false;
// The server's thread closed the store: nothing here is to go on (the thread is being terminated too).
(queries as MessagePort).on('close', () => {
  closed = true;
});

/**
 * PostgreSQL stopped answering. The connections it holds are dropped (the
 * statement stuck on one fails, and what comes after goes on a new
 * connection, made when it is needed), and so is any transaction on them,
 * which the server's thread has unwound already: its statements are
 * synchronous. A probe then asks on a connection of its own until
 * PostgreSQL answers, and says so ('answering').
 */
function stall(): void {
  drop(client);
  drop(opening);
  client = undefined;
  inTransaction = undefined;
  // Best effort, as the bus is; the nodes look at the rows again when it answers.
  drop(publisher);
  publisher = undefined;
  outbox.length = 0;
  // Made again by listen(), which says "look again" when it is.
  drop(listening);
  if (!probing) void probe();
}

let probing = false;
async function probe(): Promise<void> {
  probing = true;
  for (let delay = 200; !closed; delay = Math.min(delay * 2, 2_000)) {
    // Bounded on this side too: a server that stopped answering enforces no statement_timeout.
    const c = new pg.Client({ ...connectionOptions(), query_timeout: statementTimeoutMs });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT 1');
      c.end().catch(() => undefined);
      probing = false;
      news.postMessage({ kind: 'answering' } satisfies PgNews);
      return;
    } catch {
      drop(c);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  probing = false;
}

// Messages to the other nodes go on a connection of their own, many to a
// statement: a burst of them (a fleet reconnecting announces every device)
// never makes a statement the server's thread sleeps on wait behind it.
// Everything the server committed before posting one is committed already:
// its statements are synchronous.
const PUBLISH_BATCH = 100;
const outbox: PgAsk[] = [];
let publishing = false;
let publisher: pg.Client | undefined;

function publish(ask: PgAsk): void {
  if (outbox.length >= OUTBOX_MAX) return;
  outbox.push(ask);
  if (!publishing) void drain();
}

async function drain(): Promise<void> {
  publishing = true;
  while (outbox.length > 0) {
    const batch = outbox.splice(0, PUBLISH_BATCH);
    try {
      if (publisher === undefined) {
        const c = new pg.Client(connectionOptions());
        c.on('error', () => {
          if (publisher === c) publisher = undefined;
        });
        await c.connect();
        publisher = c;
      }
      // Each ask is `SELECT pg_notify($1, $2)`: their arguments, in one statement.
      const values = batch.flatMap((a) => a.params as unknown[]);
      const calls = batch.map((_, i) => `pg_notify($${2 * i + 1}, $${2 * i + 2})`);
      await publisher.query({ text: `SELECT ${calls.join(', ')}`, values });
    } catch {
      if (publisher !== undefined) drop(publisher);
      // Best effort, as the bus is: the rows are the truth, and the others look at them.
      publisher = undefined;
    }
  }
  publishing = false;
}

// The doorbell. A lost connection may have lost notifications, so a new one
// says "look again" first (`resync`): rows are the truth, this only wakes.
let listening: pg.Client | undefined;
async function listen(): Promise<void> {
  let delay = 100;
  for (;;) {
    const c = new pg.Client(connectionOptions());
    listening = c;
    const ended = new Promise<void>((resolve) => {
      c.on('error', () => resolve());
      c.on('end', () => resolve());
    });
    try {
      await c.connect();
      c.on('notification', (n) => news.postMessage({ kind: 'notify', channel: n.channel, payload: n.payload ?? '', pid: n.processId } satisfies PgNews));
      await c.query(`LISTEN ${PG_CHANNEL}; LISTEN ${PG_BUS}`);
      news.postMessage({ kind: 'resync' } satisfies PgNews);
      delay = 100;
      await ended;
    } catch {
      // Retried below; the query connection reports the outage to callers.
    }
    c.end().catch(() => undefined);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5_000);
  }
}
void listen();
