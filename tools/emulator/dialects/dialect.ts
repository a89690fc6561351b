// What a printer language contributes to the emulator: which bytes are
// status queries it must answer, what the answer is in the current
// condition, which conditions stop the mechanism, and which faults an
// operator can inject. Everything else (recording, the input buffer,
// XON/XOFF, stalls, pacing, transports) is the same for every dialect.
//
// A printer sees the host's bytes twice:
//   receive() — as they come off the wire, where real printers handle their
//               real-time queries (DLE EOT, ESC ! ?, ~HS) even while offline
//               or while their input buffer is full of job data;
//   print()   — as the mechanism takes them out of the input buffer, which it
//               only does while the condition allows printing.

/** One event line on the emulator's stdout. */
export type EventFields = { event: string } & Record<string, unknown>;

/** What the emulator gives a printer to act with. */
export interface PrinterContext {
  /** Sends bytes back to the host now; dropped while no host is connected. */
  reply(bytes: Uint8Array | string): void;
  /** Reports an event at once. */
  emit(e: EventFields): void;
  /** Reports an event at most every 100 ms (the latest one per name wins); flushed on stall, disconnect and exit. */
  emitThrottled(e: EventFields): void;
  /** Bytes in the input buffer that the mechanism has not taken yet. */
  buffered(): number;
  /** Free space in the input buffer (0 when full). */
  room(): number;
  /** The printer changed its own condition (e.g. halted by M112); the emulator reports it and re-checks the mechanism. */
  conditionChanged(): void;
  /** Milliseconds, monotonic. */
  now(): number;
  /** zpl: the last label of a format (with its ^PQ quantity) came out; Weblink reports it as PQ JOB COMPLETED. */
  formatPrinted?(labels: number): void;
}

/** Per-dialect settings from the command line; a dialect ignores what it does not use. */
export interface PrinterSettings {
  /** gcode: time to process an ordinary command before its `ok` (ms). */
  okDelay?: number | undefined;
  /** gcode: time a long command (G28, G29, M109, M190, M400, M600) takes (ms). */
  longMs?: number | undefined;
  /** gcode: interval of `echo:busy: processing` while a command runs longer (ms). */
  busyEvery?: number | undefined;
  /** gcode: model Marlin's ADVANCED_OK with a command queue of `bufsize` slots and a planner of `planner` blocks. */
  advancedOk?: { bufsize?: number | undefined; planner?: number | undefined } | undefined;
  /** gcode: file that receives each executed command, stripped of N and checksum, one per line. */
  linesOut?: string | undefined;
  /** tspl: how long the printing bit stays set after PRINT (ms). */
  printMs?: number | undefined;
}

/** `NAME[@AT][+DELAY][~LASTING][*COUNT]` from --fault or the `fault` command (see faults.ts). */
export interface FaultSpec {
  readonly name: string;
  readonly at?: number | undefined;
  /** Milliseconds after AT (or after the command) that the fault happens. */
  readonly delay?: number | undefined;
  /** Milliseconds after which the fault is undone. */
  readonly lasting?: number | undefined;
  readonly count?: number | undefined;
  /** `fault NAME off` */
  readonly off?: boolean | undefined;
}

export interface EmulatedPrinter {
  receive(bytes: Uint8Array): void;
  print?(bytes: Uint8Array): void;
  /** A new host connection: forget any half-read command. */
  reset(): void;
  /** Puts the printer in a named condition (see `conditions`); false if unknown. */
  setCondition(name: string): boolean;
  readonly condition: string;
  /** True while the mechanism must not take bytes from the input buffer. */
  readonly blocked: boolean;
  /** True while the mechanism is still busy with what it took (labels to print): a host of the mechanism may hold further bytes back meanwhile. */
  readonly busy?: boolean;
  /**
   * Switched off: stop every timer and drop queued work, so that nothing
   * completes, prints or answers while the power is off.
   */
  powerOff?(): void;
  /**
   * Switched on again: every state back to its power-on default (condition
   * ok, nothing half-read, counters cleared); may send a boot message.
   */
  powerOn(): void;
  /** A dialect fault (see DialectEmulator.faults); returns an error message when it cannot apply. */
  fault?(spec: FaultSpec): string | undefined;
  /** Stops timers and closes files. */
  close?(): void;
}

export interface DialectEmulator {
  readonly name: string;
  /** The first one is the healthy state. */
  readonly conditions: readonly string[];
  /** Dialect faults with a one-line description each, for --help. */
  readonly faults: Readonly<Record<string, string>>;
  create(ctx: PrinterContext, settings: PrinterSettings): EmulatedPrinter;
  /** Real-time status queries the printer answers and does not print; left out of --out. */
  readonly queries?: readonly Uint8Array[];
}
