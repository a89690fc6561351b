// The one dispatcher of the client API. Every transport that serves clients
// (the /v1/client WebSocket, REST at /api/v1, the compatibility adapters)
// decodes its input into a ClientRequest and calls `perform`; what an op
// does is decided here and nowhere else. A transport only says who is
// calling (`Caller`) and, for connections, how to subscribe and which jobs
// the caller submitted.

import {
  TOKEN_TTL_DEFAULT_S, PRINTER_COMMAND_MAX, PRINTER_COMMAND_TIMEOUT_DEFAULT_MS, type ClientRequest, type ClientResults, type JobView, type PrinterCommandResult, type PrinterView,
  type ServerInfo, type Snapshot,
} from '../../protocol/client-messages.js';
import { PROTOCOL_MAJOR, PROTOCOL_VERSION } from '../../protocol/version.js';
import { PrintbridgeError } from '../errors.js';
import { listJobs } from '../store/jobs.js';
import { base64DecodedLength, decodeBase64Strict } from './base64.js';
import { composeText, encodeText } from './encodings.js';
import type { Hub } from './hub.js';
import { isFinal } from './jobs.js';
import type { ClientAuth } from './tokens.js';
import { jobView } from './views.js';

/** How many finished jobs a subscribe snapshot includes besides the unfinished ones. */
export const SNAPSHOT_RECENT_JOBS = 50;
const SNAPSHOT_MAX_ACTIVE_JOBS = 1000;
const DEFAULT_LIST_LIMIT = 100;
/** printer.command waits this long for the device's answer unless told otherwise (G-code moves take a while). */

export interface Caller {
  readonly auth: ClientAuth;
  /** A connection hears about the jobs it submitted without subscribing; a REST call has nothing to hear with. */
  submitted?(job: JobView): void;
  /** Connections only: events on or off. Without it, subscribe and unsubscribe are UNSUPPORTED. */
  subscribe?(on: boolean): void;
}

type Req<O extends ClientRequest['op']> = Extract<ClientRequest, { op: O }>;

export class ClientApi {
  constructor(private readonly hub: Hub) {}

  /** Carries out one request; what it resolves with is `ClientResults[req.op]`. */
  async perform(req: ClientRequest, caller: Caller): Promise<ClientResults[ClientRequest['op']]> {
    const { hub } = this;
    switch (req.op) {
      case 'hello':
        if (req.v[0] !== PROTOCOL_MAJOR) throw new PrintbridgeError('VERSION_UNSUPPORTED', `client speaks ${req.v[0]}, server ${PROTOCOL_MAJOR}`);
        return this.info();
      case 'ping':
        return 'pong';
      case 'devices.list':
        return hub.views.devices(req.tag);
      case 'printers.list':
        return hub.views.printers();
      case 'printer.get':
        return this.printer(req.printer);
      case 'job.submit':
        return this.submit(req, caller);
      case 'job.get':
        return jobView(hub.jobs.get(req.job));
      case 'jobs.list':
        return listJobs(hub.store, { printer: req.printer, state: req.state, limit: req.limit ?? DEFAULT_LIST_LIMIT }).map(jobView);
      case 'job.cancel':
        return jobView(hub.jobs.cancel(req.job));
      case 'job.pause':
        return jobView(hub.jobs.pause(req.job));
      case 'job.resume':
        return jobView(hub.jobs.resume(req.job));
      case 'printer.pause':
        return { printer: req.printer, paused: true, jobs: hub.jobs.pausePrinter(req.printer).map(jobView) };
      case 'printer.resume':
        return { printer: req.printer, paused: false, jobs: hub.jobs.resumePrinter(req.printer).map(jobView) };
      case 'printer.cancel':
        return { printer: req.printer, canceled: hub.jobs.cancelPrinter(req.printer).map(jobView) };
      case 'printer.command':
        return this.command(req);
      case 'control.send':
        return hub.router.send(req.to, req.name, req.args, req.timeout ?? hub.controlTimeoutMs);
      case 'token.issue':
        admin(caller, req.op);
        return hub.tokens.issue(req.ttl ?? TOKEN_TTL_DEFAULT_S, req.label);
      case 'token.revoke':
        admin(caller, req.op);
        return hub.revokeToken(req.token);
      case 'clients.list':
        return hub.clientViews();
      case 'device.remove':
        admin(caller, req.op);
        return hub.removeDevice(req.device);
      case 'subscribe':
        if (caller.subscribe === undefined) throw new PrintbridgeError('UNSUPPORTED', 'subscribe needs a connection (WebSocket /v1/client)');
        caller.subscribe(true);
        return this.snapshot();
      case 'unsubscribe':
        if (caller.subscribe === undefined) throw new PrintbridgeError('UNSUPPORTED', 'unsubscribe needs a connection (WebSocket /v1/client)');
        caller.subscribe(false);
        return { subscribed: false };
    }
  }

