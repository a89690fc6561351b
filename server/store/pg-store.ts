// The store on PostgreSQL, for several server nodes sharing one database
// (`serve --store postgres://…`). The tables are SQLite's, with PostgreSQL's
// types; the store's functions run the same statements on both (dialect.ts
// names where they differ). Every commit that changes a table rings the
// `printbridge` channel: other nodes learn that the rows changed without
// polling them, and poll as well, since a notification can be lost.

import { POSTGRES } from './dialect.js';
import { PG_BUS, PG_CHANNEL, type PgNews } from './pg-messages.js';
import { ERRORS } from '../../protocol/errors.js';
import { PrintbridgeError } from '../errors.js';
import { PG_TIMEOUT_MS, PgSync } from './pg-sync.js';
import { FOLD, type BusListener, type Store, type StoreStatement } from './store.js';

/** NOTIFY's payload is under 8000 bytes. */
const PG_MAX_MESSAGE = 7999;

/**
 * Append only, as SQLite's MIGRATIONS: entry i moves pb_schema.version from
 * i to i + 1. The first is SQLite's schema as its first six migrations left it.
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  -- Ids sort by their bytes, as in SQLite, whatever the database's locale.
  CREATE TABLE devices (
    id         TEXT COLLATE "C" PRIMARY KEY,
    token_hash TEXT NOT NULL,
    tags       TEXT NOT NULL DEFAULT '[]',
    created    BIGINT NOT NULL,
    last_seen  BIGINT,
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
    size          BIGINT NOT NULL,
    written       BIGINT NOT NULL DEFAULT 0,
    started       INTEGER NOT NULL DEFAULT 0,
    error_code    TEXT,
    error_message TEXT,
    created       BIGINT NOT NULL,
    updated       BIGINT NOT NULL,
    held          INTEGER NOT NULL DEFAULT 0,
    started_at    BIGINT,
    finished_at   BIGINT,
    resume        INTEGER NOT NULL DEFAULT 0,
    owner         TEXT,
    name          TEXT,
    -- SQLite's rowid: the order of jobs submitted in the same millisecond.
    seq           BIGSERIAL NOT NULL UNIQUE
  );
  CREATE INDEX jobs_queue ON jobs (printer, state, created);
  CREATE UNIQUE INDEX jobs_idem ON jobs (printer, idem_key) WHERE idem_key IS NOT NULL;
  CREATE INDEX jobs_created ON jobs (created);
  CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
  CREATE INDEX jobs_state ON jobs (state, created);
  CREATE INDEX jobs_owner ON jobs (owner, created) WHERE owner IS NOT NULL;
  CREATE INDEX jobs_device ON jobs (device);
  CREATE TABLE job_data (
    id   TEXT PRIMARY KEY,
    data BYTEA NOT NULL
  );
  CREATE TABLE printer_queues (
    printer TEXT PRIMARY KEY,
    paused  INTEGER NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL
  );
  CREATE TABLE client_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    label      TEXT,
    created    BIGINT NOT NULL,
    expires    BIGINT NOT NULL,
    revoked    BIGINT,
    scopes     TEXT NOT NULL DEFAULT '["print"]'
  );
  CREATE INDEX client_tokens_expires ON client_tokens (expires);
  -- lower() under the database's own locale may fold ASCII only; ICU's root
  -- locale folds every script, as the SQLite store does.
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
      EXECUTE 'CREATE FUNCTION ${FOLD}(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $f$ SELECT lower($1 COLLATE "und-x-icu") $f$';
    ELSE
      EXECUTE 'CREATE FUNCTION ${FOLD}(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $f$ SELECT lower($1) $f$';
    END IF;
  END $$;
  CREATE FUNCTION pb_changed() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM pg_notify('${PG_CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
  END $$;
  CREATE TRIGGER devices_changed AFTER INSERT OR UPDATE OR DELETE ON devices FOR EACH STATEMENT EXECUTE FUNCTION pb_changed();
  CREATE TRIGGER jobs_changed AFTER INSERT OR UPDATE OR DELETE ON jobs FOR EACH STATEMENT EXECUTE FUNCTION pb_changed();
  CREATE TRIGGER printer_queues_changed AFTER INSERT OR UPDATE OR DELETE ON printer_queues FOR EACH STATEMENT EXECUTE FUNCTION pb_changed();
  CREATE TRIGGER client_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON client_tokens FOR EACH STATEMENT EXECUTE FUNCTION pb_changed();
  `,
  // 2: SQLite's 7, device ownership. Its changes travel as messages of
  // their own (the owner's claim), not as a table notification.
  `
  CREATE TABLE device_owner (
    device      TEXT COLLATE "C" PRIMARY KEY,
    node        TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    lease_until BIGINT NOT NULL
  );
  CREATE INDEX device_owner_node ON device_owner (node);
  `,
  // 3: a device's hello (its ports, last seen) wakes no other node: they
  // hear of the device from its holder, and read the ports when they need
  // them. Only a device added or removed does (registered ids, removals).
  `
  DROP TRIGGER devices_changed ON devices;
  CREATE TRIGGER devices_changed AFTER INSERT OR DELETE ON devices FOR EACH STATEMENT EXECUTE FUNCTION pb_changed();
  `,
];

/** Any number, the same in every node: the lock that lets one node at a time migrate. */
const MIGRATION_LOCK = 0x70620001;

