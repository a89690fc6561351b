// The embedded store: one SQLite file, <dataDir>/printbridge.db. The server
// and the CLI (`devices add` while the server runs) open the same file, so it
// runs in WAL mode with a busy timeout and every schema change is a numbered
// migration recorded in PRAGMA user_version.

import { DatabaseSync, enhance } from '@photostructure/sqlite';
import { join } from 'node:path';
import { SQLITE } from './dialect.js';
import { openPostgresStore } from './pg-store.js';
import { FOLD, fold, isPostgresUrl, type Store } from './store.js';
import { privateDir, privateFile, privateIfPresent } from './private-files.js';

/**
 * Append only: a released migration is never edited, because databases in
 * the field have already run it. Entry i moves user_version from i to i + 1.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    tags       TEXT NOT NULL DEFAULT '[]',
    created    INTEGER NOT NULL,
    last_seen  INTEGER,
    fw         TEXT,
    ports      TEXT NOT NULL DEFAULT '[]',
    address    TEXT
  );
  CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    printer       TEXT NOT NULL,
    device        TEXT NOT NULL,
    port          INTEGER NOT NULL,
    idem_key      TEXT,
    state         TEXT NOT NULL,
    size          INTEGER NOT NULL,
    data          BLOB,
    written       INTEGER NOT NULL DEFAULT 0,
    started       INTEGER NOT NULL DEFAULT 0,
    error_code    TEXT,
    error_message TEXT,
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL
  );
  CREATE INDEX jobs_queue ON jobs (printer, state, created);
  CREATE UNIQUE INDEX jobs_idem ON jobs (printer, idem_key) WHERE idem_key IS NOT NULL;
  CREATE INDEX jobs_created ON jobs (created);
  `,
  // 2: the job lifecycle (a client's hold, start and finish times) and
  // printer queues that a client paused.
  `
  ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN started_at INTEGER;
  ALTER TABLE jobs ADD COLUMN finished_at INTEGER;
  UPDATE jobs SET finished_at = updated WHERE state IN ('done', 'failed', 'canceled');
  CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
  CREATE INDEX jobs_state ON jobs (state, created);
  CREATE TABLE printer_queues (
    printer TEXT PRIMARY KEY,
    paused  INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL
  );
  `,
  // 3: jobs that may resume a stalled G-code print, and short-lived client
  // tokens (token.issue), kept as SHA-256 hashes only.
  `
  ALTER TABLE jobs ADD COLUMN resume INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE client_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    label      TEXT,
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL,
    revoked    INTEGER
  );
  CREATE INDEX client_tokens_expires ON client_tokens (expires);
  `,
  // 4: token scopes (tokens issued before them keep printing only) and who
  // submitted each job (a client token's id; NULL for the admin and the
  // compat listener), so that a token acts on its own jobs only.
  `
  ALTER TABLE client_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '["print"]';
  ALTER TABLE jobs ADD COLUMN owner TEXT;
  CREATE INDEX jobs_owner ON jobs (owner, created) WHERE owner IS NOT NULL;
  `,
  // 5: job data in a table of its own. In the job's row SQLite rewrote all
  // of it whenever the row changed size (a state's name, the count of bytes
  // written), several times per job; jobs.data stays, always NULL.
  `
  CREATE TABLE job_data (
    id   TEXT PRIMARY KEY,
    data BLOB NOT NULL
  );
  INSERT INTO job_data (id, data) SELECT id, data FROM jobs WHERE data IS NOT NULL;
  UPDATE jobs SET data = NULL WHERE data IS NOT NULL;
  `,
  // 6: what a job is called (job.submit name); NULL when it was not named.
  // Finished jobs keep their job_data row from now on, within retention's
  // finishedDataMaxBytes, so that they can be printed again.
  `
  ALTER TABLE jobs ADD COLUMN name TEXT;
  `,
  // 7: which node holds each device's connection, under an epoch that every
  // new connection raises (store/owners.ts); used when nodes share a store.
  `
  CREATE TABLE device_owner (
    device      TEXT PRIMARY KEY,
    node        TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    lease_until INTEGER NOT NULL
  );
  CREATE INDEX device_owner_node ON device_owner (node);
  `,
];

export { FOLD, fold, isPostgresUrl };
export type { Store, StoreDatabase, StoreStatement } from './store.js';

export const DB_FILE = 'printbridge.db';

/**
 * One connection to an SQLite file. @photostructure/sqlite is node:sqlite's
 * API for Node 20 with its binaries in the npm package (nothing compiles
 * at install); `enhance` adds the transaction functions, `pragma` and
 * `pluck` the store is written with.
 */
export function openDatabase(path: string): Database {
  const db = enhance(new DatabaseSync(path));
  for (const see of databaseWatchers) see(db);
  return db;
}

/** Sees every connection openDatabase makes, before it is used: how a bench counts a server's writes from inside it. */
export const databaseWatchers = new Set<(db: Database) => void>();

export type Database = ReturnType<typeof enhance<InstanceType<typeof DatabaseSync>>>;
export type Statement = ReturnType<Database['prepare']>;

