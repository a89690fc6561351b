// A log line that can come in storms: one per device going online or
// offline is what an operator of ten devices wants, and 20,000 lines in a
// few seconds, when a fleet reconnects after a network outage, is what
// none wants (nor the disk, nor the event loop writing them). Up to
// `perWindow` lines a window are written as they come; past that, one line
// at the window's end counts the rest.

import type { Clock, Log, LogLevel } from './context.js';

export class LogBurst {
  private windowStart = Number.NEGATIVE_INFINITY;
  private written = 0;
  private untold = 0;

  constructor(
    private readonly log: Log,
    private readonly clock: Clock,
    private readonly level: LogLevel,
    private readonly msg: string,
    private readonly perWindow = 20,
    private readonly windowMs = 1000,
  ) {}

  line(fields: Record<string, unknown>): void {
    const now = this.clock.now();
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.written = 0;
    }
    if (this.written < this.perWindow) {
      this.written += 1;
      this.log(this.level, this.msg, fields);
      return;
    }
    // The first untold line of a window schedules the count; it is written even if no other line comes.
    if (this.untold++ === 0) this.clock.after(this.windowStart + this.windowMs - now, () => this.tell());
  }

  private tell(): void {
    const count = this.untold;
    this.untold = 0;
    if (count > 0) this.log(this.level, `${this.msg} (${count} more in ${this.windowMs / 1000} s, not listed one by one)`, { more: count });
  }
}
