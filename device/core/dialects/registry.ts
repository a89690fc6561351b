// How a port gets its dialect driver: from the set of drivers the host's
// build carries (DialectSet, see dialect.ts), with its poll interval checked.
//
// A port configured for a dialect the build does not carry (an ESP32 board
// flashed without it) must not stop the firmware: the port gets `Missing`,
// which reports the printer in error with the reason, refuses commands and
// fails every job with UNSUPPORTED. The device still comes online, so the
// reason reaches the server, and the LED shows a printer error.

import type { Dialect as DialectName } from '../../../protocol/device-messages.js';
import type { PortConfig } from '../types.js';
import type { CommandResult, Dialect, DialectSet, PrinterStatus, Verdict } from './dialect.js';

export const DEFAULT_POLL = 5000;

/** A driver may also read its port's settings (G-code: cancelScript); the others ignore them. */
type Driver = new (poll: number, port?: PortConfig) => Dialect;

export function createDialect(set: DialectSet, name: DialectName, poll = DEFAULT_POLL, port?: PortConfig): Dialect {
  const Driver: Driver | undefined = set[name];
  if (Driver === undefined) return new Missing(missingReason(set, name));
  return new Driver(Number.isFinite(poll) && poll > 0 ? Math.max(100, poll) : 0, port);
}

/** Why a port has no driver, in words for the log and the port's status. */
export function missingReason(set: DialectSet, name: DialectName): string {
  return `dialect ${name} is not in this build (it has ${Object.keys(set).join(', ') || 'none'})`;
}

class Missing implements Dialect {
  readonly confirms = false;
  readonly answering = false;
  readonly results: CommandResult[] = [];
  readonly status: PrinterStatus;
  private readonly failure: Verdict;

  constructor(reason: string) {
    this.status = { state: 'error', detail: reason };
    this.failure = { ok: false, code: 'UNSUPPORTED', message: reason };
  }

  begin(): void {}
  end(): void {}
  input(): void {}
  link(): void {}

  write(): undefined {
    return undefined;
  }

  verdict(): Verdict {
    return this.failure;
  }

  command(ref: string): void {
    this.results.push({ ref, ...this.failure });
  }

  deadline(): undefined {
    return undefined;
  }
}
