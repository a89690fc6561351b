// The Printerlynx-style user API, as a session over the core. Every message
// both ways is `{type, data}`. States of a connection:
//
//   authenticating ── authentication {token} valid ──→ open
//        │  anything else, a wrong token, or no authentication in time
//        └──→ closed (an ERROR reply first, then close 1008, or 4003 on time)
//
// Once open:
//   print_job {type: START|PAUSE|RESUME|CANCEL, printer_uuid, agent_uuid?, …}
//       START takes the file inline (`file` text or `file_base64`) and queues
//       a job; the others act on `job_uuid` or, without it, the printer's
//       current job. Reply {status: OK, job_uuid, state} or {status: ERROR, message, code}.
//   printer_command {printer_uuid, agent_uuid?, command}
//       one or more lines of G-code (or a raw command) through the core's
//       control relay (`printer.command`); reply {status: OK, response: lines,
//       temperature} once the printer answered.
//   agent_status / printer_status {…}: send the current pushes again (a refresh).
// Pushes: agent_status {agent_uuid, agent_name, status: online|offline} and
// printer_status {agent_uuid, printer_uuid, status: available|busy|unavailable,
// job: null|{…, progress 0–1}, state: {temperature}}, at authentication for
// everything known and afterwards on each change.
//
// Agents are printbridge devices, printers are `device/port` (or their name).
// Jobs and commands go through the client API's dispatcher (job.submit,
// job.pause/resume/cancel, printer.command) with the credentials the
// connection authenticated with: the admin token or a client token, whose
// scopes the dispatcher checks (printer_command needs `printer:command`). An
// authenticated connection is listed in clients.list (transport
// `printerlynx`) and closed with 4006 REVOKED when its token is revoked.

import { randomUUID } from 'node:crypto';
import type { ClientEvent, ClientRequest, DeviceView, JobView, PrinterView } from '../../protocol/client-messages.js';
import { CLOSE, type ErrorCode } from '../../protocol/errors.js';
import { isObj, MAX_JSON_DEPTH, nestsDeeper, tooDeepError, type Obj } from '../../protocol/fields.js';
import type { Caller } from '../core/client-api.js';
import { connectionView, type ClientConnection } from '../core/client-connection.js';
import type { Cancel } from '../core/context.js';
import type { Hub } from '../core/hub.js';
import { isFinal } from '../core/jobs.js';
import type { Peer } from '../core/peer.js';
import { hasScope, type Verified } from '../core/tokens.js';
import { PrintbridgeError } from '../errors.js';
import { listJobs } from '../store/jobs.js';
import { compatName, EventTap, findPrinter, runningJob, temperatureMap } from './printers.js';

export type LynxPrinterStatus = 'available' | 'busy' | 'unavailable';

/** G-code commands that jump the printer's queue (the device accepts only these as emergencies). */
const EMERGENCY = /^M(112|108|410)\b/i;
const MAX_COMMAND_LINES = 32;
const TEMP = /\b(T\d*|B|C|P|H):\s*(-?\d+(?:\.\d+)?)\s*(?:\/\s*(-?\d+(?:\.\d+)?))?/g;

interface FileMeta {
  print_file_uuid: string;
  name: string;
}

/** `running`: an unfinished job is on the printer. */
export function lynxStatus(p: PrinterView, running: boolean): LynxPrinterStatus {
  if (!p.online || p.status === 'offline' || p.status === 'paper-out' || p.status === 'cover-open' || p.status === 'error') return 'unavailable';
  if (running || p.status === 'busy') return 'busy';
  return p.paused ? 'unavailable' : 'available';
}

/** Every authenticated connection of the endpoint, and what they are told. */
export class LynxHub {
  private readonly sessions = new Set<LynxSession>();
  /** What START said about a job's file; in memory only (after a restart the job id stands in). */
  private readonly files = new Map<string, FileMeta>();
  private readonly lastPush = new Map<string, string>();
  private readonly tap: EventTap;

  constructor(
    readonly hub: Hub,
    readonly authenticate: (token: string) => Verified,
  ) {
    this.tap = new EventTap(
      // With nobody connected only a job's end matters (its file name is forgotten);
      // the rest would cost a view per device through every reconnect storm.
      (kind) => kind === 'job.updated' || (this.sessions.size > 0 && (kind === 'device.online' || kind === 'device.offline' || kind === 'printer.status')),
      (e) => this.event(e),
    );
    hub.events.add(this.tap);
  }

  /** `authenticated` runs once the connection has logged in, before its first reply (the transport lifts its pre-login bounds). */
  connect(peer: Peer, address: string | undefined, userAgent?: string, authenticated?: () => void): LynxSession {
    const session = new LynxSession(this, peer, address, userAgent, authenticated);
    this.hub.heartbeat.add(peer);
    return session;
  }

