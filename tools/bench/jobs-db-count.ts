// Counts what a process writes to SQLite, from inside it and without
// touching the code under measurement: every connection the store opens is
// seen (databaseWatchers) before use, and its statements' runs and its
// transaction functions are wrapped, so every store the process opens
// afterwards is counted.
//
// commits    — write transactions that changed something: a statement run
//              outside a transaction that changed a row, or an outermost
//              transaction function. Under WAL with synchronous = FULL each
//              is one fsync of the WAL (checkpoints add a few, not counted).
// statements — INSERT/UPDATE/DELETE runs that changed at least one row.
// rows       — rows they changed.
// bySql      — statements by their first words, to say what the writes were.

import { databaseWatchers, type Database, type Statement } from '../../server/store/db.js';

export interface DbWrites {
  commits: number;
  statements: number;
  rows: number;
  bySql: Record<string, number>;
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
  databaseWatchers.add(watch);
}

function watch(db: Database): void {
  const prepare = db.prepare.bind(db);
  // A statement's methods cannot be reassigned (they are read-only on the
  // instance), so the store gets a stand-in that counts its runs.
  db.prepare = ((sql: string) => counting(db, sql, prepare(sql))) as typeof db.prepare;
  const transaction = db.transaction.bind(db);
  db.transaction = ((fn: Fn) => {
    const tx = transaction(fn) as unknown as Fn & Record<'deferred' | 'immediate' | 'exclusive', Fn>;
    const wrap = (f: Fn): Fn => (...args: unknown[]) => {
      const outer = !db.isTransaction;
      const r = f(...args);
      if (outer) counts.commits += 1;
      return r;
    };
    return Object.assign(wrap(tx), { deferred: wrap(tx.deferred), immediate: wrap(tx.immediate), exclusive: wrap(tx.exclusive) });
  }) as typeof db.transaction;
}

function counting(db: Database, sql: string, stmt: Statement): Statement {
  const reader = /^\s*(SELECT|PRAGMA|WITH)\b/i.test(sql);
  const proxy: Statement = new Proxy(stmt, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'run') {
        return (...args: unknown[]) => {
          const outer = !db.isTransaction;
          const info = (value as Fn).apply(target, args) as { changes: number };
          if (!reader && info.changes > 0) {
            counts.statements += 1;
            counts.rows += info.changes;
            if (outer) counts.commits += 1;
            const key = shape(sql);
            counts.bySql[key] = (counts.bySql[key] ?? 0) + 1;
          }
          return info;
        };
      }
      // Modes (pluck, raw) return the statement itself: the stand-in instead.
      return (...args: unknown[]) => {
        const r = (value as Fn).apply(target, args);
        return r === target ? proxy : r;
      };
    },
  });
  return proxy;
}

/** The counts since the last reset, and starts again from zero. */
export function takeDbWrites(): DbWrites {
  const out = counts;
  counts = fresh();
  return out;
}
