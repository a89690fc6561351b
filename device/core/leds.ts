// Status LED model. Which pattern shows is a pure function of the device's
// flags; whether the LED is lit is a pure function of the pattern and time.
// Hosts drive the pin with `levelAt` and re-arm their LED timer at `nextEdge`,
// so the core never has to tick just to blink.
//
// Priority, highest first: identify (a person is looking for this board),
// a manual override, no network, refused by the server, no server, printer
// error, printing, online. A failing link hides a printer error on purpose:
// the fix for the link comes first, and the printer error is still in the
// status report. `refused` is kept apart from `no-server` because it needs a
// person (a wrong token, a removed device, a twin with the same id, another
// major version) where `no-server` usually heals by itself.

import type { LedPattern } from '../../protocol/device-messages.js';

export interface LedFlags {
  readonly identify: boolean;
  readonly override?: LedPattern | undefined;
  readonly network: boolean;
  readonly server: boolean;
  /** The server answered and said no, for a reason only a person can fix. */
  readonly refused: boolean;
  readonly printerError: boolean;
  readonly printing: boolean;
}

export function ledPattern(f: LedFlags): LedPattern {
  if (f.identify) return 'identify';
  if (f.override !== undefined) return f.override;
  if (!f.network) return 'no-network';
  if (!f.server) return f.refused ? 'refused' : 'no-server';
  if (f.printerError) return 'printer-error';
  if (f.printing) return 'printing';
  return 'online';
}

/**
 * Each pattern as alternating on/off durations in ms, starting lit; an empty
 * list is steady. Chosen to be told apart at a glance, in the spirit of
 * ESPHome's status LED: slow blink = looking for Wi-Fi, double blink = no
 * server, triple blink = the server refuses this board, steady = ready,
 * quick blink = printing, strobe = printer needs a person.
 */
export const LED_TIMING: Readonly<Record<LedPattern, readonly number[]>> = {
  off: [],
  on: [],
  'no-network': [1000, 1000],
  'no-server': [120, 160, 120, 1100],
  refused: [120, 160, 120, 160, 120, 1100],
  online: [],
  printing: [150, 150],
  'printer-error': [80, 80],
  identify: [60, 60, 60, 60, 60, 700],
};

function steadyLevel(p: LedPattern): 0 | 1 {
  return p === 'off' ? 0 : 1;
}

function period(steps: readonly number[]): number {
  let sum = 0;
  for (const s of steps) sum += s;
  return sum;
}

/** 1 when the LED is lit at time `t` (ms, any monotonic origin). */
export function levelAt(p: LedPattern, t: number): 0 | 1 {
  const steps = LED_TIMING[p];
  if (steps.length === 0) return steadyLevel(p);
  let phase = ((t % period(steps)) + period(steps)) % period(steps);
  for (let i = 0; i < steps.length; i++) {
    const d = steps[i] ?? 0;
    if (phase < d) return i % 2 === 0 ? 1 : 0;
    phase -= d;
  }
  return 0;
}

/** The next time after `t` at which the level changes, or undefined for a steady pattern. */
export function nextEdge(p: LedPattern, t: number): number | undefined {
  const steps = LED_TIMING[p];
  if (steps.length === 0) return undefined;
  const total = period(steps);
  const base = t - (((t % total) + total) % total);
  let edge = base;
  for (let round = 0; round < 2; round++) {
    for (const d of steps) {
      edge += d;
      if (edge > t) return edge;
    }
  }
  return undefined;
}
