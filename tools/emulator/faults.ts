// Fault specs, the same on the command line (--fault SPEC, repeatable) and
// on stdin (`fault SPEC`): NAME[@AT][*COUNT][ off].
//
// For the emulator's own faults and for condition names, AT is a byte count
// (of bytes received since start): the fault happens when exactly that many
// bytes have come off the wire, or at once when AT is missing or already
// passed. A dialect's own faults (gcode corrupt/resend, zpl silent-hs) are
// handed to the dialect, which gives AT its own meaning (gcode: a line
// number).

import type { FaultSpec } from './dialects/dialect.js';

/** Faults every dialect has; conditions (paper-out@N, …) are faults too. */
export const COMMON_FAULTS: Readonly<Record<string, string>> = {
  stall: 'stall@N       stop reading at byte N until resume (or --stall-for)',
  pause: 'pause@N       stop the mechanism: the buffer fills (XOFF) until unpause',
  drop: 'drop@N        cut the TCP connection at byte N',
  disappear: 'disappear@N   vanish at byte N (TCP: drop, refuse; PTY: gone) until reappear',
};

const SPEC = /^([a-z][a-z0-9-]*)(?:@(\d+))?(?:\*(\d+))?$/;

/** Parses a spec; throws an Error with a readable message when malformed. */
export function parseFault(text: string): FaultSpec {
  const words = text.trim().split(/\s+/);
  const off = words.length === 2 && words[1] === 'off';
  if (words.length > 2 || (words.length === 2 && !off)) throw new Error(`a fault is NAME[@N][*K] [off], not ${JSON.stringify(text)}`);
  const m = SPEC.exec(words[0] ?? '');
  if (!m) throw new Error(`a fault is NAME[@N][*K] [off], not ${JSON.stringify(text)}`);
  const count = m[3] === undefined ? undefined : Number(m[3]);
  if (count === 0) throw new Error(`*K must be at least 1 in ${JSON.stringify(text)}`);
  return { name: m[1]!, at: m[2] === undefined ? undefined : Number(m[2]), count, off: off || undefined };
}
