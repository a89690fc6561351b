// What a printer language contributes to a port: how to ask the printer for
// its status and read the answer, where in the job stream a query may go,
// how job data is paced, and whether the end of a job can be confirmed.
//
// The spool (spooler.ts) owns the job, its offsets and the credit window; it
// hands the dialect a JobFeed and asks it, on every event, for the next bytes
// for the port (`write`), never more than the port's room. The dialect
// answers with its own bytes first (a status query, a resend, an emergency
// command) and otherwise with job bytes it takes from the feed. Everything is
// a function of the events and `now`: no dialect owns a timer.
//
// Once the spool has handed over every byte of a job it asks for a `verdict`:
// undefined while the dialect is still confirming, then done or failed. A
// dialect that cannot confirm (raw, or polling switched off) says done at
// once, so "done" there only means "all bytes went to the port".
//
// Printer sessions: a verdict only counts on the session that took the
// job's bytes. The spool ends a session when the host reports the port
// offline (`link(false)`), and, on a serial line, when the dialect reports
// that the printer came back after going silent past its status timeout
// (`revivals`): it may have been switched off and on with the job in its
// buffer. A job with bytes on the port fails JOB_INTERRUPTED then; the
// dialect never sees a verdict asked across two sessions.

import type { Dialect as DialectName, PrinterState, Temperature } from '../../../protocol/device-messages.js';
import type { ErrorCode } from '../../../protocol/errors.js';
import type { Obj } from '../../../protocol/fields.js';

export interface PrinterStatus {
  readonly state: PrinterState;
  readonly detail?: string | undefined;
  readonly temps?: Temperature[] | undefined;
}

/** Job bytes the spool holds, as a dialect may take them. */
export interface JobFeed {
  /** Bytes held and not yet taken. */
  readonly length: number;
  /** True when nothing more of the job will arrive after the held bytes. */
  readonly last: boolean;
  /** The next bytes (one contiguous piece, at most `max`), not consumed. */
  peek(max: number): Uint8Array;
  /** Consumes `n` bytes (counted as written by the spool) and returns them. */
  take(n: number): Uint8Array;
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

export interface CommandResult {
  readonly ref: string;
  readonly ok: boolean;
  readonly code?: ErrorCode | undefined;
  readonly message?: string | undefined;
  readonly data?: Obj | undefined;
}

export interface Dialect {
  /** True when job.done means the printer confirmed the job (announced as PortInfo.confirms). */
  readonly confirms: boolean;
  /** What the printer last told us, or undefined when the dialect knows nothing (raw, polling off, no answer yet). */
  readonly status: PrinterStatus | undefined;
  /** True while a binary status answer is expected: XON/XOFF bytes must not be taken from the input then. */
  readonly answering: boolean;
  /** A job starts on the port. */
  begin(now: number): void;
  /**
   * The next bytes for the port, at most `room`, or undefined. Called at
   * least once per event even with no room, so timeouts are noticed. `feed` is the
   * job's data, or undefined when job data must not move now (no job, held
   * by the server, XOFF, printer trouble).
   */
  write(room: number, feed: JobFeed | undefined, now: number): Uint8Array | undefined;
  /**
   * How the job stands: `sent` is true once the spool handed over every byte.
   * A dialect may fail a job before that (G-code: printer dead). Called
   * after `write` on every pump.
   */
  verdict(sent: boolean, now: number): Verdict | undefined;
  /** The job ended (done, failed or canceled): forget it. */
  end(): void;
  /** Bytes from the printer. */
  input(bytes: Uint8Array, now: number): void;
  /** The host's port opened (true) or went away (false): answers in flight are lost, and with them any confirmation under way. */
  link(up: boolean, now: number): void;
  /**
   * How many times the printer answered again after going silent past the
   * status timeout (a query unanswered, not a byte in the meantime). Counted
   * by dialects that poll; absent where silence cannot be told (raw, G-code,
   * whose own timeouts fail the job).
   */
  readonly revivals?: number;
  /** Sends `text` to the printer for a `printer.command` control; the result arrives later in `results`. */
  command(ref: string, text: string, emergency: boolean, busy: boolean, now: number): void;
  /** Results of commands, taken by the spool. */
  readonly results: CommandResult[];
  /** True when a stream that ran dry mid-job ruins the job (G-code): the spool then needs the job's consent to go on. */
  readonly stalls?: boolean;
  /** When `write` next has something to do by time alone (never a time already passed by a `write`). */
  deadline(): number | undefined;
}

/**
 * A dialect's driver, as a build carries it: `poll` is the port's status
 * poll interval in ms, already checked (0 off, else at least 100).
 */
export type DialectDriver = new (poll: number) => Dialect;

/**
 * The drivers a build carries, by dialect name. The host supplies it: the
 * Node bridge every one (all.ts), an ESP32 build only those its manifest
 * lists (see tools/build-device.ts), so a board's firmware holds no code for
 * printers it will never talk to.
 */
export type DialectSet = Readonly<Partial<Record<DialectName, DialectDriver>>>;

export const TROUBLE: readonly PrinterState[] = ['offline', 'paper-out', 'cover-open', 'error'];

export function ascii(text: string): Uint8Array | undefined {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) return undefined;
    out[i] = c;
  }
  return out;
}

export function text(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i] ?? 0);
  return s;
}

/**
 * A `printer.command` for a dialect that writes it as it is, between jobs
 * (raw, ESC/POS, TSPL, ZPL): its bytes, or undefined when it was refused
 * (the refusal is in `results`). Inside a job the bytes could land in
 * another command's parameters; `pending` is a command not yet written.
 */
export function commandBetweenJobs(results: CommandResult[], ref: string, data: string, busy: boolean, pending: boolean): Uint8Array | undefined {
  const bytes = ascii(data);
  if (bytes === undefined) results.push({ ref, ok: false, code: 'BAD_FIELD', message: 'data must be single-byte characters' });
  else if (busy || pending) results.push({ ref, ok: false, code: 'PORT_BUSY', message: 'printer is busy with a job' });
  else {
    results.push({ ref, ok: true, data: { written: bytes.length } });
    return bytes;
  }
  return undefined;
}
