// How long the server keeps jobs: finished ones for the history, queued ones
// that never reached their printer, and the bytes of finished ones for a
// reprint. A periodic sweep (server.ts owns the timer; core/jobs.ts `sweep`
// does the work) applies these; the bytes' budget also applies whenever a
// job finishes.

export interface JobRetention {
  /** Finished jobs (done, failed, canceled) are deleted this long after they finished. 0 keeps them regardless of age. */
  finishedMaxAgeMs: number;
  /** At most this many finished jobs are kept; the oldest go first. 0 sets no count limit. */
  finishedMaxCount: number;
  /** A queued job (no byte of it ever sent) this long after submission fails with JOB_EXPIRED. 0 never expires. */
  queuedTtlMs: number;
  /**
   * Bytes of finished jobs kept, all together, for job.data and job.reprint;
   * beyond it the oldest finished go first (JOB_DATA_GONE afterwards). 0
   * keeps none. A job's bytes also go when its row is pruned.
   */
  finishedDataMaxBytes: number;
  /** How often the sweep runs. */
  sweepMs: number;
}

const DAY = 24 * 60 * 60 * 1000;

export const DEFAULT_RETENTION: Readonly<JobRetention> = Object.freeze({
  finishedMaxAgeMs: 7 * DAY,
  finishedMaxCount: 10_000,
  queuedTtlMs: DAY,
  finishedDataMaxBytes: 256 * 1024 * 1024,
  sweepMs: 60_000,
});

export function resolveRetention(partial: Partial<JobRetention> = {}): JobRetention {
  const out: JobRetention = { ...DEFAULT_RETENTION };
  for (const key of Object.keys(DEFAULT_RETENTION) as (keyof JobRetention)[]) {
    const value = partial[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`retention.${key} must be a non-negative integer, got ${value}`);
    out[key] = value;
  }
  if (out.sweepMs < 1 || out.sweepMs > 0x7fffffff) throw new RangeError(`retention.sweepMs must be 1..2^31-1 ms, got ${out.sweepMs}`);
  return out;
}
