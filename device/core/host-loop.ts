// The run loop every host of the device core shares, whatever clock and
// timers it has (they come in through a Scheduler). A host turns its
// callbacks into events and posts them here; the loop hands them to the core
// one at a time and gives every effect to the host's `perform`.
//
//   post(event) ──▶ queue ──▶ drain: core.handle(event, now) ──▶ perform(effect) …
//                    ▲          │     (events posted meanwhile wait in the queue)
//     timer ─ tick ──┘          └──▶ queue empty: settled(now), arm the timer
//
// What it guarantees to every host:
// - The core is never re-entered. An event posted while effects are being
//   carried out (a socket failing inside a send, a port reporting room inside
//   a write) waits in the queue and is handled after the current one.
// - One timer, armed for the earliest of the core's nextDeadline() and the
//   host's own deadlines (addDeadline). It is left alone when that time did
//   not change, so a burst of events does not churn timers.
// - Nothing thrown escapes. An exception from core.handle, perform or a host
//   deadline is reported through `log`, naming the event or effect type, and
//   the loop goes on: on some runtimes an exception that leaves a timer or
//   socket callback ends the program, and a restart per bad frame is a
//   restart loop.
// - reboot(core, events) swaps in a new core (a host's soft restart):
//   whatever the old core still asked for in the batch being
//   carried out is dropped, and the new core hears `events` before anything
//   else in the queue.
//
// The loop reads no clock and owns no timer of its own: both come from the
// host's Scheduler, which is what lets it live in device/core.

import type { DeviceCore, DeviceEffect, DeviceEvent, LogLevel } from './types.js';

/** After a tick that threw, the next one waits at least this long, so a deadline the failure left in the past cannot spin the timer. */
export const RETRY_FAILED_TICK_MS = 1000;

/** A host's monotonic clock and one-shot timers; `H` is whatever its timers return. */
export interface Scheduler<H> {
  /** Milliseconds on a clock that never goes back: the `now` of every event. */
  now(): number;
  /** Calls `callback` once, after `ms` (≥ 0) milliseconds. */
  set(callback: () => void, ms: number): H;
  clear(handle: H): void;
}

/** A deadline of the host's own that rides on the loop's one timer (a stats sample, an offline watchdog). */
export interface HostDeadline {
  /** When `fire` is due, on the scheduler's clock; undefined for never. Asked after every drain, so keep it cheap. */
  next(): number | undefined;
  /**
   * The timer went off at or after next(). Move next() on (or to undefined),
   * or it fires again at once. Events it posts are handled before the tick.
   */
  fire(now: number): void;
}

export interface HostLoopOptions<H> {
  readonly core: DeviceCore;
  readonly scheduler: Scheduler<H>;
  /** Carries out one effect. It may post events (they wait their turn) and call reboot(). */
  readonly perform: (effect: DeviceEffect) => void;
  /** Where the loop reports an exception it caught. */
  readonly log: (level: LogLevel, message: string) => void;
  /**
   * After every drain, once the queue is empty and before the timer is
   * armed: for host state that follows the core, such as a status view or an
   * offline watchdog (core.linkState() is cheap; snapshot() is not).
   */
  readonly settled?: (now: number) => void;
}

interface Armed<H> {
  readonly handle: H;
  readonly at: number;
}

export class HostLoop<H> {
  private current: DeviceCore;
  private readonly scheduler: Scheduler<H>;
  private readonly perform: (effect: DeviceEffect) => void;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly settled: ((now: number) => void) | undefined;
  private readonly queue: DeviceEvent[] = [];
  private readonly deadlines: HostDeadline[] = [];
  private busy = false;
  private stopped = false;
  private timer: Armed<H> | undefined;
  /** The last tick threw: hold the next one back (RETRY_FAILED_TICK_MS). */
  private tickFailed = false;

  constructor(opts: HostLoopOptions<H>) {
    this.current = opts.core;
    this.scheduler = opts.scheduler;
    this.perform = opts.perform;
    this.log = opts.log;
    this.settled = opts.settled;
  }

  /** The core now in charge (it changes on reboot). */
  get core(): DeviceCore {
    return this.current;
  }

  /** Hands `event` to the core now, or after the current event if one is being handled. */
  post(event: DeviceEvent): void {
    if (this.stopped) return;
    this.queue.push(event);
    this.drain();
  }

