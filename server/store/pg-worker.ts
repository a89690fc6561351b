// The thread that talks to PostgreSQL for a PgSync (pg-sync.ts). The store
// is synchronous, as SQLite's is, so the server's thread posts one statement
// and sleeps on a shared flag until this thread has the answer; the answer
// itself travels as a message the sleeper reads with receiveMessageOnPort.
//
// A second connection LISTENs for the notifications other nodes send on
// commit, and passes each on as an ordinary (asynchronous) message.

import { workerData, type MessagePort } from 'node:worker_threads';
import pg from 'pg';
import { PG_BUS, PG_CHANNEL, type PgAnswer, type PgAsk, type PgNews, type PgWorkerData } from './pg-messages.js';

const { url, flag, queries, news, statementTimeoutMs } = workerData as PgWorkerData;
const signal = new Int32Array(flag);

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

/** The query connection, made again after it broke: a cut connection fails the statements in flight only. */
function queryClient(): Promise<pg.Client> {
  if (client !== undefined) return Promise.resolve(client);
  connecting ??= (async () => {
    const c = new pg.Client(connectionOptions());
    c.on('error', () => {
      if (client === c) client = undefined;
    });
    c.on('end', () => {
      if (client === c) client = undefined;
    });
    try {
      await c.connect();
    } catch (e) {
      c.end().catch(() => undefined);
      throw e;
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

async function run(ask: PgAsk): Promise<void> {
  try {
    const c = await queryClient();
    const result = await c.query({ text: ask.sql, values: ask.params as unknown[] });
    if (ask.quiet === true) return;
    answer({ id: ask.id, rows: result.rows as Record<string, unknown>[], rowCount: result.rowCount ?? 0 });
  } catch (e) {
    const err = e as { message?: string; code?: string };
    if (ask.quiet === true) return;
    answer({ id: ask.id, error: { message: err.message ?? String(e), code: err.code } });
  }
}

// One statement at a time, in the order posted: the caller sleeps on each.
let chain = Promise.resolve();
(queries as MessagePort).on('message', (ask: PgAsk) => {
  if (ask.quiet === true) return publish(ask);
  chain = chain.then(() => run(ask));
});

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
      // Best effort, as the bus is: the rows are the truth, and the others look at them.
      publisher?.end().catch(() => undefined);
      publisher = undefined;
    }
  }
  publishing = false;
}

// The doorbell. A lost connection may have lost notifications, so a new one
// says "look again" first (`resync`): rows are the truth, this only wakes.
async function listen(): Promise<void> {
  let delay = 100;
  for (;;) {
    const c = new pg.Client(connectionOptions());
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
