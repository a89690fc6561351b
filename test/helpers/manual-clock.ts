// A core Clock that moves only when a test says so; timers due run in order.

import type { Clock } from '../../server/core/context.js';

export interface ManualClock extends Clock {
  /** Runs the timers due up to `ms` from now, in order, then stands at that time. */
  advance(ms: number): void;
}

export function manualClock(): ManualClock {
  let now = 0;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  return {
    now: () => now,
    after(ms, fn) {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return () => {
        t.live = false;
      };
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.live && t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        due.live = false;
        now = due.at;
        due.fn();
      }
      now = until;
    },
  };
}
