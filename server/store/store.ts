// The store as every part of the server uses it, whichever database holds
// the rows: SQLite (db.ts), the default for one node, or PostgreSQL
// (pg-store.ts), shared by several.

import type { Dialect } from './dialect.js';

/** A prepared statement, as the store's functions use one on either database. */
export interface StoreStatement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
  /** The first column of each row instead of the row. */
  pluck(): StoreStatement;
}

export interface StoreDatabase {
  readonly isOpen: boolean;
  /** `fn` as one transaction (a call inside another joins it as a savepoint). */
  transaction<T>(fn: () => T): () => T;
}

/** The rows every part of the server shares: one SQLite file, or a PostgreSQL database several nodes share. */
export interface Store {
  readonly sql: Dialect;
  readonly db: StoreDatabase;
  /** The folder of the admin token (and of the SQLite file). */
  readonly dataDir: string;
  /** Where the rows are, for people: the file, or the URL without its password. */
  readonly location: string;
  /** A prepared statement, compiled once per store. */
  stmt(sql: string): StoreStatement;
  /** Runs `fn` before the store closes: for writes a part of the store holds back to batch them. */
  beforeClose(fn: () => void): void;
  /**
   * A number that changes whenever another connection (the CLI, another
   * node) commits, and only then; given a table, whenever one changes that
   * table (a store that cannot tell the tables apart counts every commit).
   */
  changesElsewhere(table?: 'devices'): number;
  /** Gives the space of dropped rows back; returns the bytes freed where the database says. */
  compact(): number;
  /** How nodes sharing this store reach each other; undefined for a store of one node (SQLite). */
  readonly bus: ClusterBus | undefined;
  close(): void;
}

/**
 * What several nodes sharing a store tell each other. Rows stay the truth:
 * a message lost on the way (a node's listening connection broke) costs a
 * wait for the next look at the rows, never a wrong answer.
 */
export interface ClusterBus {
  /** The largest message, in bytes of UTF-8, publish takes. */
  readonly maxMessage: number;
  /** Sends `message` to every other node, after what this node committed before it; best effort. */
  publish(message: string): void;
  /** Hears other nodes' messages, and `changed` whenever rows may have changed elsewhere. Returns the way to stop. */
  listen(listener: BusListener): () => void;
  /** Rows may have changed unseen (a notification lost on the way): listeners hear `changed`, as for a notification. */
  lookAgain(): void;
}

export interface BusListener {
  message?(text: string): void;
  changed?(): void;
  /** This node hears the bus (again): what was said while it did not is lost, and may be asked for again. */
  listening?(): void;
}

/** Whether `--store` names a PostgreSQL database rather than a folder. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(location);
}

/** The SQL function that folds text for a search that ignores case (jobs.list `q`). */
export const FOLD = 'pb_fold';

/** Text as a search that ignores case compares it. */
export function fold(text: string): string {
  return text.toLowerCase();
}

