// The contract between the device core and the host that runs it (ESP32
// firmware, Node bridge, test harness). The core is `handle(event, now) →
// effects`: hosts turn their callbacks into events, carry out the effects in
// order, and call `handle({type: 'tick'}, now)` when `nextDeadline()` comes.
// `now` is a monotonic millisecond clock chosen by the host; the core never
// reads a clock, owns a timer or touches a socket.

import type { Dialect, LedPattern, PortInfo, PrinterState, Temperature } from '../../protocol/device-messages.js';
import type { ErrorCode } from '../../protocol/errors.js';
import type { Obj } from '../../protocol/fields.js';

export interface LinkTimings {
  /**
   * The first connection after start waits uniform in [0, firstWindow): a
   * fleet powered on at once (after a power cut) spreads out, where a bridge
   * a person starts (the Node host sets 0) connects at once.
   */
  readonly firstWindow: number;
  /** First backoff ceiling, doubled per failed attempt. */
  readonly backoffBase: number;
  /** Backoff ceiling never exceeds this. */
  readonly backoffCap: number;
  /** Online this long before the attempt counter resets (a flapping link keeps backing off). */
  readonly stableAfter: number;
  /** A socket that is not open after this long is abandoned. */
  readonly connectTimeout: number;
  /** After the socket opens, the server's welcome must arrive within this. */
  readonly helloTimeout: number;
  /** Send an application ping when nothing was sent for this long. */
  readonly pingInterval: number;
  /** Declare the link dead when nothing was received for this long. */
  readonly deadAfter: number;
}

/** How the printer paces us beyond the port's own room: XON/XOFF bytes, or RTS/CTS (done by the host; the core sees room 0). */
export type FlowControl = 'none' | 'xonxoff' | 'rtscts';

/**
 * What carries a printer's bytes: a serial line (UART, USB, Bluetooth), a
 * network connection (TCP :9100), or a print system that takes each job
 * whole and reports its outcome (a CUPS queue).
 */
export type PortTransport = 'serial' | 'network' | 'spooler';

export interface PortConfig {
  readonly port: number;
  readonly dialect: Dialect;
  readonly name?: string | undefined;
  /** Status poll interval in ms (default 5000); 0 switches polling off, and with it confirmation for escpos/tspl/zpl. */
  readonly poll?: number | undefined;
  /** Default none. Only `xonxoff` concerns the core: DC3 from the printer stops job data, DC1 lets it go on. */
  readonly flow?: FlowControl | undefined;
  /**
   * What carries the bytes, which decides what ends a printer session (a job
   * is done only on proof from the session that took all of its bytes; see
   * spooler.ts and docs/printers.md). `network`: a TCP connection, so the
   * session is the connection (a printer that restarts loses it). `serial`
   * (the default, the safe guess): a UART, USB or Bluetooth line that stays
   * open while the printer is switched off and on, so a printer that goes
   * silent past the dialect's status timeout and answers again is taken for
   * a new session too. `spooler`: a print system (CUPS) that takes a job
   * whole: every write of job data names its job (`port.write` `job`), the
   * last one says so, and the job is done or failed only when the host
   * reports the print system's outcome (`port.verdict`), not on the
   * dialect's verdict; the session is the host's connection to it.
   */
  readonly transport?: PortTransport | undefined;
  /**
   * G-code only: lines sent after a print ends unfinished (canceled, or failed
   * while the printer still listens). Default heaters, fan and motors off:
   * `M104 S0`, `M140 S0`, `M107`, `M84` (gcode.ts DEFAULT_CANCEL_SCRIPT);
   * `[]` sends nothing. A host reading it from one string uses cancelScriptLines.
   */
  readonly cancelScript?: readonly string[] | undefined;
}

