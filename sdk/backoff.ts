// Reconnect delays: capped exponential backoff with full jitter (AWS
// Architecture Blog, "Exponential Backoff and Jitter"): the n-th retry waits a
// uniformly random time in [0, min(max, base * 2^n)). Full jitter spreads a
// crowd of browsers that lost the server at the same moment (a deploy) over
// the whole window instead of letting them return in synchronised waves.
// Pure: the random source is an argument.

export interface BackoffOptions {
  /** First window in ms (default 500). */
  base?: number;
  /** Largest window in ms (default 30000). */
  max?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { base: 500, max: 30_000 };

/** The window for retry number `attempt` (0-based): min(max, base * 2^attempt). */
export function backoffWindow(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.base ?? DEFAULT_BACKOFF.base;
  const max = opts.max ?? DEFAULT_BACKOFF.max;
  // 2^attempt overflows to Infinity long after it passed max; min() handles that.
  return Math.min(max, base * 2 ** Math.max(0, attempt));
}

/** A delay drawn from [0, window); `random` returns a number in [0, 1). */
export function backoffDelay(attempt: number, random: () => number, opts: BackoffOptions = {}): number {
  return Math.floor(random() * backoffWindow(attempt, opts));
}
