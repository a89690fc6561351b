// What every section of the dashboard shares: the SDK client, the live
// state, what the page measures itself (job rates, temperature history), the
// activity log and toasts, and two actions one section asks of another
// (print a dropped file, show a job just submitted).

import type { LiveState, PrintbridgeClient } from '../sdk/index.js';
import type { Tone } from './format.js';
import type { JobRates } from './rates.js';
import type { TempHistory } from './temps.js';

export interface App {
  readonly client: PrintbridgeClient;
  readonly live: LiveState;
  /** Each moving job's rate and time left. */
  readonly rates: JobRates;
  /** The last minutes of each printer's temperatures. */
  readonly temps: TempHistory;
  /** A line in the activity log; `key` lets a later line replace it (delivery reports). */
  log(text: string, tone?: Tone, key?: string): void;
  /** A short message that goes away by itself. */
  toast(text: string, tone?: Tone): void;
  /** Prints a file (its name names the job) on a printer, and shows the new job (upload.ts). */
  printFile(printer: string, file: File): void;
  /** Brings a job's row into view and marks it for a moment (jobs.ts). */
  showJob(id: string): void;
}

/** The message of anything thrown, with the server's code in front when there is one. */
export function describe(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && 'message' in e) return `${String(e.code)}: ${String(e.message)}`;
  return e instanceof Error ? e.message : String(e);
}

/** The server's error code of anything thrown, if it has one. */
export function codeOf(e: unknown): string | undefined {
  return e && typeof e === 'object' && 'code' in e ? String(e.code) : undefined;
}

/**
 * An idempotency key for a submission: sent again after a reconnect, it
 * gets the job already made instead of a second print. (crypto.randomUUID
 * needs a secure context, and a dashboard on the LAN is often plain http.)
 */
export function newKey(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}
