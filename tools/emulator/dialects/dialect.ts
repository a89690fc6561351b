// What a printer language contributes to the emulator: which bytes are
// status queries it must answer, what the answer is in the current
// condition, and which conditions an operator can inject. Everything else
// (recording, stalls, pacing, transports) is the same for every dialect.

export interface EmulatedPrinter {
  /**
   * Bytes as the print engine takes them off the wire, in order. Returns the
   * replies to send back; queries may straddle calls, so parsers keep state.
   */
  receive(bytes: Uint8Array): Uint8Array[];
  /** A new host connection: forget any half-read command. */
  reset(): void;
  /** Puts the printer in a named condition (see `conditions`); false if unknown. */
  setCondition(name: string): boolean;
  readonly condition: string;
}

export interface DialectEmulator {
  readonly name: string;
  /** The first one is the healthy state. */
  readonly conditions: readonly string[];
  create(): EmulatedPrinter;
}
