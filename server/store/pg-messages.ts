// What the server's thread and the PostgreSQL thread (pg-worker.ts) say to
// each other.

import type { MessagePort } from 'node:worker_threads';

/** The one channel nodes notify on; the payload says what changed. */
export const PG_CHANNEL = 'printbridge';
/** The channel nodes tell each other things on (store.ts ClusterBus). */
export const PG_BUS = 'printbridge_bus';

/** Messages to other nodes waiting for PostgreSQL beyond this many are dropped: a database that lags far behind makes them stale anyway. */
export const OUTBOX_MAX = 10_000;

/** The flag's slot the thread sets on its way out, so that a statement waiting on it wakes at once. */
export const FLAG_GONE = 1;

export interface PgWorkerData {
  url: string;
  /** A SharedArrayBuffer of two Int32: the doorbell (an answer was posted), and FLAG_GONE. */
  flag: SharedArrayBuffer;
  queries: MessagePort;
  news: MessagePort;
  statementTimeoutMs: number;
}

export interface PgAsk {
  id: number;
  sql: string;
  params: readonly unknown[];
  /** A NOTIFY nobody waits for (params: channel, payload): sent on a connection of its own, its failure dropped. */
  quiet?: boolean;
  /** A statement timed out: drop the query connection and probe until PostgreSQL answers. */
  reset?: boolean;
  /**
   * The statement ends the outermost transaction (pg-store's COMMIT or
   * ROLLBACK): one whose connection was lost is over with it, and a
   * ROLLBACK of it succeeds without running.
   */
  ends?: 'commit' | 'rollback' | undefined;
}

export type PgAnswer =
  | { id: number; rows: Record<string, unknown>[]; rowCount: number; error?: undefined }
  /** `silent`: PostgreSQL did not answer at all; the worker probes until it does ('answering'). */
  | { id: number; error: { message: string; code: string | undefined; silent?: boolean | undefined } };

export type PgNews =
  /** The query connection is (again) open, as backend `pid`: notifications from it are this node's own. */
  | { kind: 'connected'; pid: number }
  | { kind: 'notify'; channel: string; payload: string; pid: number }
  /** The listening connection is (again) open: anything may have changed while it was not. */
  | { kind: 'resync' }
  /** After a statement timed out, PostgreSQL answered a probe: statements may go again. */
  | { kind: 'answering' };