/** SQLite's result code when another connection holds the lock past the busy timeout. */
const SQLITE_BUSY = 5;

export interface SqliteStore extends Store {
  readonly db: Database;
  readonly path: string;
  stmt(sql: string): Statement;
}

/**
 * The store at `location`: a PostgreSQL URL (postgres://…), or else the
 * SQLite file in `dataDir`. The admin token lives in `dataDir` either way.
 */
export function openStore(dataDir: string): SqliteStore;
export function openStore(dataDir: string, url: string | undefined): Store;
export function openStore(dataDir: string, url?: string): Store {
  if (url !== undefined) {
    if (!isPostgresUrl(url)) throw new Error(`--store takes a postgres:// URL (got "${url}"); for SQLite give the folder with --data`);
    return openPostgresStore(dataDir, url);
  }
  return openSqliteStore(dataDir);
}

function openSqliteStore(dataDir: string): SqliteStore {
  privateDir(dataDir);
  const path = join(dataDir, DB_FILE);
  // Made 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
  // database file's mode. Ones left by an older version are narrowed too.
  privateFile(path);
  for (const suffix of ['-wal', '-shm']) privateIfPresent(path + suffix);
  const db = openDatabase(path);
  try {
    db.pragma('busy_timeout = 5000');
    // Before any table exists, so that a new file is made with it; an older
    // file is switched below.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    // A 16 MiB job passes through the WAL; without a limit the -wal file
    // stays as large as the largest burst ever written.
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    // FULL, not NORMAL: the `started` flag must be on disk before the first
    // byte of a job leaves, or a power cut could let the job print twice.
    db.pragma('synchronous = FULL');
    migrate(db);
    enableIncrementalVacuum(db);
    // SQLite's lower() folds ASCII only; a name is searched in any script.
    db.function(FOLD, { deterministic: true }, (value: unknown) => (typeof value === 'string' ? fold(value) : null));
  } catch (e) {
    db.close();
    throw e;
  }
  const statements = new Map<string, Statement>();
  const closing = new Set<() => void>();
  const store: SqliteStore = {
    sql: SQLITE,
    db,
    dataDir,
    path,
    location: path,
    stmt(sql) {
      let s = statements.get(sql);
      if (s === undefined) {
        s = db.prepare(sql);
        statements.set(sql, s);
      }
      return s;
    },
    beforeClose(fn) {
      closing.add(fn);
    },
    changesElsewhere() {
      return (store.stmt('PRAGMA data_version').get() as { data_version: number }).data_version;
    },
    compact() {
      return compactSqlite(db);
    },
    bus: undefined,
    close() {
      if (db.isOpen) for (const fn of closing) fn();
      closing.clear();
      statements.clear();
      if (db.isOpen) db.close();
    },
  };
  return store;
}

/** What the -wal file is cut back to after a checkpoint. */
const WAL_SIZE_LIMIT = 4 * 1024 * 1024;

/**
 * A file made before auto_vacuum was set keeps its free pages forever; one
 * VACUUM rewrites it with incremental vacuum on. Best effort: while another
 * process holds the file it waits for a later start.
 */
function enableIncrementalVacuum(db: Database): void {
  if (db.pragma('auto_vacuum', { simple: true }) === AUTO_VACUUM_INCREMENTAL) return;
  db.pragma('auto_vacuum = INCREMENTAL');
  try {
    db.exec('VACUUM');
  } catch (e) {
    if ((e as { errcode?: unknown }).errcode !== SQLITE_BUSY) throw e;
  }
}

const AUTO_VACUUM_INCREMENTAL = 2;

/**
 * Gives the pages that dropped job data and pruned rows freed back to the
 * file system, so that the file shrinks as retention frees space (the data
 * of finished jobs beyond finishedDataMaxBytes, and the rows the sweep
 * prunes). Returns the bytes freed.
 */
export function compactStore(store: Store): number {
  return store.compact();
}

function compactSqlite(db: Database): number {
  const pages = db.pragma('freelist_count', { simple: true }) as number;
  if (pages === 0) return 0;
  db.pragma('incremental_vacuum');
  // The file is cut only when a checkpoint moves the vacuum out of the WAL.
  db.pragma('wal_checkpoint(TRUNCATE)');
  return pages * (db.pragma('page_size', { simple: true }) as number);
}

/**
 * A number that changes whenever another connection (the CLI, another
 * node) commits, and only then; cheap, so a server can poll it.
 */
export function changesElsewhere(store: Store, table?: 'devices'): number {
  return store.changesElsewhere(table);
}

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function migrate(db: Database): void {
  // IMMEDIATE takes the write lock before reading the version, so a server and
  // a CLI opening a fresh file at once cannot both run migration 0.
  db.transaction(() => {
    const from = schemaVersion(db);
    if (from > MIGRATIONS.length) {
      throw new Error(`database schema version ${from} is newer than this server understands (${MIGRATIONS.length}); upgrade printbridge`);
    }
    for (let i = from; i < MIGRATIONS.length; i++) {
      db.exec(MIGRATIONS[i] as string);
      db.pragma(`user_version = ${i + 1}`);
    }
  }).immediate();
}
