// The bytes of finished jobs, kept so that a job can be fetched (job.data)
// or printed again (job.reprint) after it ended, within one budget for all
// of them (retention's finishedDataMaxBytes). Over it, the bytes of the
// oldest finished jobs go first; their rows stay for the history, and
// job.data of them answers JOB_DATA_GONE.
//
// The total is counted once from the store and then kept here as jobs
// finish and bytes are dropped, so that a finish costs no count of the
// whole table. The drops run inside the transaction that stores the end:
// keeping a job's bytes costs no commit of its own.

import type { Store } from '../store/db.js';
import { dropJobData, keptDataBytes, oldestKeptData } from '../store/jobs.js';

/** Kept jobs looked at per query while trimming. */
const TRIM_BATCH = 64;

export class KeptData {
  private bytes: number;
  /** No kept job finished before this: where the next trim starts looking. */
  private since = 0;

  constructor(
    private readonly store: Store,
    private budget: number,
  ) {
    this.bytes = keptDataBytes(store);
  }

  /** Bytes of finished jobs the store holds. */
  get total(): number {
    return this.bytes;
  }

  /** A job finished at `at` with its bytes in the store; call inside the transaction that stores the end. */
  finished(id: string, size: number, at: number): void {
    // Over the budget alone it would go anyway, newest or not: it must not take every older job's bytes with it first.
    if (size > this.budget) {
      dropJobData(this.store, id);
      return;
    }
    this.bytes += size;
    // A clock set back finishes a job before the ones dropped already.
    this.since = Math.min(this.since, at);
    this.trim();
  }

  /** Another process changed the store, or rows were pruned: count again. */
  recount(): void {
    this.bytes = keptDataBytes(this.store);
    this.since = 0;
  }

  /** Applies `budget` from now on and drops what is over it. Returns how many jobs lost their bytes. */
  setBudget(budget: number): number {
    this.budget = budget;
    return this.trim();
  }

  /** Drops the bytes of the oldest finished jobs until the rest fit the budget. Returns how many jobs lost them. */
  trim(): number {
    let dropped = 0;
    while (this.bytes > this.budget) {
      const oldest = oldestKeptData(this.store, this.since, TRIM_BATCH);
      if (oldest.length === 0) {
        // Nothing left to drop: the count was off (rows removed by hand).
        this.bytes = 0;
        break;
      }
      for (const job of oldest) {
        if (this.bytes <= this.budget) break;
        dropJobData(this.store, job.id);
        this.bytes -= job.size;
        this.since = job.finishedAt;
        dropped += 1;
      }
    }
    return dropped;
  }
}
