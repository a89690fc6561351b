// Alert conditions a Link-OS printer reports (SET / CLEAR) mapped onto the
// port status every printer has (protocol/device-messages.ts PortStatus).
// Several conditions can hold at once; the printer's state is the most
// serious of them, and its detail names every condition that holds.

import type { ErrorCode } from '../../protocol/errors.js';
import type { PrinterState } from '../../protocol/device-messages.js';

/** What the server asks the printer to report when main opens: every condition, set and clear, to this connection. */
export const CONFIGURE_ALERTS = 'ALL MESSAGES,SDK,Y,Y,,,N,';

/** Counts one printed format (an ^XA…^XZ with its quantity). */
export const JOB_COMPLETED = 'PQ JOB COMPLETED';

interface Condition {
  readonly state: PrinterState;
  /** Whether a job on the printer stops while it holds. */
  readonly stops: boolean;
  readonly code?: ErrorCode;
}

const CONDITIONS: Readonly<Record<string, Condition>> = {
  'HEAD OPEN': { state: 'cover-open', stops: true },
  'PAPER OUT': { state: 'paper-out', stops: true },
  'RIBBON OUT': { state: 'error', stops: true },
  'HEAD TOO HOT': { state: 'error', stops: true },
  'SUPPLY TOO HOT': { state: 'error', stops: true },
  'CUTTER JAM': { state: 'error', stops: true },
  'HEAD ELEMENT BAD': { state: 'error', stops: false },
  'REPLACE HEAD': { state: 'error', stops: false },
  'RFID ERROR': { state: 'error', stops: false },
  'HEAD COLD': { state: 'error', stops: false },
  'PRINTER PAUSED': { state: 'error', stops: false },
  REWIND: { state: 'error', stops: true },
  'MEDIA LOW': { state: 'paper-low', stops: false },
  'RIBBON LOW': { state: 'paper-low', stops: false },
  'BATTERY LOW': { state: 'paper-low', stops: false },
  'CLEAN PRINTHEAD': { state: 'paper-low', stops: false },
};

/** Most serious first. */
const SEVERITY: readonly PrinterState[] = ['cover-open', 'paper-out', 'error', 'paper-low'];

/** The conditions that hold now, in the order they were set. */
export class Conditions {
  private readonly held: string[] = [];

  /** Returns whether the set of held conditions changed. Conditions that are not faults (PQ JOB COMPLETED…) are ignored. */
  apply(condition: string, set: boolean): boolean {
    if (CONDITIONS[condition] === undefined) return false;
    const at = this.held.indexOf(condition);
    if (set && at < 0) this.held.push(condition);
    else if (!set && at >= 0) this.held.splice(at, 1);
    else return false;
    return true;
  }

  /** The port state these conditions give: `idle` is the state without any (online, or busy with a job). */
  state(idle: PrinterState): PrinterState {
    for (const s of SEVERITY) if (this.held.some((c) => CONDITIONS[c]?.state === s)) return s;
    return idle;
  }

  detail(): string | undefined {
    return this.held.length === 0 ? undefined : this.held.map((c) => c.toLowerCase()).join(', ');
  }

  /** The condition that stops a job, if one holds. */
  stopping(): string | undefined {
    return this.held.find((c) => CONDITIONS[c]?.stops === true);
  }
}
