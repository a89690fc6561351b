// Durable jobs. A job is written here before the submitter gets its reply
// and every stored fact lands here before the device or client hears of it,
// so a crash or restart never loses a job or forgets that bytes of it
// already went to a device (`started`, the flag that stops a double print),
// a client's hold, or how a job ended.
//
// Two fields are not facts but news: how many bytes the device confirmed
// (`written`) while the job is on it, and the state derived from the facts
// (queued/sending/printing). A restart derives the state again, and the
// device says again what it holds and wrote when the job is offered (the
// server takes the larger of the two), so a stored `written` that lags only
// shows older progress; it can never make a byte print twice or go missing.
// Those changes may therefore wait in memory (`saveJobLater`) and reach the
// file together (`flushJobs`), one transaction for many jobs instead of a
// synchronous commit per ack. Reads here see them at once; another process
// reading the file sees them at the next flush.
//
// Job data lives in job_data, apart from the row (whose every update would
// otherwise rewrite the bytes). A finished job keeps it, so that it can be
// printed again, until retention drops it: the oldest finished first beyond
// finishedDataMaxBytes (core/kept-data.ts), and with the row when the sweep
// prunes that; the row itself stays for the history until then.

import { FINAL_JOB_STATES, type JobState } from '../../protocol/client-messages.js';
import { protocolError, type ErrorCode, type ProtocolError } from '../../protocol/errors.js';
import { fold, FOLD, type Store } from './db.js';
import { writePortsNow } from './devices.js';
import { FencedOut, fenceOf, ownerOf } from './owners.js';

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
  /** A client paused the job; only a client's resume releases it. */
  held: boolean;
  /** The submitter allows a G-code print that stalled while the link was down to go on (job.start resume). */
  resume: boolean;
  /** The client token that submitted it; undefined for the admin and the compat listener. */
  owner: string | undefined;
  /** What the submitter called it. */
  name: string | undefined;
  error: ProtocolError | undefined;
  created: number;
  /** When the first byte was sent. */
  startedAt: number | undefined;
  /** When the job reached done, failed or canceled. */
  finishedAt: number | undefined;
  updated: number;
  /**
   * G-code jobs on their device only, never stored: the lines and the
   * layer the printer reached (core/gcode-progress.ts).
   */
  line?: number | undefined;
  layer?: number | undefined;
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
  held: number;
  resume: number;
  owner: string | null;
  name: string | null;
  error_code: string | null;
  error_message: string | null;
  created: number;
  started_at: number | null;
  finished_at: number | null;
  updated: number;
}

const COLUMNS =
  'id, printer, device, port, idem_key, state, size, written, started, held, resume, owner, name, error_code, error_message, created, started_at, finished_at, updated';

const UNFINISHED = "('queued', 'sending', 'printing', 'paused')";
const FINISHED = "('done', 'failed', 'canceled')";

export function printerId(device: string, port: number): string {
  return `${device}/${port}`;
}

/** Per store: jobs whose news waits for the next flush, by id; the record is the caller's live one. */
const unsaved = new WeakMap<Store, Map<string, JobRecord>>();

function unsavedOf(store: Store): Map<string, JobRecord> {
  let m = unsaved.get(store);
  if (m === undefined) {
    unsaved.set(store, (m = new Map()));
    // Whoever closes the store, the news goes to the file first.
    store.beforeClose(() => flushJobs(store));
  }
  return m;
}

/** A row as this process knows it: the stored facts with the news still waiting to be written. */
function fromRow(store: Store, row: JobRow): JobRecord {
  const job = fromStoredRow(row);
  const news = unsaved.get(store)?.get(job.id);
  // A job another process ended keeps its end: news of an unfinished job never overrides it.
  if (news === undefined || isFinalState(job.state)) return job;
  return { ...job, state: news.state, written: news.written, error: news.error, updated: news.updated };
}

function isFinalState(state: JobState): boolean {
  return FINAL_JOB_STATES.includes(state);
}

function fromStoredRow(row: JobRow): JobRecord {
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
    held: row.held !== 0,
    resume: row.resume !== 0,
    owner: row.owner ?? undefined,
    name: row.name ?? undefined,
    error: row.error_code === null ? undefined : { code: row.error_code as ErrorCode, message: row.error_message ?? '' },
    created: row.created,
    startedAt: row.started_at ?? undefined,
    finishedAt: row.finished_at ?? undefined,
    updated: row.updated,
  };
}

