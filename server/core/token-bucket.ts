// A token bucket: `burst` tokens at most, refilled at `ratePerS` a second;
// each message takes one. It lets a peer send in short bursts while bounding
// what it can make the server do over any longer stretch. Time is passed
// in, so the bucket owns no timer and tests need no waiting.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerS) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Gives one token back (never above the burst). */
  give(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }
}
