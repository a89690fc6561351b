// The PrinterWebSocket.js-style `call` API, as a session over the core. A
// request is `{call, uid, params?}` (printerStatus also takes a top-level
// `PrinterName`); each reply echoes `uid` and carries `status_code`:
// 0 idle/ok, 1 printing (in progress), 2 out of paper, 3 error.
//
//   printers.find   → {uid, result: [names], status_code: 0}
//   server.version  → {uid, result: version, info: "serverVersion", status_code: 0}
//   print           → {uid, status: "Printing job started on NAME", status_code: 1, job}
//                     then, when the job ends:
//                     {uid, status: "success", message: "Printed on NAME", status_code: 0, job}
//                     or {uid, status: "error", message, status_code: 3, job, code}
//   printerStatus   → {uid, status: "Printer status retrieved", PrinterName, status_code, message, state}
//
// and, to every connection, `{status: "Printer status changed", status_code,
// PrinterName, message}` whenever a printer's code changes. No reply or
// broadcast carries `result` except the two calls above: that API's own
// client takes any message with `result` for the printer list.
//
// A print goes through the client API's dispatcher (job.submit) like any
// other client's, with the connection's credentials: a client token given
// as `?token=` (its scopes apply, and revoking it closes the connection with
// 4006 REVOKED), else the listener's access rules (compat-pws.ts), which
// grant printing only (`print`). Every connection is in clients.list
// (transport `compat`).
//
// Differences from the original server (docs/compat.md): malformed JSON, an
// unknown call and a binary frame are answered with status_code 3 instead of
// being ignored; the status is the printer's real one; the final print reply
// comes when the job ended, not when the spooler took it.

import { randomUUID } from 'node:crypto';
import { TEXT_ENCODINGS, type ClientEvent, type ClientView, type JobView, type PrinterView, type TextEncodingName } from '../../protocol/client-messages.js';
import { CLOSE, type ErrorCode } from '../../protocol/errors.js';
import { isObj, MAX_JSON_DEPTH, nestsDeeper, tooDeepError } from '../../protocol/fields.js';
import type { Hub } from '../core/hub.js';
import { isFinal } from '../core/jobs.js';
import type { Caller } from '../core/client-api.js';
import { connectionView, type ClientConnection } from '../core/client-connection.js';
import type { Peer } from '../core/peer.js';
import { hasScope, type ClientAuth } from '../core/tokens.js';
import { PrintbridgeError } from '../errors.js';
import { compatName, composeLines, dialectLineEnding, EventTap, findPrinter, runningJob, type LineEnding } from './printers.js';

export const PWS_STATUS = { IDLE: 0, PRINTING: 1, OUT_OF_PAPER: 2, ERROR: 3 } as const;
export type PwsStatusCode = (typeof PWS_STATUS)[keyof typeof PWS_STATUS];

const UID_MAX = 256;
const NAME_MAX = 200;

type Uid = string | number | null;

interface Tracked {
  session: PwsSession;
  uid: Uid;
  name: string;
}

/** A printer's status as that API's codes, with a human message; trouble outranks a running job (`running`). */
export function pwsStatus(p: PrinterView, running: boolean): { code: PwsStatusCode; message: string } {
  if (!p.online) return { code: PWS_STATUS.ERROR, message: 'the printer\'s bridge is offline' };
  switch (p.status) {
    case 'offline':
      return { code: PWS_STATUS.ERROR, message: p.detail ?? 'the printer is offline' };
    case 'paper-out':
      return { code: PWS_STATUS.OUT_OF_PAPER, message: 'the printer is out of paper' };
    case 'cover-open':
      return { code: PWS_STATUS.ERROR, message: 'the printer cover is open' };
    case 'error':
      return { code: PWS_STATUS.ERROR, message: p.detail ?? 'the printer reports an error' };
    default:
  }
  if (p.paused) return { code: PWS_STATUS.ERROR, message: 'the printer queue is paused' };
  if (running || p.status === 'busy') return { code: PWS_STATUS.PRINTING, message: 'the printer is printing' };
  if (p.status === 'paper-low') return { code: PWS_STATUS.IDLE, message: 'ready, paper low' };
  if (p.status === 'unknown') return { code: PWS_STATUS.IDLE, message: 'ready (the printer does not report its status)' };
  return { code: PWS_STATUS.IDLE, message: 'ready' };
}

/** Every connection of one listener, the prints they wait for, and the status broadcast. */
export class PwsHub {
  private readonly sessions = new Set<PwsSession>();
  private readonly tracked = new Map<string, Tracked>();
  /** The last broadcast per printer id, so that only changes go out. */
  private readonly last = new Map<string, string>();
  private readonly tap: EventTap;

