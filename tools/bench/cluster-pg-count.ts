// Counts what a process asks PostgreSQL, from inside it and without touching
// the code under measurement: the store's one connection (pg-sync.ts) is
// wrapped where every statement passes, so every PostgreSQL store the
// process opens afterwards is counted.
//
// roundTrips — statements the server's loop waited for (BEGIN and COMMIT
//              included): each blocks the loop for one round trip.
// posted     — statements sent without waiting (notifications to other nodes).
// writes     — INSERT/UPDATE/DELETE that changed at least one row (as
//              jobs-db-count.ts counts SQLite's).
// blockedMs  — wall time the loop spent waiting for answers.
// bySql      — round trips by their first words, to say what they were.

import { PgSync } from '../../server/store/pg-sync.js';

export interface PgStatements {
  roundTrips: number;
  posted: number;
  writes: number;
  blockedMs: number;
  bySql: Record<string, number>;
}

let counts = fresh();
let installed = false;

function fresh(): PgStatements {
  return { roundTrips: 0, posted: 0, writes: 0, blockedMs: 0, bySql: {} };
}

const shapes = new Map<string, string>();

function shape(sql: string): string {
  let s = shapes.get(sql);
  if (s === undefined) shapes.set(sql, (s = sql.trim().replace(/\s+/g, ' ').split(' ').slice(0, 3).join(' ')));
  return s;
}

/** Starts counting in this process (once; later calls do nothing). */
export function countPgStatements(): void {
  if (installed) return;
  installed = true;
  const { query, notify } = PgSync.prototype;
  PgSync.prototype.query = function (this: PgSync, sql, params) {
    const t0 = performance.now();
    try {
      const result = query.call(this, sql, params);
      if (result.rowCount > 0 && /^\s*(INSERT|UPDATE|DELETE)\b/i.test(sql)) counts.writes += 1;
      return result;
    } finally {
      counts.blockedMs += performance.now() - t0;
      counts.roundTrips += 1;
      const key = shape(sql);
      counts.bySql[key] = (counts.bySql[key] ?? 0) + 1;
    }
  };
  PgSync.prototype.notify = function (this: PgSync, channel, payload) {
    counts.posted += 1;
    notify.call(this, channel, payload);
  };
}

/** The counts since the last take, and starts again from zero. */
export function takePgStatements(): PgStatements {
  const out = counts;
  counts = fresh();
  return out;
}
