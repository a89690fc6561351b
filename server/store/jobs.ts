// Durable jobs. A job is written here before the submitter gets its reply
// and every state change lands here before the device or client hears of
// it, so a crash or restart never loses a job or forgets that bytes of it
// already went to a device (`started`, the flag that stops a double print).
// Job data lives in the row until the job finishes and is then dropped.

import type { JobState } from '../../protocol/client-messages.js';
import type { ErrorCode, ProtocolError } from '../../protocol/errors.js';
import type { Store } from './db.js';

export interface JobRecord {
  id: string;
  printer: string;
  device: string;
  port: number;
  key: string | undefined;
  state: JobState;
  size: number;
  written: number;
  /** Some byte of this job was sent to a device at some time. */
  started: boolean;
  error: ProtocolError | undefined;
  created: number;
  updated: number;
}

interface JobRow {
  id: string;
  printer: string;
  device: string;
  port: number;
  idem_key: string | null;
  state: JobState;
  size: number;
  written: number;
  started: number;
  error_code: string | null;
  error_message: string | null;
  created: number;
  updated: number;
}

const COLUMNS = 'id, printer, device, port, idem_key, state, size, written, started, error_code, error_message, created, updated';

/** States a job can be taken from to be offered to its device: new, or interrupted earlier. */
const PENDING = "('queued', 'sending')";
const UNFINISHED = "('queued', 'sending', 'printing', 'paused')";

export function printerId(device: string, port: number): string {
  return `${device}/${port}`;
}

function fromRow(row: JobRow): JobRecord {
  return {
    id: row.id,
    printer: row.printer,
    device: row.device,
    port: row.port,
    key: row.idem_key ?? undefined,
    state: row.state,
    size: row.size,
    written: row.written,
    started: row.started !== 0,
    error: row.error_code === null ? undefined : { code: row.error_code as ErrorCode, message: row.error_message ?? '' },
    created: row.created,
    updated: row.updated,
  };
}

export interface NewJob {
  id: string;
  device: string;
  port: number;
  key?: string | undefined;
  data: Uint8Array;
}

export function insertJob(store: Store, job: NewJob, now: number): JobRecord {
  const printer = printerId(job.device, job.port);
  store
    .stmt(`INSERT INTO jobs (id, printer, device, port, idem_key, state, size, data, created, updated) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`)
    .run(job.id, printer, job.device, job.port, job.key ?? null, job.data.length, job.data, now, now);
  return {
    id: job.id, printer, device: job.device, port: job.port, key: job.key, state: 'queued', size: job.data.length,
    written: 0, started: false, error: undefined, created: now, updated: now,
  };
}

export function getJob(store: Store, id: string): JobRecord | undefined {
  const row = store.stmt(`SELECT ${COLUMNS} FROM jobs WHERE id = ?`).get(id) as JobRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

export function findJobByKey(store: Store, printer: string, key: string): JobRecord | undefined {
  const row = store.stmt(`SELECT ${COLUMNS} FROM jobs WHERE printer = ? AND idem_key = ?`).get(printer, key) as JobRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

export function countUnfinished(store: Store, printer: string): number {
  return (store.stmt(`SELECT count(*) AS n FROM jobs WHERE printer = ? AND state IN ${UNFINISHED}`).get(printer) as { n: number }).n;
}

export function unfinishedByPrinter(store: Store): Map<string, number> {
  const rows = store.stmt(`SELECT printer, count(*) AS n FROM jobs WHERE state IN ${UNFINISHED} GROUP BY printer`).all() as { printer: string; n: number }[];
  return new Map(rows.map((r) => [r.printer, r.n]));
}

/** The oldest job of a printer that may be offered now: FIFO by submission, interrupted ones included. */
export function nextPendingJob(store: Store, printer: string): JobRecord | undefined {
  const row = store
    .stmt(`SELECT ${COLUMNS} FROM jobs WHERE printer = ? AND state IN ${PENDING} ORDER BY created, rowid LIMIT 1`)
    .get(printer) as JobRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

export function jobData(store: Store, id: string): Uint8Array | undefined {
  const row = store.stmt('SELECT data FROM jobs WHERE id = ?').get(id) as { data: Buffer | null } | undefined;
  return row?.data ?? undefined;
}

export interface JobQuery {
  printer?: string | undefined;
  limit: number;
  unfinishedOnly?: boolean;
  finishedOnly?: boolean;
}

/** Newest first. */
export function listJobs(store: Store, q: JobQuery): JobRecord[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.printer !== undefined) {
    where.push('printer = ?');
    args.push(q.printer);
  }
  if (q.unfinishedOnly === true) where.push(`state IN ${UNFINISHED}`);
  if (q.finishedOnly === true) where.push(`state NOT IN ${UNFINISHED}`);
  const sql = `SELECT ${COLUMNS} FROM jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created DESC, rowid DESC LIMIT ?`;
  return (store.stmt(sql).all(...args, q.limit) as JobRow[]).map(fromRow);
}

export function setJobState(store: Store, id: string, state: JobState, now: number): void {
  store.stmt('UPDATE jobs SET state = ?, updated = ? WHERE id = ?').run(state, now, id);
}

export function setJobProgress(store: Store, id: string, state: JobState, written: number, now: number): void {
  store.stmt('UPDATE jobs SET state = ?, written = ?, updated = ? WHERE id = ?').run(state, written, now, id);
}

/** Must be committed before the first data frame of the job is sent. */
export function markJobStarted(store: Store, id: string, now: number): void {
  store.stmt('UPDATE jobs SET started = 1, updated = ? WHERE id = ?').run(now, id);
}

/** Final state: the data is no longer needed and is dropped to keep the file small. */
export function finishJob(store: Store, id: string, state: 'done' | 'failed' | 'canceled', written: number, error: ProtocolError | undefined, now: number): void {
  store
    .stmt('UPDATE jobs SET state = ?, written = ?, error_code = ?, error_message = ?, data = NULL, updated = ? WHERE id = ?')
    .run(state, written, error?.code ?? null, error?.message ?? null, now, id);
}

/**
 * After a restart no job is on its way to a device. A job that had been fully
 * written but not confirmed done goes back to 'sending'; its device reports
 * what it holds when the job is offered again.
 */
export function recoverInterruptedJobs(store: Store, now: number): number {
  return store.stmt("UPDATE jobs SET state = 'sending', updated = ? WHERE state IN ('printing', 'paused')").run(now).changes;
}