  get size(): number {
    return this.sessions.size;
  }

  stop(): void {
    this.hub.events.remove(this.tap);
  }

  /** @internal */
  opened(session: LynxSession): void {
    this.sessions.add(session);
  }

  /** @internal */
  gone(session: LynxSession): void {
    this.sessions.delete(session);
    this.hub.heartbeat.remove(session.peer);
    // Unheard while nobody is connected, so no longer what was last pushed.
    if (this.sessions.size === 0) this.lastPush.clear();
  }

  /** @internal */
  remember(job: string, meta: FileMeta): void {
    this.files.set(job, meta);
  }

  agentStatus(d: DeviceView): string {
    return envelope('agent_status', { agent_name: d.id, agent_identifier: d.id, agent_uuid: d.id, status: d.online ? 'online' : 'offline' });
  }

  /** `ended`: a job that just finished on this printer, shown once with its final state. */
  printerStatus(p: PrinterView, ended?: JobView): string {
    const running = runningJob(this.hub, p);
    const status = lynxStatus(p, running !== undefined);
    const shown = ended ?? running;
    const job = shown === undefined ? null : this.jobObject(shown);
    return envelope('printer_status', {
      agent_uuid: p.device,
      printer_uuid: p.id,
      printer_identifier: compatName(p),
      printer_adapter_identifier: 'PRINTBRIDGE',
      printer_adapter_interface: p.id,
      dialect: p.dialect,
      status,
      detail: p.status,
      paused: p.paused,
      job,
      state: { temperature: temperatureMap(p.temps) },
    });
  }

  jobObject(j: JobView): Obj {
    const meta = this.files.get(j.id);
    return {
      job_uuid: j.id,
      print_file_uuid: meta?.print_file_uuid ?? j.id,
      name: meta?.name ?? j.id,
      size: j.size,
      progress: Math.round(j.progress * 1000) / 1000,
      state: j.state,
      ...(j.error === undefined ? {} : { error: j.error }),
    };
  }

  private event(e: ClientEvent): void {
    switch (e.event) {
      case 'device.online':
      case 'device.offline':
        return this.broadcast(this.agentStatus(e.device));
      case 'printer.status':
        return this.pushPrinter(e.printer);
      case 'job.updated': {
        if (this.sessions.size === 0) {
          if (isFinal(e.job.state)) this.files.delete(e.job.id);
          return;
        }
        const view = this.hub.views.printerById(e.job.printer);
        const final = isFinal(e.job.state);
        // A job that ended is pushed once with its final state; the next push shows the printer free.
        if (view !== undefined) this.pushPrinter(view, final ? e.job : undefined);
        if (final) this.files.delete(e.job.id);
        return;
      }
      default:
    }
  }

  private pushPrinter(p: PrinterView, ended?: JobView): void {
    const text = this.printerStatus(p, ended);
    if (this.lastPush.get(p.id) === text) return;
    this.lastPush.set(p.id, text);
    this.broadcast(text);
  }

  private broadcast(text: string): void {
    for (const s of [...this.sessions]) if (s.watches()) s.send(text);
  }
}

export class LynxSession {
  private phase: 'authenticating' | 'open' | 'closed' = 'authenticating';
  private cancelTimer: Cancel | undefined;
  private caller: Caller | undefined;
  /** What the hub lists and revokes, from authentication on. */
  private connection: ClientConnection | undefined;

  constructor(
    private readonly owner: LynxHub,
    readonly peer: Peer,
    readonly address: string | undefined,
    private readonly userAgent?: string,
    private readonly authenticated?: () => void,
  ) {
    this.cancelTimer = owner.hub.clock.after(owner.hub.helloTimeoutMs, () => {
      if (this.phase !== 'authenticating') return;
      this.reply('authentication', error('HELLO_REQUIRED', 'no authentication in time'));
      this.close(CLOSE.HELLO_TIMEOUT.code, CLOSE.HELLO_TIMEOUT.text);
    });
  }