  constructor(readonly hub: Hub) {
    this.tap = new EventTap(
      (kind) => kind === 'printer.status' || kind === 'job.updated',
      (e) => this.event(e),
    );
    hub.events.add(this.tap);
    // Broadcasts say what changed since now.
    for (const p of hub.views.printers()) this.last.set(p.id, this.statusKey(p));
  }

  connect(peer: Peer, address: string | undefined, auth: ClientAuth, userAgent?: string): PwsSession {
    const session = new PwsSession(this, peer, address, auth, userAgent);
    this.sessions.add(session);
    this.hub.heartbeat.add(peer);
    this.hub.clientOpened(session);
    return session;
  }

  get size(): number {
    return this.sessions.size;
  }

  stop(): void {
    this.hub.events.remove(this.tap);
  }

  /** @internal */
  gone(session: PwsSession): void {
    this.sessions.delete(session);
    this.hub.heartbeat.remove(session.peer);
    this.hub.clientClosed(session);
    for (const [job, t] of this.tracked) if (t.session === session) this.tracked.delete(job);
  }

  /** @internal A print was queued: its final state goes back to `uid` on `session`. */
  track(job: JobView, t: Tracked): void {
    if (isFinal(job.state)) t.session.finalReply(t.uid, t.name, job);
    else this.tracked.set(job.id, t);
  }

  private event(e: ClientEvent): void {
    if (e.event === 'job.updated') {
      const t = this.tracked.get(e.job.id);
      if (t !== undefined && isFinal(e.job.state)) {
        this.tracked.delete(e.job.id);
        t.session.finalReply(t.uid, t.name, e.job);
      }
      // A job starting or ending changes whether its printer is printing.
      const view = this.hub.views.printerById(e.job.printer);
      if (view !== undefined) this.broadcastIfChanged(view);
      return;
    }
    if (e.event === 'printer.status') this.broadcastIfChanged(e.printer);
  }

  /** @internal */
  status(p: PrinterView): { code: PwsStatusCode; message: string } {
    return pwsStatus(p, runningJob(this.hub, p) !== undefined);
  }

  private statusKey(p: PrinterView): string {
    const { code, message } = this.status(p);
    return `${code} ${message}`;
  }

  private broadcastIfChanged(p: PrinterView): void {
    const key = this.statusKey(p);
    if (this.last.get(p.id) === key) return;
    this.last.set(p.id, key);
    const { code, message } = this.status(p);
    const text = JSON.stringify({ status: 'Printer status changed', status_code: code, PrinterName: compatName(p), message, state: p.status });
    for (const s of [...this.sessions]) if (hasScope(s.auth, 'print')) s.send(text);
  }
}

export class PwsSession implements ClientConnection {
  readonly id = randomUUID();
  private closed = false;
  private readonly caller: Caller;
  private readonly since: number;

  constructor(
    private readonly owner: PwsHub,
    readonly peer: Peer,
    readonly address: string | undefined,
    readonly auth: ClientAuth,
    private readonly userAgent?: string,
  ) {
    this.caller = { auth };
    this.since = owner.hub.clock.now();
  }

  view(): ClientView {
    return connectionView({
      id: this.id, auth: this.auth, address: this.address, userAgent: this.userAgent, since: this.since, subscribed: hasScope(this.auth, 'print'), transport: 'compat',
    });
  }

  close(code: number, reason: string): void {
    this.gone();
    this.peer.close(code, reason);
  }

  /** One text frame from the page. */
  async message(text: string): Promise<void> {
    if (this.closed) return;
    this.life();
    if (nestsDeeper(text, MAX_JSON_DEPTH)) return this.error(null, 'TOO_DEEP', tooDeepError().message);
    let req: unknown;
    try {
      req = JSON.parse(text);
    } catch {
      return this.error(null, 'BAD_JSON', 'message is not valid JSON');
    }
    if (!isObj(req) || typeof req['call'] !== 'string') return this.error(uidOf(req), 'BAD_MESSAGE', 'message must be a JSON object with a "call"');
    const uid = uidOf(req);
    try {
      await this.call(req['call'], uid, req);
    } catch (e) {
      if (!(e instanceof PrintbridgeError)) throw e;
      this.error(uid, e.code, e.message);
    }
  }

  binary(): void {
    if (this.closed) return;
    this.life();
    this.error(null, 'BINARY_NOT_EXPECTED', 'binary frames are not accepted; send JSON text');
  }

  life(): void {
    this.owner.hub.heartbeat.life(this.peer);
  }

  gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.gone(this);
  }

  send(text: string): void {
    if (this.closed) return;
    const buffered = this.peer.bufferedAmount();
    if (buffered > this.owner.hub.limits.maxClientBuffer) {
      this.owner.hub.log('warn', 'compat client does not read fast enough', { address: this.address, buffered });
      return this.close(CLOSE.SLOW_CONSUMER.code, CLOSE.SLOW_CONSUMER.text);
    }
    this.peer.sendText(text);
  }

  /** @internal */
  finalReply(uid: Uid, name: string, job: JobView): void {
    if (job.state === 'done') {
      this.reply({ uid, status: 'success', message: `Printed on ${name}`, status_code: PWS_STATUS.IDLE, job: job.id });
    } else {
      const code = job.error?.code ?? 'JOB_CANCELED';
      this.reply({ uid, status: 'error', message: job.error?.message ?? `job ${job.state}`, status_code: PWS_STATUS.ERROR, job: job.id, code });
    }
  }

  private async call(call: string, uid: Uid, req: Record<string, unknown>): Promise<void> {
    const { hub } = this.owner;
    switch (call) {
      case 'printers.find': {
        const printers = (await hub.api.perform({ op: 'printers.list', id: null }, this.caller)) as PrinterView[];
        return this.reply({ uid, result: printerNames(printers), status_code: PWS_STATUS.IDLE });
      }
      case 'server.version':
        return this.reply({ uid, result: hub.version, info: 'serverVersion', status_code: PWS_STATUS.IDLE });
      case 'print':
        return this.print(uid, req['params']);
      case 'printerStatus': {
        const name = req['PrinterName'];
        if (typeof name !== 'string' || name === '' || name.length > NAME_MAX) {
          return this.error(uid, 'MISSING_FIELD', 'PrinterName not provided');
        }
        const view = (await hub.api.perform({ op: 'printer.get', id: null, printer: findPrinter(hub, name).id }, this.caller)) as PrinterView;
        const { code, message } = this.owner.status(view);
        return this.reply({ uid, status: 'Printer status retrieved', PrinterName: name, status_code: code, message, state: view.status });
      }
      default:
        return this.error(uid, 'UNKNOWN_TYPE', `unknown call ${JSON.stringify(call.slice(0, 64))}`);
    }
  }

  private async print(uid: Uid, params: unknown): Promise<void> {
    const p = isObj(params) ? params : {};
    const printer = isObj(p['printer']) ? p['printer']['name'] : undefined;
    const data = p['data'];
    const lines = Array.isArray(data) && data.length > 0 && data.every((l): l is string => typeof l === 'string') ? data : undefined;
    if (typeof printer !== 'string' || printer === '' || printer.length > NAME_MAX || lines === undefined) {
      return this.error(uid, 'BAD_FIELD', 'Invalid printer or data: params.printer.name and params.data (an array of strings) are required');
    }
    const ending = p['lineEnding'];
    if (ending !== undefined && ending !== 'crlf' && ending !== 'lf' && ending !== 'none') {
      return this.error(uid, 'BAD_FIELD', 'params.lineEnding must be "crlf", "lf" or "none"');
    }
    const encoding = p['encoding'];
    if (encoding !== undefined && !(TEXT_ENCODINGS as readonly unknown[]).includes(encoding)) {
      return this.error(uid, 'BAD_FIELD', `params.encoding must be one of ${TEXT_ENCODINGS.join(', ')}`);
    }
    const view = findPrinter(this.owner.hub, printer);
    const text = composeLines(lines, (ending as LineEnding | undefined) ?? dialectLineEnding(view.dialect));
    const job = (await this.owner.hub.api.perform(
      { op: 'job.submit', id: null, printer: view.id, text, encoding: (encoding as TextEncodingName | undefined) ?? 'utf8' },
      this.caller,
    )) as JobView;
    if (this.closed) return;
    this.reply({
      uid, status: `Printing job started on ${printer}`, status_code: PWS_STATUS.PRINTING, job: job.id,
      ...(view.online ? {} : { message: 'queued: the printer\'s bridge is offline; the job prints when it is back' }),
    });
    this.owner.track(job, { session: this, uid, name: printer });
  }

  private error(uid: Uid, code: ErrorCode, message: string): void {
    this.reply({ uid, status: 'error', message, status_code: PWS_STATUS.ERROR, code });
  }

  private reply(body: Record<string, unknown>): void {
    this.send(JSON.stringify(body));
  }
}

/** Each printer once, by its name; a name already taken by an earlier printer falls back to the id. */
function printerNames(printers: readonly PrinterView[]): string[] {
  const seen = new Set<string>();
  return printers.map((p) => {
    const name = seen.has(compatName(p)) ? p.id : compatName(p);
    seen.add(name);
    return name;
  });
}

function uidOf(req: unknown): Uid {
  const v = isObj(req) ? req['uid'] : undefined;
  if (typeof v === 'string' && v.length <= UID_MAX) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return null;
}
