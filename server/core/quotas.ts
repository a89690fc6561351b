// Storage quotas: the bytes of unfinished jobs per printer, per client token
// and in all (limits.ts has the figures). Counted in memory, so that a check
// costs no query however many jobs wait: taken from the store at start,
// kept on every submit and finish, and taken again when another process
// changed the store (the CLI fails the jobs of a device it removes).

import { PrintbridgeError } from '../errors.js';
import type { Limits } from '../limits.js';
import type { Store } from '../store/db.js';
import { unfinishedBytes } from '../store/jobs.js';

/** The limits a quota check reads. */
export type QuotaLimits = Pick<Limits, 'maxPrinterQueueBytes' | 'maxTokenQueueBytes' | 'maxQueuedBytes'>;

interface Counted {
  readonly printer: string;
  readonly owner: string | undefined;
  readonly size: number;
}

export class Quotas {
  private total = 0;
  private readonly byPrinter = new Map<string, number>();
  private readonly byOwner = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly limits: QuotaLimits,
  ) {
    this.recount();
  }

  /** QUOTA_EXCEEDED, naming what holds how much, unless a job of `size` bytes fits every quota it falls under. */
  check(printer: string, owner: string | undefined, size: number): void {
    const { limits } = this;
    within(this.byPrinter.get(printer) ?? 0, limits.maxPrinterQueueBytes, `printer ${printer}`, size);
    if (owner !== undefined) within(this.byOwner.get(owner) ?? 0, limits.maxTokenQueueBytes, 'this client token', size);
    within(this.total, limits.maxQueuedBytes, 'the server', size);
  }

  /** A job was stored unfinished. */
  added(job: Counted): void {
    this.add(job.printer, job.owner, job.size);
  }

  /** An unfinished job finished: its bytes are free. */
  freed(job: Counted): void {
    this.add(job.printer, job.owner, -job.size);
  }

  /** The printers with unfinished jobs. */
  printersWithJobs(): IterableIterator<string> {
    return this.byPrinter.keys();
  }

  /** Whether the printer has unfinished jobs: every job holds at least one byte (submit refuses empty data). */
  hasJobs(printer: string): boolean {
    return this.byPrinter.has(printer);
  }

  recount(): void {
    this.total = 0;
    this.byPrinter.clear();
    this.byOwner.clear();
    for (const row of unfinishedBytes(this.store)) this.add(row.printer, row.owner, row.bytes);
  }

  private add(printer: string, owner: string | undefined, bytes: number): void {
    this.total = Math.max(0, this.total + bytes);
    bump(this.byPrinter, printer, bytes);
    if (owner !== undefined) bump(this.byOwner, owner, bytes);
  }
}

function bump(map: Map<string, number>, key: string, bytes: number): void {
  const next = (map.get(key) ?? 0) + bytes;
  if (next > 0) map.set(key, next);
  else map.delete(key);
}

function within(used: number, max: number, whose: string, size: number): void {
  if (used + size > max) throw new PrintbridgeError('QUOTA_EXCEEDED', `${whose} holds ${used} bytes of unfinished jobs; ${size} more would pass ${max}`);
}
