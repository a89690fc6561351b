// What every part of the core shares. Time and timers come in through
// `clock` so that nothing in the core reads the system clock or owns a timer
// of its own; the composition root (server.ts) supplies the real ones.

import type { Limits } from '../limits.js';
import type { Store } from '../store/db.js';
import type { EventBus } from './events.js';
import type { Registry } from './registry.js';

export type Cancel = () => void;

export interface Clock {
  now(): number;
  /** Calls `fn` once after `ms` milliseconds unless the returned function is called first. */
  after(ms: number, fn: () => void): Cancel;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export interface CoreContext {
  readonly store: Store;
  readonly limits: Limits;
  readonly clock: Clock;
  readonly log: Log;
  readonly events: EventBus;
  readonly registry: Registry;
}
