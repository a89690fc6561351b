// Fault specs, the same on the command line (--fault SPEC, repeatable) and
// on stdin (`fault SPEC`): NAME[@AT][+DELAY][~LASTING][*COUNT][ off].
//
// For the emulator's own faults and for condition names, AT is a byte count
// (of bytes received since start): the fault happens when exactly that many
// bytes have come off the wire, or at once when AT is missing or already
// passed. +DELAY puts it DELAY ms after that moment (`stall@5000 drop@5000+2000`:
// the printer stops reading at byte 5000 and the connection is cut two
// seconds later). ~LASTING undoes it after LASTING ms: a stall resumes, a
// pause unpauses, a condition clears (back to ok), a vanished printer comes
// back, a switched-off printer is switched on again.
//
// A dialect's own faults (gcode corrupt/resend/drop-line, zpl silent-hs) are
// handed to the dialect, which gives AT its own meaning (gcode: a line
// number); they take no +DELAY or ~LASTING. Their names differ from the
// common ones and from conditions: a dialect fault is looked up first, so a
// shared name would hide the common fault for that dialect.

import type { FaultSpec } from './dialects/dialect.js';

/** How long a power-cycle keeps the printer off when no ~MS is given. */
export const DEFAULT_POWER_OFF_MS = 1000;

/** Faults every dialect has; conditions (paper-out@N, …) are faults too. */
export const COMMON_FAULTS: Readonly<Record<string, string>> = {
  stall: 'stall@N[~MS]  stop reading at byte N until resume (or for MS)',
  pause: 'pause@N[~MS]  stop the mechanism: the buffer fills (XOFF) until unpause',
  drop: 'drop@N        cut the TCP connection at byte N (TCP only)',
  disappear: 'disappear@N[~MS]  vanish at byte N (TCP: drop, refuse; PTY: gone)\n                until reappear (or for MS)',
  'power-cycle':
    `power-cycle@N[~MS]  switched off at byte N: what was buffered and not yet\n` +
    `                printed is lost; TCP: the connection is reset and new ones\n` +
    `                refused; PTY: silence, whatever arrives is dropped at once\n` +
    `                (nothing in the line replays after power-on). On again\n` +
    `                after MS (default ${DEFAULT_POWER_OFF_MS}) with a reset state: conditions\n` +
    `                cleared, G-code line numbers back to 0 (and "start"), ESC/POS\n` +
    `                Automatic Status Back off, TSPL/ZPL counters cleared`,
};

/** Faults that can be undone after ~MS. */
export const LASTING_FAULTS: readonly string[] = ['stall', 'pause', 'disappear', 'power-cycle'];

const SPEC = /^([a-z][a-z0-9-]*)(?:@(\d+))?(?:\+(\d+))?(?:~(\d+))?(?:\*(\d+))?$/;
const FORM = 'NAME[@N][+MS][~MS][*K] [off]';

/** Parses a spec; throws an Error with a readable message when malformed. */
export function parseFault(text: string): FaultSpec {
  const words = text.trim().split(/\s+/);
  const off = words.length === 2 && words[1] === 'off';
  if (words.length > 2 || (words.length === 2 && !off)) throw new Error(`a fault is ${FORM}, not ${JSON.stringify(text)}`);
  const m = SPEC.exec(words[0] ?? '');
  if (!m) throw new Error(`a fault is ${FORM}, not ${JSON.stringify(text)}`);
  const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));
  const count = num(m[5]);
  if (count === 0) throw new Error(`*K must be at least 1 in ${JSON.stringify(text)}`);
  for (const ms of [m[3], m[4]]) {
    if (ms !== undefined && Number(ms) > 2 ** 31 - 1) throw new Error(`milliseconds out of range in ${JSON.stringify(text)}`);
  }
  return { name: m[1]!, at: num(m[2]), delay: num(m[3]), lasting: num(m[4]), count, off: off || undefined };
}

/** The spec written back in its own syntax, for messages. */
export function formatFault(spec: FaultSpec): string {
  return (
    spec.name +
    (spec.at === undefined ? '' : `@${spec.at}`) +
    (spec.delay === undefined ? '' : `+${spec.delay}`) +
    (spec.lasting === undefined ? '' : `~${spec.lasting}`) +
    (spec.count === undefined ? '' : `*${spec.count}`) +
    (spec.off ? ' off' : '')
  );
}
