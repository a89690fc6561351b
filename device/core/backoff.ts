// Capped exponential backoff with full jitter: the wait before attempt n is
// uniform in [0, min(cap, base · 2^n)). Full jitter spreads a fleet of devices
// that lost the server at the same moment (a deploy, a power cut) across the
// whole window, so they do not return as one thundering herd.

/** Attempts count up to this exponent; 2^30 · base overflows nothing and is far past any sensible cap, so it is the cap's window. */
export const WIDEST_ATTEMPT = 30;

export function backoffCeiling(attempt: number, base: number, cap: number): number {
  const exp = Math.min(Math.max(attempt, 0), WIDEST_ATTEMPT);
  return Math.min(cap, base * 2 ** exp);
}

/** `random` returns [0, 1) like Math.random; it is injected so tests can steer it. */
export function backoffDelay(attempt: number, base: number, cap: number, random: () => number): number {
  const r = random();
  const unit = r >= 0 && r < 1 ? r : 0;
  return Math.floor(unit * backoffCeiling(attempt, base, cap));
}
