// The machinery the byte-stream dialects (ESC/POS, TSPL, ZPL) share: status
// polls, answer timeouts, confirmation of a job, and queries placed only
// between commands of the job stream. G-code and raw do not use it, so a
// build without the byte-stream dialects leaves this module out.

import { commandBetweenJobs, type CommandResult, type Dialect, type JobFeed, type PrinterStatus, type Verdict } from './dialect.js';

/** How long a status answer may take. */
export const ANSWER_MS = 2000;
/** How often to ask while a job waits for confirmation. */
export const CONFIRM_MS = 1000;

/**
 * Polling, answer timeouts, confirmation and command boundaries, shared by
 * the byte-stream dialects (ESC/POS, TSPL, ZPL). A subclass says what the
 * query is, how to read the answer byte by byte, where the job stream is at
 * a boundary between commands, and what silence means.
 *
 * A query goes out only when the stream is at a boundary: between jobs, or
 * inside a job right after a complete command. When a poll is due mid-job,
 * `write` hands over job bytes only up to the next boundary, then the query.
 * Job data keeps flowing while an answer is awaited (queries are a few bytes
 * the printer handles in real time).
 *
 * Confirmation: after the last job byte, polls go every CONFIRM_MS; the job
 * is done when an answer to a query sent after the last byte shows the
 * printer ready (online or paper-low) and, for dialects that report printing
 * (`settle` 2), either printing was seen during the job or two such answers
 * came in a row.
 *
 * Silence: a query unanswered within ANSWER_MS, with not a byte from the
 * printer meanwhile, is silence (the subclass says what it means for the
 * status, and whether one miss is enough: ZPL first asks ~HQES). The first
 * byte after it counts in `revivals`: on a serial line the printer may have
 * been switched off and on, so the spool ends the printer session there.
 * `link` (the port closed or opened) drops answers in flight and any
 * confirmation under way: proof only counts on the session that took the
 * bytes.
 */
export abstract class ByteDialect implements Dialect {
  status: PrinterStatus | undefined;
  readonly results: CommandResult[] = [];
  readonly confirms: boolean;
  /** The job stream is between commands. */
  private boundary = true;
  /** Bytes of our own waiting to go (a query, a command), written whole. */
  private own: Uint8Array | undefined;
  private ownIsQuery = false;
  private due = 0;
  private waitUntil: number | undefined;
  private queryAfterLast = false;
  private misses = 0;
  private job = false;
  private confirmAt: number | undefined;
  private good = 0;
  private sawBusy = false;
  private up = true;
  private seen = -Infinity;
  /** The printer went silent past the answer timeout and has not said a byte since. */
  private gone = false;
  private revived = 0;
  protected junk = 0;

  constructor(protected readonly poll: number, private readonly settle: number) {
    this.confirms = poll > 0;
  }

  get answering(): boolean {
    return this.waitUntil !== undefined;
  }

  get revivals(): number {
    return this.revived;
  }

  /** The bytes of one status query. */
  protected abstract query(): Uint8Array;
  /** Advances the command tokenizer by one job byte; true when a command ends with it. */
  protected abstract step(b: number): boolean;
  /** Resets the tokenizer to "between commands". */
  protected abstract restart(): void;
  /** Feeds one byte from the printer; returns a status when an answer is complete (solicited or pushed). */
  protected abstract read(b: number): PrinterStatus | undefined;
  /** Bytes of a started answer, to tell "silent" from "cut short". */
  protected abstract partial(): number;
  /** Forgets any half-read answer. */
  protected abstract forget(): void;
  /**
   * Status after `misses` queries in a row went unanswered without a byte;
   * may return a follow-up query. `gone` (default true): the printer counts
   * as silent, so its next byte is a revival.
   */
  protected silent(misses: number): { status: PrinterStatus; follow?: Uint8Array | undefined; gone?: boolean } {
    return { status: { state: 'offline', detail: misses > 1 ? `no answer to ${misses} status queries` : 'no answer to the status query' } };
  }

  begin(now: number): void {
    this.job = true;
    this.confirmAt = undefined;
    this.good = 0;
    this.sawBusy = false;
    this.boundary = true;
    this.restart();
    // Ask before the first byte: a printer out of paper should not be fed.
    this.due = Math.min(this.due, now);
  }

  end(): void {
    this.job = false;
    this.confirmAt = undefined;
    this.boundary = true;
    this.restart();
  }

