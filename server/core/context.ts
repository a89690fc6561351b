// Time and the log: what every part of the core takes from the composition
// root. Time and timers come in through `clock` so that nothing in the core
// reads the system clock or owns a timer of its own; server.ts supplies the
// real ones, tests a manual one. Each part names the rest of what it uses in
// a small interface of its own (DeviceSessionDeps, JobsDeps, RouterDeps…),
// never the whole Hub. This file imports nothing, so that any part can use
// it without closing an import cycle.

export type Cancel = () => void;

export interface Clock {
  now(): number;
  /** Calls `fn` once after `ms` milliseconds unless the returned function is called first. */
  after(ms: number, fn: () => void): Cancel;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
