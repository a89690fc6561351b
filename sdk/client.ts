// The browser client for the printbridge client API (/v1/client).
//
// One connection, one state at a time:
//
//   connecting ──open + hello (+ subscribe)──▶ open
//        ▲                                      │ socket closed / ping unanswered
//        │ timer                                ▼
//      backoff ◀──────── (failure funnel: lost()) ─── any state but closed
//                                                     close(), or a close code
//   closed ◀─────────────────────────────────────────  that says "do not retry"
//
// Every attempt uses a fresh WebSocket; handlers of an old socket are
// ignored once it is no longer `this.ws`. Delays between attempts are capped
// exponential with full jitter (backoff.ts), and the attempt counter resets
// only after a connection stayed open for `stableAfter` ms, so a server that
// accepts and drops at once is still retried slowly.
//
// Requests are correlated by a numeric id and settled by the reply's `re`;
// each has its own timeout. Requests made while the connection is down wait
// in a bounded queue and go out once the next connection is open. When a
// socket drops, requests in flight that are safe to repeat (reads, and
// job.submit with an idempotency key) are sent again; the others fail with
// CONNECTION_LOST, because the server may or may not have carried them out.
// A request over the server's message limit (its hello's `limits`) fails
// with TOO_BIG before it is sent; where the server did not say, the one
// that made it close the connection with 1009 fails so, and is never sent
// again (it would close every next connection).
//
// After a reconnect the client resubscribes (if subscribed) and emits the
// fresh snapshot, and every unfinished print() resubmits its job under the
// same key: the server answers with the existing job (printed once) and
// resumes sending that connection the job's updates.
//
// Browsers cannot set headers on a WebSocket, so the token travels in the
// query string (`?token=`); use TLS (wss://) off the LAN.

import {
  PRINTER_COMMAND_TIMEOUT_DEFAULT_MS, SGD_TIMEOUT_DEFAULT_MS, type ClientEvent, type ClientLimits, type ClientRequestBody, type ClientResults, type ClientView, type ControlResult,
  type DeviceView, type IssuedToken, type JobState, type JobView, type PrinterCommandResult, type PrinterView, type RemovedDevice, type RevokedToken,
  type Scope, type ServerInfo, type SgdResult, type Snapshot, type Target,
} from '../protocol/client-messages.js';
import { CLOSE, closeName } from '../protocol/errors.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { base64, fromBase64, jobContent, toBytes, utf8Length, type JobContent, type PrintContent, type TextOptions } from './encoding.js';
import { defaultHost, type Host, type WebSocketConstructor, type WebSocketLike } from './env.js';
import { PrintbridgeError } from './errors.js';
import { expandSnapshot, SNAPSHOT_REQUEST } from './snapshot.js';
import { readAdded, readScan, reportOf, type AddedPrinter, type NewPrinter, type PrinterScan } from './printer-scan.js';

export type ConnectionState = 'connecting' | 'open' | 'backoff' | 'closed';

export interface ConnectOptions {
  /** ws(s):// or http(s):// address of the server (path /v1/client is added); default: the page's own origin. */
  url?: string;
  /** The admin token (sent as ?token=). */
  token: string;
  /** Default per-call timeout in ms (default 15000); 0 waits forever. */
  timeout?: number;
  /** Ping the server after this many ms without hearing from it, and reconnect if the ping goes unanswered (default 30000; 0 = never). */
  heartbeat?: number;
  /** Reconnect delays (default base 500 ms, max 30 s, full jitter). */
  backoff?: BackoffOptions;
  /** A connection must stay open this long before the backoff starts again from its first step (default 10000). */
  stableAfter?: number;
  /** Requests allowed to wait for a connection (default 1000). */
  maxPending?: number;
  /** Subscribe to events as soon as connected (and after every reconnect). */
  subscribe?: boolean;
  /**
   * Since server 1.4: a device's or printer's events that come within 100 ms
   * of each other arrive as the last of them, for a page that shows state
   * rather than every step (a fleet reconnecting sends one event per device,
   * not four). No other event overtakes one that waits. Default false.
   */
  coalesce?: boolean;
  /** A WebSocket implementation, where there is no global one (Node 20: `ws`). */
  WebSocket?: WebSocketConstructor;
  /** Timers, randomness and the page origin, for tests. */
  host?: Partial<Host>;
}

export type { ClientLimits, ControlResult, ServerInfo, Snapshot };

export interface ClientEvents {
  /** The connection's state changed. */
  state: ConnectionState;
  /** Connected and greeted (and resubscribed, when subscribed); `reconnected` is false the first time. */
  open: ServerInfo & { reconnected: boolean };
  /** The connection was lost; `retryIn` is the delay before the next attempt (absent when the client stops). */
  close: { code: number; reason: string; retryIn?: number };
  /** The state of everything, after subscribe() and after every reconnect while subscribed. */
  snapshot: Snapshot;
  /** The client gave up for good (close code that forbids retrying, incompatible server). */
  error: PrintbridgeError;
  /** Every server event, as it arrived. */
  event: ClientEvent;
  'job.updated': JobView;
  'device.online': DeviceView;
  'device.offline': DeviceView;
  /** Since 1.6: removed (device.remove); its last view. */
  'device.removed': DeviceView;
  'device.status': DeviceView;
  'printer.status': PrinterView;
  'control.delivered': ControlResult;
  /** A client connected to the server (this one's own connection is in the snapshot, not here). */
  'client.connected': ClientView;
  'client.disconnected': ClientView;
}