  link(up: boolean, now: number): void {
    this.up = up;
    this.waitUntil = undefined;
    this.own = undefined;
    this.forget();
    this.misses = 0;
    this.gone = false;
    this.good = 0;
    this.queryAfterLast = false;
    this.status = undefined;
    this.boundary = true;
    this.restart();
    this.due = now;
  }

  write(room: number, feed: JobFeed | undefined, now: number): Uint8Array | undefined {
    this.seen = now;
    this.timeouts(now);
    if (room <= 0 || !this.up) return undefined;
    if (this.own === undefined && this.poll > 0 && this.waitUntil === undefined && now >= this.due && (this.boundary || !this.job)) {
      this.own = this.query();
      this.ownIsQuery = true;
    }
    const own = this.own;
    if (own !== undefined) {
      if (own.length > room) return undefined;
      this.own = undefined;
      if (this.ownIsQuery) this.asked(now);
      return own;
    }
    if (feed === undefined || feed.length === 0) return undefined;
    const view = feed.peek(room);
    const wantQuery = this.poll > 0 && this.waitUntil === undefined && now >= this.due;
    let n = 0;
    while (n < view.length) {
      this.boundary = this.step(view[n++] ?? 0);
      // A poll is due: stop at the first boundary so the query goes next.
      if (wantQuery && this.boundary) break;
    }
    return feed.take(n);
  }

  verdict(sent: boolean, now: number): Verdict | undefined {
    if (!sent) return undefined;
    if (!this.confirms) return { ok: true };
    if (this.confirmAt === undefined) {
      // Each job is taken to end between commands, so the query may follow.
      this.confirmAt = now;
      this.boundary = true;
      this.restart();
      if (this.waitUntil === undefined) this.due = now;
      this.seen = now - 1; // so that deadline() asks for a tick at once
    }
    return this.good >= (this.sawBusy ? 1 : this.settle) ? { ok: true } : undefined;
  }

  input(bytes: Uint8Array, now: number): void {
    if (this.gone && bytes.length > 0) {
      this.gone = false;
      this.revived++;
    }
    for (const b of bytes) {
      const s = this.read(b);
      if (s === undefined) continue;
      this.update(s);
      if (this.waitUntil !== undefined) this.answered(s, now);
    }
  }

  command(ref: string, data: string, _emergency: boolean, busy: boolean, now: number): void {
    const bytes = commandBetweenJobs(this.results, ref, data, busy, this.own !== undefined);
    if (bytes === undefined) return;
    this.own = bytes;
    this.ownIsQuery = false;
    this.due = Math.max(this.due, now + ANSWER_MS);
  }

  deadline(): number | undefined {
    if (!this.up) return undefined;
    if (this.waitUntil !== undefined) return this.waitUntil;
    // A poll that is due but could not go (no room, mid-command) waits for the next event, not a tick.
    return this.poll > 0 && this.due > this.seen ? this.due : undefined;
  }

  /** Sends a query outside the poll schedule (a follow-up). */
  protected ask(bytes: Uint8Array): void {
    this.own = bytes;
    this.ownIsQuery = true;
  }

  private asked(now: number): void {
    this.waitUntil = now + ANSWER_MS;
    this.queryAfterLast = this.confirmAt !== undefined;
    this.junk = 0;
  }

  private answered(s: PrinterStatus, now: number): void {
    this.waitUntil = undefined;
    this.misses = 0;
    this.schedule(now);
    if (this.confirmAt === undefined || !this.queryAfterLast) return;
    if (s.state === 'online' || s.state === 'paper-low') this.good++;
    else this.good = 0;
  }

  private timeouts(now: number): void {
    if (this.waitUntil === undefined || now < this.waitUntil) return;
    this.waitUntil = undefined;
    const cut = this.partial();
    this.forget();
    this.misses++;
    this.good = 0;
    if (cut > 0 || this.junk > 0) {
      this.update({ state: 'unknown', detail: cut > 0 ? 'status answer cut short' : 'unreadable status answer' });
    } else {
      const r = this.silent(this.misses);
      if (r.gone !== false) this.gone = true;
      this.update(r.status);
      if (r.follow !== undefined) {
        this.ask(r.follow);
        return;
      }
    }
    this.schedule(now);
  }

  private schedule(now: number): void {
    this.due = now + (this.confirmAt !== undefined ? Math.min(this.poll, CONFIRM_MS) : this.poll);
  }

  private update(s: PrinterStatus): void {
    if (s.state === 'busy' && this.job) this.sawBusy = true;
    this.status = s;
  }
}
