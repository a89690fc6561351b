// Refused device logins, told to the server's log so that an operator can see
// a bridge knocking with a wrong token or an id nobody registered: one line
// per refusal with the id the peer claimed, its address and why, never the
// token. A bridge that keeps trying would fill the log, so at most one line
// per id and reason goes out per window; the next line counts the refusals
// held back meanwhile (`suppressed`). The peer chooses the ids, so what is
// remembered is bounded: past `maxKeys`, ids share one line per reason.

import type { Log } from '../core/context.js';

export const REFUSAL_WINDOW_MS = 60_000;
const MAX_KEYS = 1000;
/** Ids longer than this are cut in the log (a valid one is at most 64 characters). */
const ID_SHOWN = 64;

export type LoginRefusal = 'no credentials' | 'bad id' | 'unknown device' | 'wrong token' | 'too many connections' | 'a Weblink printer, not a bridge';

export class LoginRefusals {
  private readonly told = new Map<string, { at: number; held: number }>();
  /** No entry is stale before this time (see forget). */
  private staleFrom = 0;

  constructor(
    private readonly log: Log,
    private readonly now: () => number,
    private readonly windowMs = REFUSAL_WINDOW_MS,
    private readonly maxKeys = MAX_KEYS,
  ) {}

  refused(id: string | undefined, address: string | undefined, reason: LoginRefusal): void {
    const now = this.now();
    let device = id === undefined || id === '' ? '(none)' : id.length > ID_SHOWN ? `${id.slice(0, ID_SHOWN)}…` : id;
    let key = `${reason}\n${device}`;
    if (!this.told.has(key) && this.told.size >= this.maxKeys) {
      this.forget(now);
      if (this.told.size >= this.maxKeys) {
        device = '(many ids)';
        key = `${reason}\n*`;
      }
    }
    const entry = this.told.get(key);
    if (entry !== undefined && now - entry.at < this.windowMs) {
      entry.held++;
      return;
    }
    const suppressed = entry?.held ?? 0;
    this.told.set(key, { at: now, held: 0 });
    this.log('warn', 'device login refused', { device, address, reason, ...(suppressed > 0 ? { suppressed } : {}) });
  }

  /**
   * Drops what was told longer ago than the window (its held-back count goes
   * with it). Not before the oldest entry can be stale: under a flood of new
   * ids every refusal would otherwise walk all maxKeys entries for nothing.
   */
  private forget(now: number): void {
    if (now < this.staleFrom) return;
    let oldest = Infinity;
    for (const [key, entry] of this.told) {
      if (now - entry.at >= this.windowMs) this.told.delete(key);
      else oldest = Math.min(oldest, entry.at);
    }
    // Entries only ever get a later `at`, so none is stale before this.
    this.staleFrom = oldest === Infinity ? 0 : oldest + this.windowMs;
  }
}