export interface NewJob {
  id: string;
  device: string;
  port: number;
  key?: string | undefined;
  data: Uint8Array;
  resume?: boolean | undefined;
  owner?: string | undefined;
  name?: string | undefined;
}

/**
 * Stores a new queued job with its bytes, and returns it; or, when a job with
 * the same key for the printer is stored already, returns that one.
 */
export function insertJob(store: Store, job: NewJob, now: number): JobRecord {
  const printer = printerId(job.device, job.port);
  // A job may wait for its printer while the device is offline, after a
  // restart too: the printer must be on disk before the job is.
  writePortsNow(store, job.device);
  let earlier: JobRecord | undefined;
  store.db.transaction(() => {
    // Another node may store the same key for the printer at the same
    // moment (a client retrying through another node): the first one stored
    // is the job, and this call returns it.
    const stored = store
      .stmt(`INSERT INTO jobs (id, printer, device, port, idem_key, state, size, resume, owner, name, created, updated) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
      .run(job.id, printer, job.device, job.port, job.key ?? null, job.data.length, job.resume === true ? 1 : 0, job.owner ?? null, job.name ?? null, now, now).changes;
    if (stored === 0) {
      earlier = job.key === undefined ? undefined : findJobByKey(store, printer, job.key);
      if (earlier === undefined) throw new Error(`job id ${job.id} is taken`);
      return;
    }
    store.stmt('INSERT INTO job_data (id, data) VALUES (?, ?)').run(job.id, job.data);
  })();
  if (earlier !== undefined) return earlier;
  return {
    id: job.id, printer, device: job.device, port: job.port, key: job.key, state: 'queued', size: job.data.length,
    written: 0, started: false, held: false, resume: job.resume === true, owner: job.owner, name: job.name, error: undefined,
    created: now, startedAt: undefined, finishedAt: undefined, updated: now,
  };
}

export function getJob(store: Store, id: string): JobRecord | undefined {
  const row = store.stmt(`SELECT ${COLUMNS} FROM jobs WHERE id = ?`).get(id) as JobRow | undefined;
  return row === undefined ? undefined : fromRow(store, row);
}

export function findJobByKey(store: Store, printer: string, key: string): JobRecord | undefined {
  const row = store.stmt(`SELECT ${COLUMNS} FROM jobs WHERE printer = ? AND idem_key = ?`).get(printer, key) as JobRow | undefined;
  return row === undefined ? undefined : fromRow(store, row);
}

export function countUnfinished(store: Store, printer: string): number {
  return (store.stmt(`SELECT count(*) AS n FROM jobs WHERE printer = ? AND state IN ${UNFINISHED}`).get(printer) as { n: number }).n;
}

/**
 * Bytes of unfinished jobs (the job data the store holds) by printer and
 * submitting client token, what the storage quotas count.
 */
export function unfinishedBytes(store: Store): { printer: string; owner: string | undefined; bytes: number }[] {
  const rows = store
    .stmt(`SELECT printer, owner, coalesce(sum(size), 0) AS bytes FROM jobs WHERE state IN ${UNFINISHED} GROUP BY printer, owner`)
    .all() as { printer: string; owner: string | null; bytes: number }[];
  return rows.map((r) => ({ printer: r.printer, owner: r.owner ?? undefined, bytes: r.bytes }));
}

export function unfinishedByPrinter(store: Store): Map<string, number> {
  const rows = store.stmt(`SELECT printer, count(*) AS n FROM jobs WHERE state IN ${UNFINISHED} GROUP BY printer`).all() as { printer: string; n: number }[];
  return new Map(rows.map((r) => [r.printer, r.n]));
}

/**
 * The job a printer should get next, or undefined. A started job comes
 * first, whatever its age: some of its bytes may be on the paper, and
 * anything else printed now would land in the middle of it. If that job is
 * paused, the printer gets nothing until it is resumed or ended. Otherwise
 * the oldest queued job, FIFO by submission; held (paused) jobs are passed over.
 */
export function nextPendingJob(store: Store, printer: string): JobRecord | undefined {
  // One query: started jobs sort first (`started DESC`), then by age.
  const row = store
    .stmt(
      `SELECT ${COLUMNS} FROM jobs WHERE printer = ? AND (state IN ('queued', 'sending') OR (started = 1 AND state IN ${UNFINISHED}))
       ORDER BY started DESC, created, ${store.sql.insertion} LIMIT 1`,
    )
    .get(printer) as JobRow | undefined;
  if (row === undefined) return undefined;
  const job = fromRow(store, row);
  return job.started && job.state === 'paused' ? undefined : job;
}

export function jobData(store: Store, id: string): Uint8Array | undefined {
  const row = store.stmt('SELECT data FROM job_data WHERE id = ?').get(id) as { data: Buffer } | undefined;
  return row?.data;
}

/** Whether the store still holds the bytes of job `id` (read without reading them). */
export function hasJobData(store: Store, id: string): boolean {
  return store.stmt('SELECT 1 FROM job_data WHERE id = ?').get(id) !== undefined;
}

/** Whether any stored job was for `printer` (a printer since removed is still one that jobs.list knows). */
export function hasJobsFor(store: Store, printer: string): boolean {
  return store.stmt('SELECT 1 FROM jobs WHERE printer = ? LIMIT 1').get(printer) !== undefined;
}

/** Bytes of finished jobs the store still holds (what finishedDataMaxBytes bounds). */
export function keptDataBytes(store: Store): number {
  return (store.stmt(`SELECT coalesce(sum(j.size), 0) AS n FROM job_data d JOIN jobs j ON j.id = d.id WHERE j.state IN ${FINISHED}`).get() as { n: number }).n;
}

/**
 * Finished jobs whose bytes the store holds, oldest finished first, from
 * `since` (a finish time no older kept job has). The scan follows the
 * finish-time index (the `+` keeps SQLite off the state index, which would
 * sort every finished job) and looks each job's data up: the oldest are
 * found without sorting every job the store keeps.
 */
export function oldestKeptData(store: Store, since: number, limit: number): { id: string; size: number; finishedAt: number }[] {
  return store
    .stmt(
      `SELECT j.id AS id, j.size AS size, j.finished_at AS "finishedAt" FROM jobs j ${store.sql.joinInOrder} job_data d ON d.id = j.id
       WHERE j.finished_at >= ? AND ${store.sql.noIndex('j.state')} IN ${FINISHED} ORDER BY j.finished_at, j.${store.sql.insertion} LIMIT ?`,
    )
    .all(since, limit) as { id: string; size: number; finishedAt: number }[];
}

/** Drops the bytes of one job (the row stays, for the history). */
export function dropJobData(store: Store, id: string): void {
  store.stmt('DELETE FROM job_data WHERE id = ?').run(id);
}

export interface JobQuery {
  printer?: string | undefined;
  /** Every printer of this device. */
  device?: string | undefined;
  state?: JobState | undefined;
  /** Submitted by this client token. */
  owner?: string | undefined;
  /** Any state among these. */
  states?: readonly JobState[] | undefined;
  /** Named with this text in it (any case), or with an id that starts with it. */
  q?: string | undefined;
  /** -1: no limit. */
  limit: number;
  unfinishedOnly?: boolean;
  finishedOnly?: boolean;
}

/**
 * Newest first; jobs submitted in the same millisecond, the later first.
 * A query by state asks the file, whose state may lag the news: the news
 * goes to the file first, so that the page holds every job in the state
 * asked for up to the limit, in the file's order.
 */
export function listJobs(store: Store, q: JobQuery): JobRecord[] {
  if (q.state !== undefined || q.states !== undefined) flushJobs(store);
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.printer !== undefined) {
    where.push('printer = ?');
    args.push(q.printer);
  }
  if (q.device !== undefined) {
    where.push('device = ?');
    args.push(q.device);
  }
  if (q.state !== undefined) {
    where.push('state = ?');
    args.push(q.state);
  }
  if (q.owner !== undefined) {
    where.push('owner = ?');
    args.push(q.owner);
  }
  if (q.states !== undefined) {
    where.push(`state IN (${q.states.map(() => '?').join(', ')})`);
    args.push(...q.states);
  }
  if (q.unfinishedOnly === true) where.push(`state IN ${UNFINISHED}`);
  if (q.finishedOnly === true) where.push(`state IN ${FINISHED}`);
  if (q.q !== undefined) {
    const text = fold(q.q);
    where.push(`(${store.sql.contains(`${FOLD}(name)`, '?')} OR substr(id, 1, ?) = ?)`);
    args.push(text, text.length, text);
  }
  const sql = `SELECT ${COLUMNS} FROM jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created DESC, ${store.sql.insertion} DESC LIMIT ${q.limit < 0 ? store.sql.limitAll : '?'}`;
  return (store.stmt(sql).all(...args, ...(q.limit < 0 ? [] : [q.limit])) as JobRow[]).map((row) => fromRow(store, row));
}

/** Every unfinished job, oldest first (for recovery at start-up). */
export function unfinishedJobs(store: Store): JobRecord[] {
  return (store.stmt(`SELECT ${COLUMNS} FROM jobs WHERE state IN ${UNFINISHED} ORDER BY created, ${store.sql.insertion}`).all() as JobRow[]).map((row) => fromRow(store, row));
}

/**
 * Of the jobs `ids`, those the file has finished, oldest first: one query
 * however many ids, so that a server can learn which of the jobs it knows as
 * unfinished another process ended, without reading every job again. Read
 * as stored: news waiting here never overrides an end.
 */
export function finishedAmong(store: Store, ids: Iterable<string>): JobRecord[] {
  const list = [...ids];
  if (list.length === 0) return [];
  return (store
    .stmt(`SELECT ${COLUMNS} FROM jobs WHERE id IN (SELECT value FROM ${store.sql.jsonTexts('?')}) AND state IN ${FINISHED} ORDER BY created, ${store.sql.insertion}`)
    .all(JSON.stringify(list)) as JobRow[]).map(fromStoredRow);
}

/**
 * Writes every mutable field of the job (news waiting for it included).
 * A finished job keeps its data: retention drops it (core/kept-data.ts). A
 * synchronous write with synchronous=FULL: when this returns, the row is on
 * disk (a call inside a transaction joins it, and commits with it).
 */
export function saveJob(store: Store, job: JobRecord): void {
  unsaved.get(store)?.delete(job.id);
  const args = [
    job.state, job.written, job.started ? 1 : 0, job.held ? 1 : 0, job.error?.code ?? null, job.error?.message ?? null,
    job.startedAt ?? null, job.finishedAt ?? null, job.updated, job.id,
  ];
  const fence = fenceOf(store, job.device);
  if (fence === undefined) {
    store.stmt(`UPDATE jobs SET ${saved(store)} WHERE id = ?`).run(...args);
    return;
  }
  // Fenced: only while this node's claim on the device is the newest, and
  // never over an end (the first end stored is the job's end).
  if (store.stmt(`UPDATE jobs SET ${saved(store)} WHERE id = ? AND state IN ${UNFINISHED} AND ${FENCE}`).run(...args, fence).changes > 0) return;
  if ((ownerOf(store, job.device)?.epoch ?? fence) !== fence) throw new FencedOut(job.device, fence);
}

/**
 * Every mutable field. `started` only ever goes up: once some byte of a job
 * may be on paper, no write from a stale copy of the job (a node that read
 * it before the device's node started it) makes it resendable from byte 0.
 */
function saved(store: Store): string {
  return `state = ?, written = ?, started = ${store.sql.greatest('started', '?')}, held = ?, error_code = ?, error_message = ?, started_at = ?, finished_at = ?, updated = ?`;
}
/** The job's device is still held under the epoch bound last. */
const FENCE = 'EXISTS (SELECT 1 FROM device_owner o WHERE o.device = jobs.device AND o.epoch = ?)';

/**
 * Keeps the news of an unfinished job (its derived state, bytes written,
 * the printer's reason for a pause) for the next `flushJobs`; reads here see
 * it at once. The record is kept, not copied: the flush writes what it holds then.
 */
export function saveJobLater(store: Store, job: JobRecord): void {
  unsavedOf(store).set(job.id, job);
}

/**
 * Writes the news kept by `saveJobLater`, of every job or of `ids` only, in
 * one transaction. A job that ended meanwhile, here or in another process,
 * keeps its end. Nothing is written once the store is closed. Returns how
 * many rows changed.
 */
export function flushJobs(store: Store, ids?: Iterable<string>): number {
  const pending = unsaved.get(store);
  if (pending === undefined || pending.size === 0 || !store.db.isOpen) return 0;
  const jobs: JobRecord[] = [];
  for (const id of ids ?? [...pending.keys()]) {
    const job = pending.get(id);
    if (job === undefined) continue;
    pending.delete(id);
    jobs.push(job);
  }
  if (jobs.length === 0) return 0;
  const news = 'state = ?, written = ?, error_code = ?, error_message = ?, updated = ?';
  const update = store.stmt(`UPDATE jobs SET ${news} WHERE id = ? AND state IN ${UNFINISHED}`);
  // News of a node that lost the device is dropped: the new owner has its own.
  const fenced = store.stmt(`UPDATE jobs SET ${news} WHERE id = ? AND state IN ${UNFINISHED} AND ${FENCE}`);
  let changed = 0;
  store.db.transaction(() => {
    for (const job of jobs) {
      if (isFinalState(job.state)) continue;
      const args = [job.state, job.written, job.error?.code ?? null, job.error?.message ?? null, job.updated, job.id];
      const fence = fenceOf(store, job.device);
      changed += (fence === undefined ? update.run(...args) : fenced.run(...args, fence)).changes;
    }
  })();
  return changed;
}

/** Why the unfinished jobs of a removed device failed. */
export function deviceRemovedError(device: string): ProtocolError {
  return protocolError('DEVICE_REMOVED', device);
}

/**
 * Fails every unfinished job of `device` in the store alone, for a device
 * removed while no server runs (a running server fails them itself, telling
 * the device and the subscribers). Their bytes are kept as any finished
 * job's, for a reprint elsewhere, until retention drops them. Returns how many failed.
 */
export function failDeviceJobs(store: Store, device: string, now: number): number {
  const error = deviceRemovedError(device);
  return store
    .stmt(`UPDATE jobs SET state = 'failed', error_code = ?, error_message = ?, finished_at = ?, updated = ? WHERE device = ? AND state IN ${UNFINISHED}`)
    .run(error.code, error.message, now, now, device).changes;
}

/** Forgets the queue pauses of a device's printers (a device registered again under the id starts afresh). */
export function forgetDeviceQueues(store: Store, device: string): void {
  store.stmt("DELETE FROM printer_queues WHERE substr(printer, 1, length(CAST(? AS TEXT)) + 1) = CAST(? AS TEXT) || '/'").run(device, device);
}

/** Queued jobs (no byte ever sent) submitted before `before`, oldest first. */
export function queuedBefore(store: Store, before: number, limit: number): JobRecord[] {
  return (store
    .stmt(`SELECT ${COLUMNS} FROM jobs WHERE state = 'queued' AND created < ? ORDER BY created, ${store.sql.insertion} LIMIT ?`)
    .all(before, limit) as JobRow[]).map((row) => fromRow(store, row));
}

/**
 * Deletes finished jobs that finished before `before`, and then the oldest
 * finished ones beyond `keep`. Returns how many rows went. A deleted job's
 * idempotency key is free again.
 */
export function pruneFinishedJobs(store: Store, before: number | undefined, keep: number | undefined): number {
  let removed = 0;
  if (before !== undefined) {
    removed += store.stmt(`DELETE FROM jobs WHERE state IN ${FINISHED} AND finished_at < ?`).run(before).changes;
  }
  if (keep !== undefined) {
    removed += store
      .stmt(
        `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ${FINISHED} ORDER BY finished_at DESC, ${store.sql.insertion} DESC LIMIT ${store.sql.limitAll} OFFSET ?)`,
      )
      .run(keep).changes;
  }
  // The bytes of a pruned job go with it (and those of a row removed by hand).
  if (removed > 0) store.stmt('DELETE FROM job_data WHERE id NOT IN (SELECT id FROM jobs)').run();
  return removed;
}

// Printer queues a client paused. A row exists only for printers whose queue
// was paused at some time; no row means running.

export function pausedPrinters(store: Store): Set<string> {
  const rows = store.stmt('SELECT printer FROM printer_queues WHERE paused = 1').all() as { printer: string }[];
  return new Set(rows.map((r) => r.printer));
}

export function setPrinterPaused(store: Store, printer: string, paused: boolean, now: number): void {
  store
    .stmt('INSERT INTO printer_queues (printer, paused, updated) VALUES (?, ?, ?) ON CONFLICT (printer) DO UPDATE SET paused = excluded.paused, updated = excluded.updated')
    .run(printer, paused ? 1 : 0, now);
}