  info(): ServerInfo {
    return { server: 'printbridge', version: this.hub.version, v: PROTOCOL_VERSION };
  }

  /** What a subscriber sees first: every device and printer, the unfinished jobs and the latest finished ones. */
  snapshot(): Snapshot {
    const { hub } = this;
    const active = listJobs(hub.store, { unfinishedOnly: true, limit: SNAPSHOT_MAX_ACTIVE_JOBS });
    const recent = listJobs(hub.store, { finishedOnly: true, limit: SNAPSHOT_RECENT_JOBS });
    const jobs = [...active, ...recent]
      .sort((a, b) => b.created - a.created)
      .map(jobView);
    return { devices: hub.views.devices(), printers: hub.views.printers(), jobs, clients: hub.clientViews() };
  }

  private printer(printer: string): PrinterView {
    const { id } = this.hub.jobs.knownPrinter(printer);
    const view = this.hub.views.printerById(id);
    if (view === undefined) throw new PrintbridgeError('UNKNOWN_PRINTER', `${printer}: the device has not reported its ports yet`);
    return view;
  }

  private submit(req: Req<'job.submit'>, caller: Caller): JobView {
    const { maxJobBytes } = this.hub.limits;
    let bytes: Uint8Array;
    if (req.data !== undefined) {
      // Refuse an oversized job before spending memory on decoding it.
      if (base64DecodedLength(req.data) > maxJobBytes) throw new PrintbridgeError('JOB_TOO_LARGE', `more than ${maxJobBytes} bytes`);
      const decoded = decodeBase64Strict(req.data);
      if (decoded === undefined) throw new PrintbridgeError('BAD_FIELD', 'data must be canonical base64 (A-Z a-z 0-9 + /, "=" padding)');
      bytes = decoded;
    } else {
      const text = composeText(req.lines !== undefined ? { lines: req.lines } : { text: req.text ?? '' }, req.eol);
      // Every encoding takes at least one byte per UTF-16 unit (an astral
      // character is 2 units and 4 UTF-8 bytes, and in no other encoding), so
      // text longer than the limit cannot fit; jobs.submit checks the bytes.
      if (text.length > maxJobBytes) throw new PrintbridgeError('JOB_TOO_LARGE', `more than ${maxJobBytes} bytes`);
      bytes = encodeText(text, req.encoding);
    }
    const job = this.hub.jobs.submit(req.printer, bytes, req.key, { resume: req.resume });
    const view = jobView(job);
    if (!isFinal(job.state)) caller.submitted?.(view);
    return view;
  }

  /**
   * Relays one command to the printer through its device (control
   * `printer.command`) and answers with what the device answered: for
   * G-code the printer's reply lines up to its `ok` (`lines`), for the byte
   * dialects how many bytes were written (`written`).
   */
  private async command(req: Req<'printer.command'>): Promise<PrinterCommandResult> {
    const { hub } = this;
    const { device, port, id, session } = hub.jobs.knownPrinter(req.printer);
    let data: string;
    if (req.bytes !== undefined) {
      const bytes = decodeBase64Strict(req.bytes);
      if (bytes === undefined) throw new PrintbridgeError('BAD_FIELD', 'bytes must be canonical base64');
      if (bytes.length === 0 || bytes.length > PRINTER_COMMAND_MAX) throw new PrintbridgeError('BAD_FIELD', `bytes must hold 1 to ${PRINTER_COMMAND_MAX} bytes`);
      data = String.fromCharCode(...bytes);
    } else {
      data = req.data ?? '';
      if (data === '') throw new PrintbridgeError('BAD_FIELD', 'data is empty');
      // The device takes one byte per character: text is sent as latin1.
      encodeText(data, 'latin1');
    }
    if (session === undefined || session.phase !== 'online') throw new PrintbridgeError('DEVICE_OFFLINE', device);
    const outcome = await hub.router.send(
      { device }, 'printer.command', req.emergency === true ? { port, data, emergency: true } : { port, data }, req.timeout ?? PRINTER_COMMAND_TIMEOUT_DEFAULT_MS,
    );
    const report = outcome.reports[0];
    switch (report?.status) {
      case 'ok':
        return { ...report.data, printer: id, ref: outcome.ref };
      case 'error':
        throw PrintbridgeError.from({ code: report.code ?? 'PRINTER_ERROR', message: report.message ?? 'the device refused the command' });
      case 'offline':
        throw new PrintbridgeError('DEVICE_OFFLINE', `${device} went away before answering`);
      default:
        throw new PrintbridgeError('TIMEOUT', `no answer from ${device} within ${req.timeout ?? PRINTER_COMMAND_TIMEOUT_DEFAULT_MS} ms`);
    }
  }
}

function admin(caller: Caller, op: string): void {
  if (caller.auth.kind !== 'admin') throw new PrintbridgeError('FORBIDDEN', `${op} needs the admin token`);
}