export type Op = ClientRequestBody['op'];
export type RequestFields<O extends Op> = Omit<Extract<ClientRequestBody, { op: O }>, 'op'>;

/** The result of every op (protocol/client-messages.ts). */
export type Results = ClientResults;

export interface CallOptions {
  /** This call's timeout in ms (0: none); default the client's `timeout`. */
  timeout?: number;
}

export interface SubmitOptions extends TextOptions {
  /** Idempotency key: a second submit under the same key answers with the first job instead of printing again. */
  key?: string;
  /** G-code: a print that stalled while its device's link was down goes on from where it stopped, instead of failing. */
  resume?: boolean;
  /** What to call the job (a file name): 1 to 200 characters, no control characters. Since server 1.5. */
  name?: string;
}

export interface ReprintOptions {
  /** Print on this printer (`device/port`) instead of the original's. */
  printer?: string;
  /** Call the new job this instead of the original's name. */
  name?: string;
  /** Idempotency key of the new job: a second reprint under the same key answers with the first instead of printing again. */
  key?: string;
}

/** What jobData() resolves with: the job and its bytes as submitted (after text encoding). */
export interface JobBytes {
  job: JobView;
  data: Uint8Array;
}

export interface PrintOptions extends SubmitOptions {
  /** Idempotency key; default a random one, so that a resubmission after a reconnect never prints twice. */
  key?: string;
  /** Give up waiting after this many ms (the job itself goes on; cancel it if you want it gone). Default: wait. */
  timeout?: number;
  /** Called with every update of the job (state, progress). */
  onUpdate?: (job: JobView) => void;
}

const FINAL: readonly JobState[] = ['done', 'failed', 'canceled'];
/** Ops a client may send twice without a second effect. */
const REPEATABLE = new Set<Op>([
  'hello', 'ping', 'devices.list', 'printers.list', 'printer.get', 'job.get', 'jobs.list', 'job.data', 'clients.list', 'subscribe', 'unsubscribe',
]);
/** Ops that queue a job: repeatable under an idempotency key, which makes the second one answer with the first job. */
const KEYED = new Set<Op>(['job.submit', 'job.reprint']);
/** How long the server waits for a bridge to list or add printers: a CUPS server that is slow to answer still makes it. */
const SCAN_TIMEOUT_MS = 10_000;

interface Call {
  readonly id: number;
  readonly op: Op;
  readonly text: string;
  readonly repeatable: boolean;
  /** Part of a connection's opening sequence: sent at once, never queued or repeated. */
  readonly direct: boolean;
  sent: boolean;
  timer: unknown;
  resolve(result: unknown): void;
  reject(error: PrintbridgeError): void;
}

interface Watch {
  readonly printer: string;
  readonly content: JobContent;
  readonly resume: boolean | undefined;
  readonly name: string | undefined;
  readonly key: string;
  job: JobView | undefined;
  timer: unknown;
  onUpdate: ((job: JobView) => void) | undefined;
  resolve(job: JobView): void;
  reject(error: PrintbridgeError): void;
}

export class PrintbridgeClient extends Emitter<ClientEvents> {
  readonly url: string;
  private readonly host: Host;
  private readonly WS: WebSocketConstructor;
  private readonly timeout: number;
  private readonly heartbeat: number;
  private readonly stableAfter: number;
  private readonly maxPending: number;
  private readonly backoff: BackoffOptions;

  private current: ConnectionState = 'connecting';
  private ws: WebSocketLike | undefined;
  private attempt = 0;
  private everOpen = false;
  private wantSubscribed: boolean;
  /** What subscribe asks for: the compact snapshot, and coalescing when the options ask for it. */
  private readonly subscribeRequest: Record<string, boolean>;
  private nextId = 1;
  private readonly calls = new Map<number, Call>();
  private queue: Call[] = [];
  private readonly watches = new Set<Watch>();
  private readonly watchById = new Map<string, Watch>();
  private retryTimer: unknown;
  private stableTimer: unknown;
  private idleTimer: unknown;
  /** Something arrived since the heartbeat timer was set. */
  private heard = false;
  private closeWaiters: Array<() => void> = [];
  private readonly removeOnline: () => void;
  private info: ServerInfo | undefined;

