// Counts what a process writes to SQLite, from inside it and without
// touching the code under measurement: better-sqlite3's Statement.run and
// Database.transaction are wrapped on their prototypes, so every store the
// process opens afterwards is counted.
//
// commits    — write transactions that changed something: a statement run
//              outside a transaction that changed a row, or an outermost
//              transaction function. Under WAL with synchronous = FULL each
//              is one fsync of the WAL (checkpoints add a few, not counted).
// statements — INSERT/UPDATE/DELETE runs that changed at least one row.
// rows       — rows they changed.
// bySql      — statements by their first words, to say what the writes were.

import Database from 'better-sqlite3';

export interface DbWrites {
  commits: number;
  statements: number;
  rows: number;
  bySql: Record<string, number>;
}

interface StatementLike {
  readonly database: Database.Database;
  readonly reader: boolean;
  readonly source: string;
}

type Fn = (...args: unknown[]) => unknown;

let counts: DbWrites = fresh();
let installed = false;

function fresh(): DbWrites {
  return { commits: 0, statements: 0, rows: 0, bySql: {} };
}

const shapes = new Map<string, string>();

/** What the statement does, in a few words: `UPDATE jobs SET`, `INSERT INTO jobs`. */
function shape(sql: string): string {
  let s = shapes.get(sql);
  if (s === undefined) shapes.set(sql, (s = sql.trim().replace(/\s+/g, ' ').split(' ').slice(0, 3).join(' ')));
  return s;
}

/** Starts counting in this process (once; later calls do nothing). */
export function countDbWrites(): void {
  if (installed) return;
  installed = true;
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as { run: Fn };
  probe.close();
  const run = proto.run;
  proto.run = function (this: StatementLike, ...args: unknown[]) {
    const outer = !this.database.inTransaction;
    const info = run.apply(this, args) as Database.RunResult;
    if (!this.reader && info.changes > 0) {
      counts.statements += 1;
      counts.rows += info.changes;
      if (outer) counts.commits += 1;
      const key = shape(this.source);
      counts.bySql[key] = (counts.bySql[key] ?? 0) + 1;
    }
    return info;
  };
  const transaction = Database.prototype.transaction;
  Database.prototype.transaction = function (this: Database.Database, fn: Fn) {
    const db = this;
    const tx = transaction.call(this, fn) as Fn & Record<'deferred' | 'immediate' | 'exclusive', Fn>;
    const wrap = (f: Fn): Fn => function (this: unknown, ...args: unknown[]) {
      const outer = !db.inTransaction;
      const r = f.apply(this, args);
      if (outer) counts.commits += 1;
      return r;
    };
    return Object.assign(wrap(tx), { deferred: wrap(tx.deferred), immediate: wrap(tx.immediate), exclusive: wrap(tx.exclusive) });
  } as typeof Database.prototype.transaction;
}

/** The counts since the last reset, and starts again from zero. */
export function takeDbWrites(): DbWrites {
  const out = counts;
  counts = fresh();
  return out;
}