export interface DeviceConfig {
  readonly id: string;
  readonly token: string;
  /**
   * Base URL of the server, e.g. ws://10.0.0.2:8080; the core appends
   * /v1/device. Several, separated by spaces and/or commas, are tried in
   * turn ("wss://a.example wss://b.example"; see link.ts).
   */
  readonly server: string;
  readonly fw: string;
  readonly ports: readonly PortConfig[];
  /** Credit window offered to the server per job, in bytes: the most job data the device buffers. */
  readonly window?: number | undefined;
  /** Largest job-data payload per frame. */
  readonly maxChunk?: number | undefined;
  readonly timings?: Partial<LinkTimings> | undefined;
  /** How often to send a status report while online even when nothing changed. */
  readonly statusInterval?: number | undefined;
  /** Capabilities announced in hello. */
  readonly caps?: readonly string[];
  /**
   * Control names the host answers itself, for what only the host can know
   * or do (the printers its computer can reach, opening another): each
   * arrives as a `control` effect and is answered with a `control.answer`
   * event. They are announced in hello's caps too. Names neither the core
   * nor the host knows are answered UNSUPPORTED.
   */
  readonly hostControls?: readonly string[];
}

export type DeviceEvent =
  | { readonly type: 'boot' }
  | { readonly type: 'network'; readonly up: boolean }
  | { readonly type: 'ws.open' }
  | { readonly type: 'ws.text'; readonly text: string }
  | { readonly type: 'ws.binary'; readonly bytes: Uint8Array }
  /**
   * The socket is gone, whoever closed it; the host must not use it again.
   * `code` is the close code when a close frame arrived; `status` the HTTP
   * status when the server refused the upgrade (401 unknown device or wrong
   * token), for hosts whose WebSocket client can see it; `cause` why the
   * socket failed below WebSocket, when the host can tell (see SocketFailure).
   * `reason` is free text for people: the close reason or the host's error.
   */
  | { readonly type: 'ws.closed'; readonly code?: number; readonly reason?: string; readonly status?: number; readonly cause?: SocketFailure }
  /** The port can take `room` more bytes right now (replaces any earlier figure). */
  | { readonly type: 'port.writable'; readonly port: number; readonly room: number }
  | { readonly type: 'port.data'; readonly port: number; readonly bytes: Uint8Array }
  /**
   * The host's view of the port: opened (online), closed or failing (offline).
   * Offline ends the printer session: a job of which bytes went to the port
   * and that is not proven done fails JOB_INTERRUPTED (spooler.ts).
   */
  | { readonly type: 'port.state'; readonly port: number; readonly state: PrinterState; readonly detail?: string }
  /** A `spooler` port's outcome for the job `job` it was handed whole: done (ok) or failed, with the print system's reasons. */
  | { readonly type: 'port.verdict'; readonly port: number; readonly job: string; readonly ok: boolean; readonly detail?: string }
  | { readonly type: 'host.stats'; readonly heap?: number; readonly rssi?: number }
  /** The host's answer to a `control` effect. Dropped when the session that asked is gone. */
  | { readonly type: 'control.answer'; readonly ref: string; readonly ok: true; readonly data?: Obj }
  | { readonly type: 'control.answer'; readonly ref: string; readonly ok: false; readonly code: ErrorCode; readonly message: string }
  /**
   * The host opened one more printer port (printers.add). The core takes it
   * on and connects again, so that its hello tells the server; jobs on the
   * other ports carry on across the reconnect as across any other.
   */
  | { readonly type: 'port.added'; readonly port: PortConfig }
  | { readonly type: 'tick' };

/**
 * Why a socket failed below the WebSocket protocol, as far as the host can
 * tell: nothing listens at the address (`refused`), the host name does not
 * resolve (`dns`), the address did not answer in time (`timeout`), there is
 * no route to it (`unreachable`), or the TLS handshake or the server's
 * certificate failed (`tls`). A host that cannot tell leaves it out.
 */
export type SocketFailure = 'refused' | 'dns' | 'timeout' | 'unreachable' | 'tls';