  constructor(opts: ConnectOptions) {
    super();
    if (typeof opts?.token !== 'string' || opts.token === '') throw new TypeError('connect() needs a token');
    this.host = { ...defaultHost(), ...opts.host };
    const WS = opts.WebSocket ?? this.host.WebSocket;
    if (!WS) throw new TypeError('no WebSocket here: pass connect({ WebSocket }) (in Node 20, the "ws" package)');
    this.WS = WS;
    this.url = clientUrl(opts.url, opts.token, this.host.pageOrigin);
    this.timeout = opts.timeout ?? 15_000;
    this.heartbeat = opts.heartbeat ?? 30_000;
    this.stableAfter = opts.stableAfter ?? 10_000;
    this.maxPending = opts.maxPending ?? 1000;
    this.backoff = opts.backoff ?? {};
    this.wantSubscribed = opts.subscribe ?? false;
    this.subscribeRequest = opts.coalesce === true ? { ...SNAPSHOT_REQUEST, coalesce: true } : SNAPSHOT_REQUEST;
    // The browser knows when the network comes back: skip the rest of the wait.
    this.removeOnline = this.host.onOnline(() => {
      if (this.current === 'backoff') this.retryNow();
    });
    this.openSocket();
  }

  /** connecting, open, backoff (waiting to reconnect) or closed. */
  get state(): ConnectionState {
    return this.current;
  }

  /** The server's hello answer on the current (or last) connection. */
  get server(): ServerInfo | undefined {
    return this.info;
  }

  /**
   * The server's bounds (server 1.5, from its hello; undefined before the first connection or from an older
   * server): `maxJobBytes` per job, `maxFrame` bytes per request, `maxUnsent` bytes per answer (jobData()).
   */
  get limits(): ClientLimits | undefined {
    return this.info?.limits;
  }

  get subscribed(): boolean {
    return this.wantSubscribed;
  }

  /** Resolves once the connection is open (at once if it is); rejects if the client is closed first. */
  ready(): Promise<void> {
    if (this.current === 'open') return Promise.resolve();
    if (this.current === 'closed') return Promise.reject(new PrintbridgeError('CLOSED', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const offOpen = this.on('open', () => {
        offState();
        offOpen();
        resolve();
      });
      const offState = this.on('state', (s) => {
        if (s !== 'closed') return;
        offState();
        offOpen();
        reject(new PrintbridgeError('CLOSED', 'the client is closed'));
      });
    });
  }

  /** Sends one request and resolves with its result, or rejects with a PrintbridgeError carrying the server's code. */
  request<O extends Op>(op: O, fields?: RequestFields<O>, opts: CallOptions = {}): Promise<Results[O]> {
    const repeatable = REPEATABLE.has(op) || (KEYED.has(op) && typeof (fields as { key?: unknown } | undefined)?.key === 'string');
    return this.call(op, fields ?? {}, opts.timeout ?? this.timeout, repeatable, false) as Promise<Results[O]>;
  }

  // --- the API, by name -----------------------------------------------------

  ping(): Promise<'pong'> {
    return this.request('ping');
  }

  devices(tag?: string): Promise<DeviceView[]> {
    return this.request('devices.list', { tag });
  }

  printers(): Promise<PrinterView[]> {
    return this.request('printers.list');
  }

  /** One printer's view (`device/port`); rejects with UNKNOWN_PRINTER. */
  printer(id: string): Promise<PrinterView> {
    return this.request('printer.get', { printer: id });
  }

  /** The clients connected to the server now, this one included. */
  clients(): Promise<ClientView[]> {
    return this.request('clients.list');
  }

  /**
   * Newest first. `q` (server 1.5): jobs whose name holds it, in any case, or whose id starts with it.
   * Rejects with UNKNOWN_PRINTER for a printer the server neither knows nor has jobs of.
   */
  jobs(filter: { printer?: string; state?: JobState; q?: string; limit?: number } = {}): Promise<JobView[]> {
    return this.request('jobs.list', filter);
  }

  job(id: string): Promise<JobView> {
    return this.request('job.get', { job: id });
  }

  /**
   * The job and its bytes as it was submitted (text after encoding), while the server still holds them (server
   * 1.5): for whoever may see the job. Rejects with JOB_DATA_GONE once retention dropped them, UNKNOWN_JOB, FORBIDDEN,
   * and REPLY_TOO_LARGE for a job whose base64 (4 bytes per 3) is over `limits.maxUnsent` (4 MiB unless the server
   * says otherwise, so about 3 MiB of bytes): those come with REST, `GET /api/v1/jobs/{id}/data` and
   * `Accept: application/octet-stream`, in any size.
   */
  async jobData(jobId: string): Promise<JobBytes> {
    const { job, data } = await this.request('job.data', { job: jobId });
    return { job, data: fromBase64(data) };
  }

  /**
   * Queues a new job with the bytes of `jobId` (server 1.5), on `printer` or the original's, named `name` or as the
   * original, and resolves with it at once (queued) as submit() does; the same limits and quotas apply. Rejects with
   * JOB_DATA_GONE once retention dropped the bytes, UNKNOWN_JOB, UNKNOWN_PRINTER, QUEUE_FULL, FORBIDDEN…
   */
  reprint(jobId: string, opts: ReprintOptions = {}): Promise<JobView> {
    return this.request('job.reprint', { job: jobId, printer: opts.printer, name: opts.name, key: opts.key });
  }