  async message(text: string): Promise<void> {
    if (this.phase === 'closed') return;
    this.life();
    // As on /v1/client: input nested past MAX_JSON_DEPTH would overflow the stack of whatever walks it (String() of an array does).
    if (nestsDeeper(text, MAX_JSON_DEPTH)) return this.refuse('error', 'TOO_DEEP', tooDeepError().message);
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.refuse('error', 'BAD_JSON', 'message is not valid JSON');
    }
    if (!isObj(msg) || typeof msg['type'] !== 'string') return this.refuse('error', 'BAD_MESSAGE', 'message must be a JSON object {type, data}');
    const type = msg['type'].slice(0, 64);
    const data = msg['data'] ?? {};
    if (!isObj(data)) return this.refuse(type, 'BAD_FIELD', 'data must be an object');
    if (this.phase === 'authenticating') {
      if (type !== 'authentication') return this.refuse(type, 'HELLO_REQUIRED', 'the first message must be authentication');
      return this.authenticate(data);
    }
    try {
      this.reply(type, { status: 'OK', ...(await this.perform(type, data)) });
    } catch (e) {
      if (!(e instanceof PrintbridgeError)) throw e;
      this.reply(type, error(e.code, e.message));
    }
  }

  binary(): void {
    if (this.phase === 'closed') return;
    this.refuse('error', 'BINARY_NOT_EXPECTED', 'binary frames are not accepted; send JSON text');
  }

  life(): void {
    this.owner.hub.heartbeat.life(this.peer);
  }

  gone(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.cancelTimer?.();
    this.owner.gone(this);
    if (this.connection !== undefined) this.owner.hub.clientClosed(this.connection);
  }

  send(text: string): void {
    if (this.phase === 'closed') return;
    const buffered = this.peer.bufferedAmount();
    if (buffered > this.owner.hub.limits.maxClientBuffer) {
      this.owner.hub.log('warn', 'compat client does not read fast enough', { address: this.address, buffered });
      return this.close(CLOSE.SLOW_CONSUMER.code, CLOSE.SLOW_CONSUMER.text);
    }
    this.peer.sendText(text);
  }

  /** Before authentication every mistake ends the connection; after it, it is only answered. */
  private refuse(type: string, code: ErrorCode, message: string): void {
    this.reply(type, error(code, message));
    if (this.phase === 'authenticating') this.close(CLOSE.POLICY.code, 'authentication required');
  }

  private authenticate(data: Obj): void {
    const token = data['token'];
    const who = typeof token === 'string' && token.length <= 4096 ? this.owner.authenticate(token) : undefined;
    if (who === undefined || !who.ok) return this.refuse('authentication', who?.ok === false && who.code === 'TOKEN_EXPIRED' ? 'TOKEN_EXPIRED' : 'UNAUTHORIZED', 'invalid token');
    this.caller = { auth: who.auth };
    this.phase = 'open';
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.authenticated?.();
    this.owner.opened(this);
    const facts = { id: randomUUID(), auth: who.auth, address: this.address, userAgent: this.userAgent, since: this.owner.hub.clock.now(), subscribed: this.watches(), transport: 'printerlynx' };
    this.connection = { auth: who.auth, view: () => connectionView(facts), close: (code, reason) => this.close(code, reason) };
    this.owner.hub.clientOpened(this.connection);
    this.reply('authentication', { status: 'OK' });
    if (this.watches()) {
      this.snapshot().catch((e: unknown) => this.owner.hub.log('warn', 'printerlynx snapshot failed', { address: this.address, error: e instanceof Error ? e.message : String(e) }));
    }
  }

  /** Status pushes are what `print` lets a token see (devices.list, printers.list). */
  watches(): boolean {
    return this.caller !== undefined && hasScope(this.caller.auth, 'print');
  }

  /** Through the dispatcher, so that the caller's scopes apply as to the lists they are. */
  private async snapshot(only?: 'agents' | 'printers'): Promise<void> {
    if (only !== 'printers') for (const d of (await this.api({ op: 'devices.list', id: null })) as DeviceView[]) this.send(this.owner.agentStatus(d));
    if (only !== 'agents') for (const p of (await this.api({ op: 'printers.list', id: null })) as PrinterView[]) this.send(this.owner.printerStatus(p));
  }

  private async perform(type: string, data: Obj): Promise<Obj> {
    switch (type) {
      case 'authentication':
        // Already authenticated: a second one changes nothing, but a wrong token is still said to be wrong.
        if (typeof data['token'] !== 'string' || !this.owner.authenticate(data['token']).ok) throw new PrintbridgeError('UNAUTHORIZED', 'invalid token');
        return {};
      case 'print_job':
        return this.printJob(data);
      case 'printer_command':
        return this.printerCommand(data);
      case 'agent_status':
        await this.snapshot('agents');
        return {};
      case 'printer_status':
        await this.snapshot('printers');
        return {};
      default:
        throw new PrintbridgeError('UNKNOWN_TYPE', type);
    }
  }

  private async printJob(data: Obj): Promise<Obj> {
    const action = data['type'];
    const printer = this.printer(data);
    let job: JobView;
    switch (action) {
      case 'START': {
        job = (await this.api(startRequest(data, printer.id))) as JobView;
        const fileId = optText(data, 'print_file_uuid') ?? job.id;
        this.owner.remember(job.id, { print_file_uuid: fileId, name: optText(data, 'file_name') ?? optText(data, 'name') ?? fileId });
        break;
      }
      case 'PAUSE':
      case 'RESUME':
      case 'CANCEL': {
        const op = action === 'PAUSE' ? 'job.pause' : action === 'RESUME' ? 'job.resume' : 'job.cancel';
        job = (await this.api({ op, id: null, job: this.targetJob(data, printer) })) as JobView;
        break;
      }
      default:
        throw new PrintbridgeError('BAD_FIELD', 'data.type must be START, PAUSE, RESUME or CANCEL');
    }
    return { type: action, job_uuid: job.id, printer_uuid: printer.id, state: job.state };
  }

  private async printerCommand(data: Obj): Promise<Obj> {
    const printer = this.printer(data);
    const command = data['command'];
    if (typeof command !== 'string') throw new PrintbridgeError('MISSING_FIELD', 'command');
    const lines = command.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
    if (lines.length === 0 || lines.length > MAX_COMMAND_LINES) throw new PrintbridgeError('BAD_FIELD', `command must hold 1 to ${MAX_COMMAND_LINES} lines`);
    const response: string[] = [];
    // One line at a time, in order: each waits for the printer's answer.
    for (const line of lines) {
      const answer = (await this.api({ op: 'printer.command', id: null, printer: printer.id, data: line, emergency: EMERGENCY.test(line) || undefined })) as Obj;
      const got = answer['lines'];
      if (Array.isArray(got)) for (const l of got) if (typeof l === 'string') response.push(l);
    }
    const temperature = temperatureMap(parseTemps(response));
    return { command, printer_uuid: printer.id, response, ...(Object.keys(temperature).length > 0 ? { temperature } : {}) };
  }

  private api(req: ClientRequest): Promise<unknown> {
    if (this.caller === undefined) throw new PrintbridgeError('HELLO_REQUIRED', 'authenticate first');
    return this.owner.hub.api.perform(req, this.caller);
  }

  private printer(data: Obj): PrinterView {
    const name = data['printer_uuid'];
    if (typeof name !== 'string' || name === '' || name.length > 200) throw new PrintbridgeError('MISSING_FIELD', 'printer_uuid');
    const printer = findPrinter(this.owner.hub, name);
    const agent = data['agent_uuid'];
    if (agent !== undefined && agent !== null && agent !== printer.device) {
      throw new PrintbridgeError('UNKNOWN_PRINTER', `${name} is not a printer of agent ${String(agent).slice(0, 64)}`);
    }
    return printer;
  }

  /** `job_uuid` if given (it must be this printer's), else the job on the printer, else its oldest unfinished one. */
  private targetJob(data: Obj, printer: PrinterView): string {
    const { hub } = this.owner;
    const given = optText(data, 'job_uuid');
    if (given !== undefined) {
      if (hub.jobs.get(given).printer !== printer.id) throw new PrintbridgeError('UNKNOWN_JOB', `${given} is not a job of ${printer.id}`);
      return given;
    }
    const running = runningJob(this.owner.hub, printer);
    if (running !== undefined) return running.id;
    const oldest = listJobs(hub.store, { printer: printer.id, unfinishedOnly: true, limit: -1 }).at(-1);
    if (oldest === undefined) throw new PrintbridgeError('UNKNOWN_JOB', `${printer.id} has no unfinished job`);
    return oldest.id;
  }

  private reply(type: string, data: Obj): void {
    this.send(envelope(type, data));
  }

  private close(code: number, reason: string): void {
    this.gone();
    this.peer.close(code, reason);
  }
}

function envelope(type: string, data: Obj): string {
  return JSON.stringify({ type, data });
}

function error(code: ErrorCode, message: string): Obj {
  return { status: 'ERROR', message, code };
}

function optText(data: Obj, key: string): string | undefined {
  const v = data[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > 200) throw new PrintbridgeError('BAD_FIELD', `${key} must be a string of at most 200 characters`);
  return v;
}

/** START's file, inline: `file` as text (UTF-8) or `file_base64`; the dispatcher checks size and base64. */
function startRequest(data: Obj, printer: string): ClientRequest {
  const text = data['file'];
  const b64 = data['file_base64'];
  if (typeof text === 'string' && b64 === undefined) return { op: 'job.submit', id: null, printer, text, encoding: 'utf8' };
  if (typeof b64 === 'string' && text === undefined) return { op: 'job.submit', id: null, printer, data: b64 };
  throw new PrintbridgeError('MISSING_FIELD', 'START needs the file inline: data.file (text) or data.file_base64');
}

function parseTemps(lines: readonly string[]): { name: string; current: number }[] {
  const out: { name: string; current: number }[] = [];
  for (const line of lines) for (const m of line.matchAll(TEMP)) out.push({ name: m[1] ?? '', current: Number(m[2]) });
  return out;
}