/** `?` placeholders as PostgreSQL's `$1, $2…`; the store's statements quote no question mark. */
export function numberedParameters(sql: string): string {
  let n = 0;
  let out = '';
  let quote: string | undefined;
  for (const ch of sql) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

class PgStatement implements StoreStatement {
  private readonly text: string;

  constructor(
    private readonly conn: PgSync,
    sql: string,
    private readonly plucked = false,
  ) {
    this.text = numberedParameters(sql);
  }

  get(...params: unknown[]): unknown {
    const row = this.conn.query(this.text, params).rows[0];
    return row === undefined ? undefined : this.shape(row);
  }

  all(...params: unknown[]): unknown[] {
    return this.conn.query(this.text, params).rows.map((row) => this.shape(row));
  }

  run(...params: unknown[]): { changes: number } {
    return { changes: this.conn.query(this.text, params).rowCount };
  }

  pluck(): StoreStatement {
    return new PgStatement(this.conn, this.text, true);
  }

  private shape(row: Record<string, unknown>): unknown {
    if (!this.plucked) return row;
    for (const key in row) return row[key];
    return undefined;
  }
}

/** The URL as a person may see it: without its password. */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unreadable URL)';
  }
}

/** `timeoutMs`: how long one statement may go unanswered (tests shorten it). */
export function openPostgresStore(dataDir: string, url: string, timeoutMs = PG_TIMEOUT_MS): Store {
  let ownPid = 0;
  let elsewhere = 0;
  /** Of `elsewhere`, the changes to the devices table (registered ids are read again only then). */
  let devicesElsewhere = 0;
  const listeners = new Set<BusListener>();
  const changed = (table?: string): void => {
    elsewhere += 1;
    if (table === undefined || table === 'devices') devicesElsewhere += 1;
    for (const l of listeners) l.changed?.();
  };
  const onNews = (news: PgNews): void => {
    switch (news.kind) {
      case 'connected':
        ownPid = news.pid;
        return;
      case 'notify':
        // What this node sent itself is not news to it.
        if (news.pid === ownPid) return;
        if (news.channel === PG_BUS) for (const l of listeners) l.message?.(news.payload);
        else changed(news.payload);
        return;
      case 'resync':
        changed();
        for (const l of listeners) l.listening?.();
        return;
      case 'answering':
        // What others committed while it was silent is looked at again.
        changed();
        return;
    }
  };
  const conn = new PgSync(url, onNews, timeoutMs);
  const statements = new Map<string, PgStatement>();
  const closing = new Set<() => void>();
  let open = true;
  let depth = 0;

  const store: Store = {
    sql: POSTGRES,
    dataDir,
    location: shownUrl(url),
    db: {
      get isOpen() {
        return open;
      },
      transaction<T>(fn: () => T): () => T {
        return () => {
          const outermost = depth === 0;
          const savepoint = `pb_${depth}`;
          conn.query(outermost ? 'BEGIN' : `SAVEPOINT ${savepoint}`);
          depth += 1;
          let result: T;
          try {
            result = fn();
          } catch (e) {
            try {
              if (outermost) conn.query('ROLLBACK', [], 'rollback');
              else conn.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
            } catch {
              // The connection that failed the statement may be gone with its transaction.
            }
            throw e;
          } finally {
            depth -= 1;
          }
          // Outside the try: a COMMIT that fails (unanswered, its connection
          // lost) must not count the depth down twice, which would leave every
          // later transaction a savepoint of one that is not there.
          if (outermost) conn.query('COMMIT', [], 'commit');
          else conn.query(`RELEASE SAVEPOINT ${savepoint}`);
          return result;
        };
      },
    },
    stmt(sql) {
      let s = statements.get(sql);
      if (s === undefined) {
        s = new PgStatement(conn, sql);
        statements.set(sql, s);
      }
      return s;
    },
    beforeClose(fn) {
      closing.add(fn);
    },
    changesElsewhere(table) {
      return table === 'devices' ? devicesElsewhere : elsewhere;
    },
    compact() {
      // PostgreSQL's autovacuum gives dead rows' space back by itself.
      return 0;
    },
    bus: {
      maxMessage: PG_MAX_MESSAGE,
      publish(message) {
        if (Buffer.byteLength(message) > PG_MAX_MESSAGE) throw new RangeError(`a cluster message of ${Buffer.byteLength(message)} bytes is over ${PG_MAX_MESSAGE}`);
        conn.notify(PG_BUS, message);
      },
      listen(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      lookAgain: () => changed(),
    },
    close() {
      if (!open) return;
      try {
        for (const fn of closing) fn();
      } finally {
        closing.clear();
        open = false;
        conn.close();
      }
    },
  };
  try {
    migratePostgres(store);
  } catch (e) {
    store.close();
    // Named for the database: a refused connection here is not the printbridge server's.
    const said = e instanceof Error ? e.message : String(e);
    const unavailable = `${ERRORS.STORE_UNAVAILABLE.text}: `;
    throw new PrintbridgeError('STORE_UNAVAILABLE', `PostgreSQL at ${store.location}: ${said.startsWith(unavailable) ? said.slice(unavailable.length) : said}`);
  }
  return store;
}

function migratePostgres(store: Store): void {
  store.db.transaction(() => {
    // Several nodes starting at once: one migrates, the others wait and find it done.
    store.stmt('SELECT pg_advisory_xact_lock(?)').get(MIGRATION_LOCK);
    store.stmt('CREATE TABLE IF NOT EXISTS pb_schema (version INTEGER NOT NULL)').run();
    const row = store.stmt('SELECT version FROM pb_schema').get() as { version: number } | undefined;
    if (row === undefined) store.stmt('INSERT INTO pb_schema (version) VALUES (0)').run();
    const from = row?.version ?? 0;
    if (from > PG_MIGRATIONS.length) {
      throw new Error(`database schema version ${from} is newer than this server understands (${PG_MIGRATIONS.length}); upgrade printbridge`);
    }
    for (let i = from; i < PG_MIGRATIONS.length; i++) {
      store.stmt(PG_MIGRATIONS[i] as string).run();
      store.stmt('UPDATE pb_schema SET version = ?').run(i + 1);
    }
  })();
}

/** The schema version a PostgreSQL store is at. */
export function postgresSchemaVersion(store: Store): number {
  return (store.stmt('SELECT version FROM pb_schema').get() as { version: number }).version;
}