  /** Queues a job and resolves with it at once (queued); see print() to wait for the printer. */
  submit(printer: string, content: PrintContent, opts: SubmitOptions = {}): Promise<JobView> {
    let fields: JobContent;
    try {
      fields = jobContent(content, opts);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.request('job.submit', { printer, ...fields, key: opts.key, resume: opts.resume, name: opts.name });
  }

  cancel(job: string): Promise<JobView> {
    return this.request('job.cancel', { job });
  }

  pauseJob(job: string): Promise<JobView> {
    return this.request('job.pause', { job });
  }

  resumeJob(job: string): Promise<JobView> {
    return this.request('job.resume', { job });
  }

  pausePrinter(printer: string): Promise<Results['printer.pause']> {
    return this.request('printer.pause', { printer });
  }

  resumePrinter(printer: string): Promise<Results['printer.resume']> {
    return this.request('printer.resume', { printer });
  }

  /** Cancels every unfinished job of the printer. */
  cancelPrinter(printer: string): Promise<Results['printer.cancel']> {
    return this.request('printer.cancel', { printer });
  }

  /**
   * Relays a control message to one device (a device id or {device}), a tag ({tag}) or every device ({all: true})
   * and resolves with one delivery report per device. `timeout` is how long the server waits for answers.
   */
  control(to: Target | string, name: string, args: Record<string, unknown> = {}, opts: { timeout?: number } = {}): Promise<ControlResult> {
    const target = typeof to === 'string' ? { device: to } : to;
    const serverWait = opts.timeout ?? 5_000;
    // The reply comes only after the server stopped waiting for devices.
    const callTimeout = this.timeout === 0 ? 0 : Math.max(this.timeout, serverWait + 5_000);
    return this.request('control.send', { to: target, name, args, timeout: opts.timeout }, { timeout: callTimeout });
  }

  /**
   * Sends one command to a printer between jobs and resolves with its answer: for G-code (M105, M114…) the
   * lines the printer answered up to its `ok` (`lines`); for the byte dialects the number of bytes written
   * (`written`). A string is sent as single-byte characters (latin1), bytes as they are; at most 256.
   * `emergency` (G-code M112, M108, M410) jumps the queue, even during a print. `timeout` is how long the
   * server waits for the answer (default 30 s). Rejects with PORT_BUSY while a job prints, DEVICE_OFFLINE,
   * TIMEOUT, UNKNOWN_PRINTER…
   */
  command(printer: string, data: string | Uint8Array | ArrayBuffer, opts: { emergency?: boolean; timeout?: number } = {}): Promise<PrinterCommandResult> {
    let payload: { data: string } | { bytes: string };
    try {
      payload = typeof data === 'string' ? { data } : { bytes: base64(toBytes(data)) };
    } catch (e) {
      return Promise.reject(e);
    }
    const serverWait = opts.timeout ?? PRINTER_COMMAND_TIMEOUT_DEFAULT_MS;
    // The reply comes only after the printer answered or the server stopped waiting.
    const callTimeout = this.timeout === 0 ? 0 : Math.max(this.timeout, serverWait + 5_000);
    return this.request(
      'printer.command', { printer, ...payload, emergency: opts.emergency === true ? true : undefined, timeout: opts.timeout }, { timeout: callTimeout },
    );
  }

  /**
   * Reads (`{ get: [names] }`) or sets (`{ set: { name: value } }`) settings (SGD) of a Zebra printer that
   * dials in over Weblink, and resolves with `{ printer, values }`: each value as the printer answered it (null
   * for a name it does not know). A set answers with the value now in effect, the old one when the printer
   * refused the new. `timeout` is how long the server waits for the printer (default 10 s). Rejects with
   * UNKNOWN_PRINTER, UNSUPPORTED (not a Weblink printer), DEVICE_OFFLINE, TIMEOUT, FORBIDDEN (a set needs
   * `devices:config`)…
   */
  sgd(printer: string, ask: { get: string[] } | { set: Record<string, string> }, opts: { timeout?: number } = {}): Promise<SgdResult> {
    const serverWait = opts.timeout ?? SGD_TIMEOUT_DEFAULT_MS;
    const callTimeout = this.timeout === 0 ? 0 : Math.max(this.timeout, serverWait + 5_000);
    const fields = 'get' in ask ? { printer, get: ask.get, timeout: opts.timeout } : { printer, set: ask.set, timeout: opts.timeout };
    return this.request('printer.sgd', fields, { timeout: callTimeout });
  }

  /**
   * Issues a client token (scope `tokens`) that expires after `ttl` seconds (default 300, at most 86400): for a
   * page or a back-end that should not hold the admin token. It may do what `scopes` allow (default `print`
   * only; never more than this connection's own). The token itself is shown only in this answer.
   */
  issueToken(ttl?: number, label?: string, scopes?: Scope[]): Promise<IssuedToken> {
    return this.request('token.issue', { ttl, label, scopes });
  }

  /** Revokes a client token, by the token or its id (scope `tokens`); its connections on every endpoint are closed (4006 REVOKED). */
  revokeToken(tokenOrId: string): Promise<RevokedToken> {
    return this.request('token.revoke', { token: tokenOrId });
  }

  /**
   * Removes a registered device (scope `devices`): its token stops working, its connection is closed
   * (4006 REVOKED, which the device takes as final) and its unfinished jobs fail (DEVICE_REMOVED).
   */
  removeDevice(device: string): Promise<RemovedDevice> {
    return this.request('device.remove', { device });
  }

  /** Blinks the device's identify LED pattern for `seconds` (default 10). */
  identify(device: string, seconds?: number): Promise<ControlResult> {
    return this.control({ device }, 'identify', seconds === undefined ? {} : { seconds });
  }

  /**
   * Asks a Node bridge which printers its computer can reach (control `printers.scan`, scope `control`; a device
   * whose `caps` include it, since 1.6): serial ports, USB printers, CUPS queues, and its own printers marked with
   * their `port`. Rejects with the device's code (UNSUPPORTED…), DEVICE_OFFLINE or TIMEOUT.
   */
  async scanPrinters(device: string, opts: { timeout?: number } = {}): Promise<PrinterScan> {
    const r = await this.control({ device }, 'printers.scan', {}, { timeout: opts.timeout ?? SCAN_TIMEOUT_MS });
    return readScan(reportOf(r, device).data, r.ref);
  }

  /**
   * Adds a printer to a Node bridge's configuration (control `printers.add`, scope `devices:config`) and resolves
   * with its port: the printer is `${device}/${port}`, listed once the bridge has reconnected. `saved` is false
   * when the bridge has no settings file (the printer lasts until the bridge stops). Rejects with the device's
   * code: BAD_FIELD (an address or dialect it does not take, or one it has already), UNSUPPORTED…
   */
  async addPrinter(device: string, printer: NewPrinter, opts: { timeout?: number } = {}): Promise<AddedPrinter> {
    const args = { uri: printer.uri, dialect: printer.dialect, ...(printer.name ? { name: printer.name } : {}) };
    const r = await this.control({ device }, 'printers.add', args, { timeout: opts.timeout ?? SCAN_TIMEOUT_MS });
    return readAdded(reportOf(r, device).data, r.ref);
  }

  /** Starts receiving events; resolves with (and emits) the snapshot. Repeated after every reconnect. */
  async subscribe(): Promise<Snapshot> {
    const wasWanted = this.wantSubscribed;
    this.wantSubscribed = true;
    if (this.current !== 'open') {
      // The opening sequence of the next connection subscribes; its snapshot is the answer.
      return new Promise((resolve, reject) => {
        const offSnap = this.on('snapshot', (s) => {
          offSnap();
          offState();
          resolve(s);
        });
        const offState = this.on('state', (s) => {
          if (s !== 'closed') return;
          offSnap();
          offState();
          if (!wasWanted) this.wantSubscribed = false;
          reject(new PrintbridgeError('CLOSED', 'the client is closed'));
        });
      });
    }
    const snapshot = expandSnapshot(await this.request('subscribe', this.subscribeRequest));
    this.emit('snapshot', snapshot);
    return snapshot;
  }

  async unsubscribe(): Promise<void> {
    this.wantSubscribed = false;
    await this.request('unsubscribe');
  }

  /**
   * Prints and resolves with the job once it is done (for a printer whose dialect confirms, once printed;
   * otherwise once every byte reached the printer). Rejects with a PrintbridgeError whose `code` says why:
   * the job's error code when it failed (PRINTER_ERROR, JOB_INTERRUPTED, JOB_EXPIRED…), JOB_CANCELED when it
   * was canceled, a request error (UNKNOWN_PRINTER, JOB_TOO_LARGE…) when it was refused, TIMEOUT after
   * `timeout`. A paused job (paper out) keeps the promise pending until it goes on.
   *
   * `content` is bytes, a string (sent as UTF-8), or `{text}` / `{lines}` that the server encodes with
   * `encoding` (utf8, latin1, ascii, cp437) and `eol` (lf, crlf, cr, none); a string with either option
   * goes as text.
   */
  print(printer: string, content: PrintContent, opts: PrintOptions = {}): Promise<JobView> {
    let fields: JobContent;
    try {
      fields = jobContent(content, opts);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<JobView>((resolve, reject) => {
      const watch: Watch = {
        printer, content: fields, resume: opts.resume, name: opts.name, key: opts.key ?? randomKey(this.host.random), job: undefined, timer: undefined,
        onUpdate: opts.onUpdate, resolve, reject,
      };
      this.watches.add(watch);
      if (opts.timeout !== undefined && opts.timeout > 0) {
        watch.timer = this.host.setTimeout(() => {
          this.endWatch(watch, new PrintbridgeError('TIMEOUT', `job ${watch.job?.id ?? '(not yet accepted)'} did not finish within ${opts.timeout} ms`, watch.job));
        }, opts.timeout);
      }
      this.submitWatch(watch);
    });
  }

  /** Closes the connection for good: pending calls and prints are rejected with CLOSED. Resolves when the socket is closed. */
  close(): Promise<void> {
    if (this.current === 'closed' && !this.ws) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    const ws = this.ws;
    this.stop(new PrintbridgeError('CLOSED', 'the client was closed'));
    if (ws) {
      // Wait for the closing handshake, so that the server has let go of us too.
      ws.onclose = () => this.flushCloseWaiters();
      try {
        ws.close(1000, 'client closed');
      } catch {
        this.flushCloseWaiters();
      }
    } else this.flushCloseWaiters();
    return done;
  }

  // --- connection ------------------------------------------------------------

  private openSocket(): void {
    this.setState('connecting');
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.url);
    } catch (e) {
      // A malformed URL is our caller's mistake and will not get better.
      this.stop(new PrintbridgeError('CLOSED', `cannot open ${redact(this.url)}: ${e instanceof Error ? e.message : String(e)}`), true);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws === ws) void this.handshake(ws);
    };
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.receive(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.lost(ev.code, ev.reason);
    };
    ws.onerror = () => {}; // a close event follows and carries the outcome
  }

  private async handshake(ws: WebSocketLike): Promise<void> {
    let snapshot: Snapshot | undefined;
    try {
      this.info = (await this.call('hello', { v: PROTOCOL_VERSION }, this.timeout, true, true)) as ServerInfo;
      if (this.wantSubscribed) snapshot = expandSnapshot((await this.call('subscribe', this.subscribeRequest, this.timeout, true, true)) as Snapshot);
    } catch (e) {
      if (this.ws !== ws) return; // the socket went away meanwhile; lost() has dealt with it
      const err = e instanceof PrintbridgeError ? e : new PrintbridgeError('INTERNAL', String(e));
      if (err.code === 'VERSION_UNSUPPORTED') return this.stop(err, true);
      return this.drop(ws, `opening sequence failed: ${err.code}`);
    }
    if (this.ws !== ws) return;
    const reconnected = this.everOpen;
    this.everOpen = true;
    this.setState('open');
    this.stableTimer = this.host.setTimeout(() => (this.attempt = 0), this.stableAfter);
    this.armHeartbeat(ws);
    if (snapshot) this.emit('snapshot', snapshot);
    this.emit('open', { ...this.info, reconnected });
    const queued = this.queue;
    this.queue = [];
    for (const call of queued) this.transmit(call);
    // Prints that were accepted before the drop: ask again under the same key.
    for (const watch of this.watches) if (watch.job !== undefined) this.submitWatch(watch);
  }

  /** The failure funnel: every lost connection ends up here exactly once. */
  private lost(code: number, reason: string): void {
    this.ws = undefined;
    this.clearConnectionTimers();
    if (code === CLOSE.TOO_BIG.code) this.refuseLargest(reason);
    for (const call of [...this.calls.values()]) {
      if (!call.sent) continue;
      if (call.direct) this.settle(call, new PrintbridgeError('CONNECTION_LOST', `connection lost during ${call.op}`));
      else if (call.repeatable) call.sent = false;
      else this.settle(call, new PrintbridgeError('CONNECTION_LOST', `connection lost before the answer to ${call.op}; it may or may not have been carried out`));
    }
    // Unanswered repeatable calls go out again first, in their original order.
    const again = [...this.calls.values()].filter((c) => !c.sent && !this.queue.includes(c));
    this.queue = [...again, ...this.queue].sort((a, b) => a.id - b.id);
    if (this.current === 'closed') return;
    const rule = Object.values(CLOSE).find((c) => c.code === code);
    if (rule && !rule.retry) {
      this.emit('close', { code, reason });
      return this.stop(new PrintbridgeError(closeName(code) ?? 'CLOSED', `server closed the connection for good (${code}${reason ? ` ${reason}` : ''})`), true);
    }
    const delay = backoffDelay(this.attempt, this.host.random, this.backoff);
    this.attempt++;
    this.setState('backoff');
    this.emit('close', { code, reason, retryIn: delay });
    this.retryTimer = this.host.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.current === 'backoff') this.openSocket();
    }, delay);
  }

  /**
   * The server closed with 1009 for a message over its limit, and a server
   * that does not say its limits leaves only the size to tell which: the
   * largest one sent and unanswered. It fails with TOO_BIG; the others go
   * through the funnel as after any close.
   */
  private refuseLargest(reason: string): void {
    let largest: { call: Call; size: number } | undefined;
    for (const call of this.calls.values()) {
      if (!call.sent) continue;
      const size = utf8Length(call.text);
      if (largest === undefined || size > largest.size) largest = { call, size };
    }
    if (largest === undefined) return;
    const { call, size } = largest;
    this.settle(call, new PrintbridgeError('TOO_BIG', `the server closed the connection (1009${reason ? ` ${reason}` : ''}) for ${call.op}, a ${size}-byte message over its limit`));
  }

  /** Abandons a socket that still looks open (unanswered ping, failed opening) and goes through the funnel. */
  private drop(ws: WebSocketLike, reason: string): void {
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(1000, reason.slice(0, 100));
    } catch {
      // Closing a broken socket may throw; it is abandoned either way.
    }
    if (this.ws === ws) this.lost(1006, reason);
  }

  private retryNow(): void {
    if (this.retryTimer !== undefined) this.host.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.openSocket();
  }

  /** Ends the client: no more reconnects; everything pending fails with `error`. */
  private stop(error: PrintbridgeError, report = false): void {
    if (this.current === 'closed') return;
    this.setState('closed');
    const ws = this.ws;
    this.ws = undefined;
    if (ws && report) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        // Already broken.
      }
    }
    this.clearConnectionTimers();
    if (this.retryTimer !== undefined) this.host.clearTimeout(this.retryTimer);
    this.removeOnline();
    this.queue = [];
    for (const call of [...this.calls.values()]) this.settle(call, error);
    for (const watch of [...this.watches]) this.endWatch(watch, new PrintbridgeError(error.code, error.message, watch.job));
    if (report) this.emit('error', error);
    if (!ws) this.flushCloseWaiters();
  }

  private flushCloseWaiters(): void {
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w();
  }

  private clearConnectionTimers(): void {
    for (const t of [this.stableTimer, this.idleTimer]) if (t !== undefined) this.host.clearTimeout(t);
    this.stableTimer = this.idleTimer = undefined;
  }

  private setState(state: ConnectionState): void {
    if (state === this.current) return;
    this.current = state;
    this.emit('state', state);
  }

  /**
   * After `heartbeat` ms of silence (at most twice that), ping; no answer
   * within the call timeout means the socket is dead. A message only notes
   * that it was heard: setting a timer per message cost more than handling
   * the message in a storm of events.
   */
  private armHeartbeat(ws: WebSocketLike): void {
    if (this.heartbeat <= 0 || this.idleTimer !== undefined) return;
    this.heard = false;
    this.idleTimer = this.host.setTimeout(() => {
      this.idleTimer = undefined;
      if (this.ws !== ws) return;
      if (this.heard) return this.armHeartbeat(ws);
      this.call('ping', {}, this.timeout || 15_000, true, true).catch((e: PrintbridgeError) => {
        if (e.code === 'TIMEOUT' && this.ws === ws) this.drop(ws, 'no answer to ping');
      });
    }, this.heartbeat);
  }

  // --- requests --------------------------------------------------------------

  private call(op: Op, fields: object, timeout: number, repeatable: boolean, direct: boolean): Promise<unknown> {
    if (this.current === 'closed') return Promise.reject(new PrintbridgeError('CLOSED', 'the client is closed'));
    if (!direct && this.current !== 'open' && this.queue.length >= this.maxPending) {
      return Promise.reject(new PrintbridgeError('TOO_MANY_PENDING', `more than ${this.maxPending} requests are waiting for a connection`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const call: Call = {
        id, op, text: JSON.stringify({ ...fields, op, id }), repeatable, direct, sent: false, timer: undefined, resolve, reject,
      };
      this.calls.set(id, call);
      if (timeout > 0) {
        call.timer = this.host.setTimeout(() => this.settle(call, new PrintbridgeError('TIMEOUT', `no answer to ${op} within ${timeout} ms`)), timeout);
      }
      if (direct || this.current === 'open') this.transmit(call);
      else this.queue.push(call);
    });
  }

  private transmit(call: Call): void {
    if (!this.calls.has(call.id) || !this.ws) return;
    const tooBig = this.overLimit(call);
    if (tooBig !== undefined) return this.settle(call, tooBig);
    try {
      this.ws.send(call.text);
      call.sent = true;
    } catch {
      // The socket is closing; its close event requeues or fails the call.
      call.sent = true;
    }
  }

  /** TOO_BIG for a request over the frame limit the server said: it would close the connection (1009) instead of reading it. */
  private overLimit(call: Call): PrintbridgeError | undefined {
    const max = this.info?.limits?.maxFrame;
    // At most 3 UTF-8 bytes per UTF-16 unit: most requests need no counting.
    if (max === undefined || call.text.length * 3 <= max) return undefined;
    const size = utf8Length(call.text);
    if (size <= max) return undefined;
    const jobs = KEYED.has(call.op) ? `; it takes jobs of at most ${this.info?.limits?.maxJobBytes ?? '?'} bytes` : '';
    return new PrintbridgeError('TOO_BIG', `${call.op} would be a ${size}-byte message, over the server's limit of ${max}${jobs}`);
  }

  private settle(call: Call, outcome: PrintbridgeError | { result: unknown }): void {
    if (!this.calls.delete(call.id)) return;
    if (call.timer !== undefined) this.host.clearTimeout(call.timer);
    const i = this.queue.indexOf(call);
    if (i >= 0) this.queue.splice(i, 1);
    if (outcome instanceof PrintbridgeError) call.reject(outcome);
    else call.resolve(outcome.result);
  }

  private receive(data: unknown): void {
    this.heard = true;
    if (this.ws) this.armHeartbeat(this.ws);
    if (typeof data !== 'string') return;
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as Record<string, unknown>;
    if ('re' in m) {
      const call = typeof m['re'] === 'number' ? this.calls.get(m['re']) : undefined;
      if (!call) return;
      if (m['ok'] === true) this.settle(call, { result: m['result'] });
      else {
        const err = (m['error'] ?? {}) as { code?: unknown; message?: unknown };
        this.settle(call, new PrintbridgeError(String(err.code ?? 'INTERNAL'), String(err.message ?? `${call.op} failed`)));
      }
      return;
    }
    if (typeof m['event'] === 'string') this.dispatch(m as unknown as ClientEvent);
  }

  private dispatch(e: ClientEvent): void {
    if (e.event === 'job.updated') {
      const watch = this.watchById.get(e.job.id);
      if (watch) this.track(watch, e.job);
    }
    this.emit('event', e);
    switch (e.event) {
      case 'job.updated':
        return this.emit('job.updated', e.job);
      case 'device.online':
      case 'device.offline':
      case 'device.status':
      case 'device.removed':
        return this.emit(e.event, e.device);
      case 'printer.status':
        return this.emit('printer.status', e.printer);
      case 'control.delivered':
        return this.emit('control.delivered', { ref: e.ref, reports: e.reports });
      case 'client.connected':
      case 'client.disconnected':
        return this.emit(e.event, e.client);
    }
  }

  // --- print() -------------------------------------------------------------------

  private submitWatch(watch: Watch): void {
    // No call timeout: a print waits through outages (its own `timeout` bounds it).
    this.call('job.submit', { printer: watch.printer, ...watch.content, key: watch.key, resume: watch.resume, name: watch.name }, 0, true, false).then(
      (job) => this.track(watch, job as JobView),
      (e: PrintbridgeError) => this.endWatch(watch, e),
    );
  }

  private track(watch: Watch, job: JobView): void {
    if (!this.watches.has(watch)) return;
    // Replies and events may cross; never go back to an older view of the job.
    if (watch.job !== undefined && job.updated < watch.job.updated) return;
    watch.job = job;
    this.watchById.set(job.id, watch);
    try {
      watch.onUpdate?.(job);
    } catch (e) {
      Promise.reject(e);
    }
    if (job.state === 'done') this.endWatch(watch, job);
    else if (job.state === 'canceled') this.endWatch(watch, new PrintbridgeError(job.error?.code ?? 'JOB_CANCELED', job.error?.message ?? `job ${job.id} was canceled`, job));
    else if (job.state === 'failed') this.endWatch(watch, new PrintbridgeError(job.error?.code ?? 'PRINTER_ERROR', job.error?.message ?? `job ${job.id} failed`, job));
  }

  private endWatch(watch: Watch, outcome: JobView | PrintbridgeError): void {
    if (!this.watches.delete(watch)) return;
    if (watch.timer !== undefined) this.host.clearTimeout(watch.timer);
    if (watch.job) this.watchById.delete(watch.job.id);
    if (outcome instanceof PrintbridgeError) watch.reject(outcome);
    else watch.resolve(outcome);
  }
}

