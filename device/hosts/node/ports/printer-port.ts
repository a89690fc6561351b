// One printer connection as the bridge host sees it, whatever carries it
// (TCP :9100, a serial device, a PTY). The port keeps itself open: after
// open() it reconnects on failure with capped backoff until close(), and it
// reports what the device core needs to pace a job:
//
//   writable(room)  how many more bytes it takes right now; sent after every
//                   write and every flush, and 0 while it is not open, so the
//                   core never queues more than `highWaterMark` bytes in Node
//   state(s, why)   online when open, offline (with the reason) when not
//   data(bytes)     what the printer sent back (status answers)

import type { JobPiece } from '../../../core/types.js';
import type { IppServer } from '../ipp.js';

/**
 * online when open, offline (the session ends) when not; a port that hears
 * more from its printer's system than open/closed (a CUPS queue) may also say
 * what holds the printer up while it stays reachable.
 */
export type PortLinkState = 'online' | 'offline' | 'busy' | 'paper-out' | 'paper-low' | 'cover-open' | 'error';
export type { JobPiece };

export interface PrinterPort {
  /** Where it goes, for logs: tcp://host:port or serial:/dev/x@baud. */
  readonly label: string;
  open(): void;
  /**
   * Hands bytes to the OS as room allows; returns false (and drops them) when
   * the port is not open. `job` comes only to a spooler port (cups-port.ts):
   * which job the bytes belong to and whether they complete it.
   */
  write(bytes: Uint8Array, job?: JobPiece): boolean;
  /** Bytes it takes right now: highWaterMark less what Node still buffers; 0 when not open. */
  room(): number;
  readonly isOpen: boolean;
  onWritable(listener: (room: number) => void): void;
  onData(listener: (bytes: Uint8Array) => void): void;
  onState(listener: (state: PortLinkState, detail?: string) => void): void;
  /** Spooler ports only: the print system's outcome for a job handed over whole (done, or failed with its reasons). */
  onVerdict?(listener: (job: string, ok: boolean, detail?: string) => void): void;
  /** Stops reconnecting and closes; pending bytes are discarded. */
  close(): Promise<void>;
}

export interface PortOptions {
  /** Most bytes buffered in Node at once (default 4 KiB). */
  highWaterMark?: number;
  /** First reopen delay, doubled per failed attempt (default 250 ms). */
  backoffBase?: number;
  /** Reopen delay never exceeds this (default 10 s). */
  backoffCap?: number;
  /** Open this long before the attempt count resets (default 10 s). */
  stableAfter?: number;
  /** Serial only: RTS/CTS hardware handshake (the OS holds writes while the printer drops CTS, so room shrinks). */
  rtscts?: boolean;
  /** CUPS queues only: the CUPS server (default: CUPS_SERVER, as lp reads it). */
  cups?: IppServer;
  /** USB by ids only: where sysfs is mounted (default /sys) and where device nodes are (default /dev). */
  sysfs?: string;
  devDir?: string;
}

export const DEFAULT_HIGH_WATER_MARK = 4096;
