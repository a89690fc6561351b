// PostgreSQL with SQLite's calling convention: a statement returns its rows
// when the call returns. The store is written that way (each state change
// is durable before the next step acts on it), and so is every part of the
// server that uses it. A statement is posted to a thread of its own
// (pg-worker.ts) and this thread sleeps on a shared flag until the answer
// is there: the server's loop waits one round trip to PostgreSQL, as it
// waits for SQLite's fsync, and no longer than `timeoutMs`.
//
// The price, measured by `npm run bench -- --only jobs`, is a round trip per
// statement; the store keeps statements few (group commits) for SQLite's
// fsync already.

import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort, type WorkerOptions } from 'node:worker_threads';
import { PrintbridgeError } from '../errors.js';
import { FLAG_GONE, type PgAnswer, type PgAsk, type PgNews, type PgWorkerData } from './pg-messages.js';

export interface PgResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

/** A statement PostgreSQL refused (its SQLSTATE in `code`). */
export class PgError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'PgError';
  }
}

/**
 * Failures that say nothing of the statement and everything of the link:
 * no answer in time, the connection refused, cut or reset, the server
 * shutting down (SQLSTATE classes 08 and 57). A peer hears STORE_UNAVAILABLE.
 */
function linkFailure(code: string | undefined): boolean {
  return code === undefined ? false : /^(08|57)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(code);
}

function storeUnavailable(detail: string): PrintbridgeError {
  return new PrintbridgeError('STORE_UNAVAILABLE', detail);
}

/** How long one statement may take, connecting included, before the store gives up on it. */
export const PG_TIMEOUT_MS = 10_000;
/** A thread that ended unasked is started again after this, doubled for each that ends soon after (at most REVIVE_MAX_MS). */
export const REVIVE_MS = 100;
const REVIVE_MAX_MS = 30_000;

/**
 * The worker as built: beside this module in a bundle. Run from TypeScript
 * sources (tests, `node --import tsx`), a worker does not inherit the
 * loader that reads them, so a one-line bootstrap loads it first.
 */
function startWorker(options: WorkerOptions): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./pg-worker.js', here), options);
  const api = import.meta.resolve('tsx/esm/api');
  const source = new URL('./pg-worker.ts', here).href;
  const bootstrap = `import(${JSON.stringify(api)}).then(({ tsImport }) => tsImport(${JSON.stringify(source)}, ${JSON.stringify(here)}))`;
  return new Worker(bootstrap, { ...options, eval: true });
}

export class PgSync {
  private worker!: Worker;
  private readonly flag = new SharedArrayBuffer(8);
  private readonly signal = new Int32Array(this.flag);
  private queries!: MessagePort;
  private news!: MessagePort;
  private nextId = 1;
  private closed = false;
  private reviveDelay = REVIVE_MS;
  private lastRevive = 0;
  /** How many times the thread was started again, for the logs and tests. */
  revived = 0;
  /**
   * A statement went unanswered: until the worker hears PostgreSQL answer
   * again, statements fail at once instead of each holding the loop for the
   * whole timeout (a database that stopped answering, not one that refuses).
   */
  private silent = false;

  constructor(
    readonly url: string,
    private readonly onNews: (news: PgNews) => void,
    private readonly timeoutMs = PG_TIMEOUT_MS,
  ) {
    this.start();
  }

  private start(): void {
    const queries = new MessageChannel();
    const news = new MessageChannel();
    this.queries = queries.port1;
    this.news = news.port1;
    const data: PgWorkerData = { url: this.url, flag: this.flag, queries: queries.port2, news: news.port2, statementTimeoutMs: this.timeoutMs };
    const worker = startWorker({ workerData: data, transferList: [queries.port2, news.port2] });
    this.worker = worker;
    // Neither the thread nor its doorbell keeps a process alive that is done.
    worker.unref();
    this.news.unref();
    this.news.on('message', (news: PgNews) => {
      if (news.kind === 'answering') this.silent = false;
      this.onNews(news);
    });
    worker.on('error', (e) => { if (process.env['PB_PG_DEBUG']) console.error('pg worker', e); });
    worker.on('exit', () => {
      if (this.closed || worker !== this.worker) return;
      // Its connections went with it, and a transaction on them: a new thread makes new ones.
      // A thread ended by an exception has said so itself; one terminated or out of memory has not.
      Atomics.store(this.signal, FLAG_GONE, 1);
      const soon = Date.now() - this.lastRevive < REVIVE_MAX_MS;
      this.reviveDelay = soon ? Math.min(this.reviveDelay * 2, REVIVE_MAX_MS) : REVIVE_MS;
      setTimeout(() => this.revive(), this.reviveDelay).unref();
    });
  }

  /** A new thread in place of one that ended; its listening connection says "look again" (resync) once it is up. */
  private revive(): void {
    if (this.closed || !this.dead) return;
    this.news.close();
    this.queries.close();
    Atomics.store(this.signal, FLAG_GONE, 0);
    this.silent = false;
    this.lastRevive = Date.now();
    this.revived += 1;
    this.start();
  }

  query(sql: string, params: readonly unknown[] = [], ends?: PgAsk['ends']): PgResult {
    if (this.closed) throw storeUnavailable('the store is closed');
    if (this.dead) throw storeUnavailable('the PostgreSQL thread stopped; it is being started again');
    if (this.silent) throw storeUnavailable('PostgreSQL stopped answering; waiting until it answers again');
    const id = this.nextId++;
    this.queries.postMessage({ id, sql, params, ends } satisfies PgAsk);
    const deadline = Date.now() + this.timeoutMs + 1_000;
    for (;;) {
      // Cleared before the port is read, so that an answer posted after the
      // read still wakes the wait below.
      Atomics.store(this.signal, 0, 0);
      const answer = this.take(id);
      if (answer !== undefined) {
        if (answer.error !== undefined) {
          if (answer.error.silent === true) this.silent = true;
          if (linkFailure(answer.error.code)) throw storeUnavailable(answer.error.message);
          throw new PgError(answer.error.message, answer.error.code);
        }
        return answer;
      }
      if (this.dead) throw storeUnavailable('the PostgreSQL thread stopped; it is being started again');
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(this.signal, 0, 0, left) === 'timed-out') {
        this.silent = true;
        // The worker drops the stuck connection and asks until PostgreSQL answers ('answering').
        this.queries.postMessage({ id: 0, sql: '', params: [], reset: true } satisfies PgAsk);
        throw storeUnavailable(`PostgreSQL did not answer within ${this.timeoutMs} ms`);
      }
    }
  }

  /**
   * The thread ended unasked (an exception nothing caught there): statements
   * fail at once until a new one runs.
   */
  private get dead(): boolean {
    return Atomics.load(this.signal, FLAG_GONE) === 1;
  }

  /** NOTIFY `channel` with `payload`, without waiting: best effort, its failure unseen. */
  notify(channel: string, payload: string): void {
    // While PostgreSQL is silent messages would only pile up; the nodes look at the rows again when it answers.
    if (this.closed || this.silent || this.dead) return;
    this.queries.postMessage({ id: 0, sql: 'SELECT pg_notify($1, $2)', params: [channel, payload], quiet: true } satisfies PgAsk);
  }

  /** The answer to `id` if it came; answers to statements that timed out earlier are dropped. */
  private take(id: number): PgAnswer | undefined {
    for (let m = receiveMessageOnPort(this.queries); m !== undefined; m = receiveMessageOnPort(this.queries)) {
      const answer = m.message as PgAnswer;
      if (answer.id === id) return answer;
    }
    return undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.news.close();
    this.queries.close();
    void this.worker.terminate();
  }
}