export function isFinal(state: JobState): boolean {
  return FINAL.includes(state);
}

/** The /v1/client URL with the token in the query. */
export function clientUrl(url: string | undefined, token: string, pageOrigin: string | undefined): string {
  let base = url ?? pageOrigin;
  if (base === undefined) throw new TypeError('connect() needs a url outside a web page');
  if (base.startsWith('/')) {
    if (pageOrigin === undefined) throw new TypeError(`a relative url (${base}) needs a web page`);
    base = pageOrigin + base;
  }
  const m = /^(wss?|https?):\/\/([^/?#]+)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(base);
  if (!m) throw new TypeError(`url must be ws(s):// or http(s)://, not ${base}`);
  const scheme = m[1]!.toLowerCase();
  const ws = scheme === 'https' || scheme === 'wss' ? 'wss' : 'ws';
  let path = (m[3] ?? '').replace(/\/+$/, '');
  if (!/\/v1\/client$/.test(path)) path = `${path}/v1/client`;
  const query = (m[4] ?? '').replace(/^\?/, '').split('&').filter((p) => p !== '' && !p.startsWith('token='));
  query.push(`token=${encodeURIComponent(token)}`);
  return `${ws}://${m[2]!}${path}?${query.join('&')}`;
}

function redact(url: string): string {
  return url.replace(/token=[^&]*/, 'token=…');
}

function randomKey(random: () => number): string {
  let s = '';
  while (s.length < 20) s += Math.floor(random() * 36 ** 5).toString(36).padStart(5, '0');
  return `sdk-${s.slice(0, 20)}`;
}

/** Opens a client; it connects (and reconnects) by itself. */
export function connect(opts: ConnectOptions): PrintbridgeClient {
  return new PrintbridgeClient(opts);
}