  /** Several events in order, as one batch. */
  postAll(events: readonly DeviceEvent[]): void {
    if (this.stopped) return;
    for (const event of events) this.queue.push(event);
    this.drain();
  }

  /**
   * A new core takes over. Called from perform, the rest of the old core's
   * effects in that batch are dropped. `events` (boot, network, ports) go to
   * the front of the queue; events already queued follow them.
   */
  reboot(core: DeviceCore, events: readonly DeviceEvent[]): void {
    if (this.stopped) return;
    this.current = core;
    this.queue.unshift(...events);
    this.drain();
  }

  /** Adds a deadline of the host's own to the timer; returns a function that removes it. */
  addDeadline(deadline: HostDeadline): () => void {
    this.deadlines.push(deadline);
    this.rearm();
    return () => {
      const i = this.deadlines.indexOf(deadline);
      if (i >= 0) this.deadlines.splice(i, 1);
      this.rearm();
    };
  }

  /** Reads every deadline again; call when a host deadline moved outside the loop. */
  rearm(): void {
    if (!this.busy) this.arm();
  }

  /** No more events and no timer; posts after this are ignored. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    const armed = this.timer;
    this.timer = undefined;
    if (armed !== undefined) this.guard('timer.clear', () => this.scheduler.clear(armed.handle));
  }

  private drain(): void {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      for (;;) {
        let event = this.queue.shift();
        while (event !== undefined && !this.stopped) {
          this.handle(event);
          event = this.queue.shift();
        }
        if (this.stopped) return;
        const settled = this.settled;
        if (settled !== undefined) this.guard('settled', () => settled(this.scheduler.now()));
        if (this.queue.length === 0) break;
      }
    } finally {
      this.busy = false;
    }
    this.arm();
  }

  private handle(event: DeviceEvent): void {
    const core = this.current;
    let effects: DeviceEffect[];
    try {
      effects = core.handle(event, this.scheduler.now());
    } catch (e) {
      this.report(`core failed on ${event.type}`, e);
      if (event.type === 'tick') this.tickFailed = true;
      return;
    }
    for (const effect of effects) {
      // perform rebooted or stopped us: the rest belonged to the old core.
      if (this.current !== core || this.stopped) return;
      try {
        this.perform(effect);
      } catch (e) {
        this.report(`${effect.type} failed`, e);
      }
    }
  }

  private arm(): void {
    if (this.stopped) return;
    let due: number | undefined;
    try {
      due = this.current.nextDeadline();
    } catch (e) {
      this.report('core failed on nextDeadline', e);
    }
    for (const d of this.deadlines) {
      let at: number | undefined;
      try {
        at = d.next();
      } catch (e) {
        this.report('host deadline failed', e);
      }
      if (at !== undefined && (due === undefined || at < due)) due = at;
    }
    if (this.tickFailed && due !== undefined) {
      this.tickFailed = false;
      due = Math.max(due, this.scheduler.now() + RETRY_FAILED_TICK_MS);
    }
    const armed = this.timer;
    if (armed !== undefined && armed.at === due) return;
    this.timer = undefined;
    this.guard('timer', () => {
      if (armed !== undefined) this.scheduler.clear(armed.handle);
      if (due === undefined) return;
      const delay = Math.max(0, due - this.scheduler.now());
      this.timer = { at: due, handle: this.scheduler.set(this.wake, delay) };
    });
  }

  /** The timer went off: host deadlines that are due fire, then the core gets a tick. */
  private readonly wake = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    if (!this.busy) {
      // Events the host deadlines post queue up and go out with the tick.
      this.busy = true;
      try {
        const now = this.scheduler.now();
        for (const d of this.deadlines) {
          try {
            const at = d.next();
            if (at !== undefined && at <= now) d.fire(now);
          } catch (e) {
            this.report('host deadline failed', e);
          }
        }
      } finally {
        this.busy = false;
      }
    }
    this.post({ type: 'tick' });
  };

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.report(`${what} failed`, e);
    }
  }

  private report(what: string, e: unknown): void {
    try {
      this.log('error', `${what}: ${e instanceof Error ? e.message : String(e)}`);
    } catch {
      // A failing logger must not take the loop down with it.
    }
  }
}
