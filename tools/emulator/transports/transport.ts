// How bytes reach the emulated printer. A transport produces "connections":
// a readable source of host bytes plus a way to answer. The emulator serves
// one connection at a time, like a printer with one input port.

import type { Readable } from 'node:stream';

export interface HostConnection {
  readonly source: Readable;
  reply(bytes: Uint8Array): void;
  /** Drops the host, as a printer power-cycle or cable pull would. */
  drop(): void;
}

export interface TransportEvents {
  connected(conn: HostConnection): void;
  disconnected(conn: HostConnection): void;
  /** The transport cannot continue (socat died, listener failed). */
  failed(error: Error): void;
}

export interface Transport {
  /**
   * The printer disappears: TCP drops the host and refuses new connections;
   * a PTY goes away (socat exits, the device node and symlink vanish).
   * `reset`: TCP connections end with a reset (RST), as when the printer
   * loses power, instead of a close.
   */
  vanish(reset?: boolean): Promise<void>;
  /** The printer is back at the same port or path. */
  reappear(): Promise<void>;
  close(): Promise<void>;
}