/** Which job a `spooler` port's bytes belong to, and whether they complete it. */
export interface JobPiece {
  readonly id: string;
  readonly last: boolean;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type DeviceEffect =
  /** Open a new socket (never reuse an old one). The host may carry the token as a header or leave it in the URL. */
  | { readonly type: 'ws.connect'; readonly url: string; readonly token: string }
  | { readonly type: 'ws.send'; readonly data: string | Uint8Array }
  /** Close the current socket. The core treats it as gone at once: the host reports no more events of it. */
  | { readonly type: 'ws.close'; readonly code: number; readonly reason: string }
  /**
   * Never more bytes than the last room the host reported, less what was
   * written since. On a `spooler` port, job data names its job, and the
   * write that completes it has `last` (its bytes may be empty).
   */
  | { readonly type: 'port.write'; readonly port: number; readonly bytes: Uint8Array; readonly job?: JobPiece }
  | { readonly type: 'led'; readonly pattern: LedPattern }
  | { readonly type: 'log'; readonly level: LogLevel; readonly message: string }
  /** Persist settings changed by a config control message, then reconnect with them. */
  | { readonly type: 'persist'; readonly settings: Readonly<Record<string, string>> }
  | { readonly type: 'restart'; readonly reason: string }
  /** A control message of the host's own (DeviceConfig.hostControls): answer it with a `control.answer` event of the same ref. */
  | { readonly type: 'control'; readonly ref: string; readonly name: string; readonly args: Obj };

/**
 * `stopped` is final for this core: the server said not to come back (close
 * REPLACED or REVOKED) or speaks another major version (VERSION). Only a new
 * core, that is a restart, connects again.
 */
export type LinkState = 'offline' | 'connecting' | 'handshaking' | 'online' | 'backoff' | 'stopped';

export interface PortSnapshot {
  readonly port: number;
  readonly dialect: Dialect;
  readonly state: PrinterState;
  readonly detail?: string | undefined;
  readonly temps?: Temperature[] | undefined;
  readonly job?: {
    readonly id: string; readonly size: number; readonly received: number; readonly written: number;
    /** Held by the server (job.pause). */
    readonly held: boolean;
    /** Held by the printer (paper out, cover open…). */
    readonly troubled: boolean;
  } | undefined;
}

/**
 * Why the link failed, as a stable name (the link's diagnosis, link.ts):
 * - `unauthorized`: the upgrade was refused with HTTP 401/403, an unknown id or a wrong token;
 * - `unreachable`: connection refused, host name not found, no answer, no route;
 * - `tls`: the TLS handshake or the server's certificate failed;
 * - `rejected`: another HTTP answer than 101 (400, 404…): not a printbridge device endpoint, or a bad id;
 * - `server-error`: HTTP 5xx or close 1011, the server is full or failing;
 * - `no-welcome`: the socket opened but no welcome came in time;
 * - `dropped`: an open connection was lost (closed, cut, or the server fell silent);
 * - `version`, `replaced`, `revoked`: the final ones (close 4002, 4001, 4006): the link stops.
 */
export type LinkCause =
  | 'unauthorized' | 'unreachable' | 'tls' | 'rejected' | 'server-error' | 'no-welcome' | 'dropped'
  | 'version' | 'replaced' | 'revoked';

export interface LinkProblem {
  readonly cause: LinkCause;
  /** One line for a person: what went wrong and what to do about it. */
  readonly message: string;
  /** Failed attempts in a row when it was last seen (counted since the link was last stable online). */
  readonly attempts: number;
}

export interface DeviceSnapshot {
  readonly link: LinkState;
  /** The base URL of the server the link tries or uses now (one of the server setting's). */
  readonly server?: string | undefined;
  readonly attempt: number;
  /**
   * Why the link last failed: while it is not online, why not; once online
   * again, what the last outage was (kept until the next failure).
   */
  readonly problem?: LinkProblem | undefined;
  readonly led: LedPattern;
  readonly ports: readonly PortSnapshot[];
}

export interface DeviceCore {
  handle(event: DeviceEvent, now: number): DeviceEffect[];
  /** Absolute time (same clock as `now`) at which the host must deliver a tick, or undefined if none is due. */
  nextDeadline(): number | undefined;
  /** The link state alone, cheap enough to ask after every event (snapshot() builds a whole view). */
  linkState(): LinkState;
  snapshot(): DeviceSnapshot;
}

export type { ErrorCode, PortInfo };
