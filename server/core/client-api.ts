// The one dispatcher of the client API. Every transport that serves clients
// (the /v1/client WebSocket, REST at /api/v1, the compatibility adapters)
// decodes its input into a ClientRequest and calls `perform`; what an op
// does is decided here and nowhere else. A transport only says who is
// calling (`Caller`) and, for connections, how to subscribe and which jobs
// the caller submitted.
//
// Scopes are checked here, before anything else, so that no transport can
// forget them: each op needs the scope protocol/scopes.ts names (FORBIDDEN
// naming it otherwise), and a job another token submitted needs `jobs:any`
// besides. Jobs remember the client token that submitted them; the admin's
// and the compat listener's jobs belong to no token.

import {
  DEFAULT_SCOPES, SGD_TIMEOUT_DEFAULT_MS, TOKEN_TTL_DEFAULT_S, type ClientView, type RemovedDevice, type SgdResult, PRINTER_COMMAND_MAX, PRINTER_COMMAND_TIMEOUT_DEFAULT_MS, type ClientRequest, type ClientResults, type JobView, type PrinterCommandResult, type PrinterView,
  type JobData, type ServerInfo, type Snapshot, DEVICE_TABLE_KEYS, PRINTER_TABLE_KEYS, toTable, okReply,
} from '../../protocol/client-messages.js';
import { requiredScope } from '../../protocol/scopes.js';
import { PROTOCOL_MAJOR, PROTOCOL_VERSION } from '../../protocol/version.js';
import { PrintbridgeError } from '../errors.js';
import { clientFrameLimit, type Limits } from '../limits.js';
import type { Store } from '../store/db.js';
import { getDevice, WEBLINK_TAG } from '../store/devices.js';
import { hasJobsFor, listJobs, type JobRecord } from '../store/jobs.js';
import type { WeblinkPrinters } from '../weblink/printers.js';
import { base64DecodedLength, decodeBase64Strict, encodeBase64 } from './base64.js';
import type { Clock } from './context.js';
import { composeText, encodeText } from './encodings.js';
import { InFlight } from './in-flight.js';
import { isFinal } from './job-states.js';
import type { Jobs } from './jobs.js';
import type { Router } from './router.js';
import { hasScope, requireScope, tokenIdOf, type ClientAuth, type ClientTokens } from './tokens.js';
import { Turns } from './turns.js';
import { jobView, type Views } from './views.js';

/** How many finished jobs a subscribe snapshot includes besides the unfinished ones. */
export const SNAPSHOT_RECENT_JOBS = 50;
const SNAPSHOT_MAX_ACTIVE_JOBS = 1000;
const DEFAULT_LIST_LIMIT = 100;
/** printer.command waits this long for the device's answer unless told otherwise (G-code moves take a while). */

/**
 * One Caller object stands for one connection (or one REST request):
 * requests in flight are counted, and expensive ones take turns, per Caller.
 */
export interface Caller {
  readonly auth: ClientAuth;
  /** A connection hears about the jobs it submitted without subscribing; a REST call has nothing to hear with. */
  submitted?(job: JobView): void;
  /** Connections only: events on or off, device and printer events coalesced or not. Without it, subscribe and unsubscribe are UNSUPPORTED. */
  subscribe?(on: boolean, coalesce?: boolean): void;
  /** Connections only: false once it closed, so work it queued and nobody will read is skipped. */
  open?(): boolean;
}

type Req<O extends ClientRequest['op']> = Extract<ClientRequest, { op: O }>;

/**
 * What the client API uses, and nothing more. It serves every op, so it
 * reaches most parts of the core, each through the few calls it makes; the
 * composition root (hub.ts) builds it.
 */
export interface ClientApiDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly limits: Limits;
  /** The server's version, in the hello answer. */
  readonly version: string;
  /** How long control.send waits for devices unless told otherwise. */
  readonly controlTimeoutMs: number;
  readonly jobs: Pick<
    Jobs,
    'get' | 'live' | 'data' | 'hasData' | 'knownPrinter' | 'submit' | 'cancel' | 'pause' | 'resume' | 'pausePrinter' | 'resumePrinter' | 'cancelPrinter'
  >;
  readonly views: Pick<Views, 'devices' | 'printers' | 'all' | 'printerById'>;
  readonly router: Pick<Router, 'send'>;
  readonly tokens: Pick<ClientTokens, 'issue'>;
  readonly weblink: Pick<WeblinkPrinters, 'sgd'>;
  /** Connected clients on every transport, oldest first. */
  clientViews(): ClientView[];
  /** Revokes a client token and closes the connections it opened. */
  revokeToken(idOrToken: string): { id: string; revoked: true; closed: number };
  /** Removes a registered device, its jobs and its connections. */
  removeDevice(id: string): RemovedDevice;
}

export class ClientApi {
  private readonly inFlight: InFlight;
  /** Snapshots and lists: one connection's burst of them cannot hold the thread from everyone else. */
  private readonly turns: Turns;

  constructor(private readonly deps: ClientApiDeps) {
    this.inFlight = new InFlight(() => deps.limits.maxRequestsInFlight);
    this.turns = new Turns((fn) => void deps.clock.after(0, fn));
  }

  /** Carries out one request; what it resolves with is `ClientResults[req.op]`. RATE_LIMITED beyond maxRequestsInFlight. */
  perform(req: ClientRequest, caller: Caller): Promise<ClientResults[ClientRequest['op']]> {
    return this.inFlight.run(caller, () => this.dispatch(req, caller));
  }

  /**
   * job.data's job and bytes as they are, for a transport that sends them
   * raw and so has no bound on their size (REST's download): the checks of
   * job.data without its base64 answer.
   */
  jobBytes(req: Req<'job.data'>, caller: Caller): Promise<{ job: JobView; bytes: Uint8Array }> {
    return this.inFlight.run(caller, () => {
      this.authorize(req, caller);
      const job = this.ownJob(req.job, caller, req.op);
      return { job: jobView(job), bytes: this.keptBytes(job) };
    });
  }

  private authorize(req: ClientRequest, caller: Caller): void {
    const scope = requiredScope(req);
    if (scope !== undefined) requireScope(caller.auth, scope, req.op === 'control.send' ? `control.send ${JSON.stringify(req.name)}` : req.op);
  }

  /** Answers at once where it can: only what has to wait returns a promise (and counts as in flight). */
  private dispatch(req: ClientRequest, caller: Caller): ClientResults[ClientRequest['op']] | Promise<ClientResults[ClientRequest['op']]> {
    const { deps } = this;
    this.authorize(req, caller);
    switch (req.op) {
      case 'hello':
        if (req.v[0] !== PROTOCOL_MAJOR) throw new PrintbridgeError('VERSION_UNSUPPORTED', `client speaks ${req.v[0]}, server ${PROTOCOL_MAJOR}`);
        return this.info();
      case 'ping':
        return 'pong';
      case 'devices.list':
        return this.inTurn(caller, req, () => deps.views.devices(req.tag));
      case 'printers.list':
        return this.inTurn(caller, req, () => deps.views.printers());
      case 'printer.get':
        return this.printer(req.printer);
      case 'job.submit':
        return this.submit(req, caller);
      case 'job.get':
        return jobView(this.ownJob(req.job, caller, req.op));
      case 'jobs.list': {
        if (req.printer !== undefined) this.listedPrinter(req.printer);
        // Without jobs:any, only the caller's own jobs (a caller that is no client token owns none).
        const any = hasScope(caller.auth, 'jobs:any');
        const owner = any ? undefined : tokenIdOf(caller.auth);
        if (!any && owner === undefined) return [];
        return this.inTurn(caller, req, () =>
          listJobs(deps.store, { printer: req.printer, state: req.state, q: req.q, owner, limit: req.limit ?? DEFAULT_LIST_LIMIT }).map((job) => jobView(deps.jobs.live(job))),
        );
      }
      case 'job.cancel':
        return jobView(deps.jobs.cancel(this.ownJob(req.job, caller, req.op).id));
      case 'job.pause':
        return jobView(deps.jobs.pause(this.ownJob(req.job, caller, req.op).id));
      case 'job.resume':
        return jobView(deps.jobs.resume(this.ownJob(req.job, caller, req.op).id));
      case 'job.data': {
        const job = this.ownJob(req.job, caller, req.op);
        if (!this.deps.jobs.hasData(job.id)) throw dataGone(job);
        // The view measured is the view sent: one taken later, after the job moved on (an error added), could pass the bound.
        const view = jobView(job);
        // Measured by the job's size before its bytes are read: refusing a 16 MiB job costs no 16 MiB read.
        this.withinUnsent(req, view, job.size);
        const bytes = this.keptBytes(job);
        // Encoding megabytes takes a while: in turn, as the lists.
        return this.inTurn(caller, req, (): JobData => ({ job: view, data: encodeBase64(bytes) }));
      }
      case 'job.reprint': {
        const original = this.ownJob(req.job, caller, req.op);
        return this.queue(req.printer ?? original.printer, this.keptBytes(original), { key: req.key, resume: original.resume, name: req.name ?? original.name }, caller);
      }
      case 'printer.pause':
        return { printer: req.printer, paused: true, jobs: deps.jobs.pausePrinter(req.printer).map(jobView) };
      case 'printer.resume':
        return { printer: req.printer, paused: false, jobs: deps.jobs.resumePrinter(req.printer).map(jobView) };
      case 'printer.cancel':
        return { printer: req.printer, canceled: deps.jobs.cancelPrinter(req.printer).map(jobView) };
      case 'printer.command':
        return this.command(req);
      case 'printer.sgd':
        return this.sgd(req);
      case 'control.send':
        return deps.router.send(req.to, req.name, req.args, req.timeout ?? deps.controlTimeoutMs);
      case 'token.issue':
        return deps.tokens.issue(req.ttl ?? TOKEN_TTL_DEFAULT_S, req.label, req.scopes ?? DEFAULT_SCOPES, caller.auth);
      case 'token.revoke':
        return deps.revokeToken(req.token);
      case 'clients.list':
        return this.inTurn(caller, req, () => deps.clientViews());
      case 'device.remove':
        return deps.removeDevice(req.device);
      case 'subscribe': {
        const subscribe = caller.subscribe?.bind(caller);
        if (subscribe === undefined) throw new PrintbridgeError('UNSUPPORTED', 'subscribe needs a connection (WebSocket /v1/client)');
        // Events start in the turn that builds the snapshot, so that none is older than it.
        return this.inTurn(caller, req, () => {
          subscribe(true, req.coalesce === true);
          const snapshot = this.snapshot(req.compact === true);
          // Who else is connected is the `tokens` scope's business, as in clients.list.
          return hasScope(caller.auth, 'tokens') ? snapshot : { ...snapshot, clients: undefined };
        });
      }
      case 'unsubscribe': {
        const subscribe = caller.subscribe?.bind(caller);
        if (subscribe === undefined) throw new PrintbridgeError('UNSUPPORTED', 'unsubscribe needs a connection (WebSocket /v1/client)');
        // In turn too, so that it cannot overtake a subscribe that came before it.
        return this.inTurn(caller, req, () => {
          subscribe(false);
          return { subscribed: false } as const;
        });
      }
    }
  }

  /** Runs `work` on the caller's next turn; the same request still waiting for its turn shares that answer. */
  private inTurn<T>(caller: Caller, req: ClientRequest, work: () => T): Promise<T> {
    const { id: _id, ...what } = req;
    return this.turns.take(caller, JSON.stringify(what), work, () => caller.open?.() ?? true);
  }

  info(): ServerInfo {
    const { limits } = this.deps;
    return {
      server: 'printbridge', version: this.deps.version, v: PROTOCOL_VERSION,
      limits: { maxJobBytes: limits.maxJobBytes, maxFrame: clientFrameLimit(limits), maxUnsent: limits.maxClientBuffer },
    };
  }

  /**
   * What a subscriber sees first: every device and printer, the unfinished
   * jobs and the latest finished ones. `compact`: devices and printers as
   * tables, for a page that follows thousands of them.
   */
  snapshot(compact = false): Snapshot {
    const { deps } = this;
    const active = listJobs(deps.store, { unfinishedOnly: true, limit: SNAPSHOT_MAX_ACTIVE_JOBS });
    const recent = listJobs(deps.store, { finishedOnly: true, limit: SNAPSHOT_RECENT_JOBS });
    const jobs = [...active, ...recent]
      .sort((a, b) => b.created - a.created)
      .map((job) => jobView(deps.jobs.live(job)));
    const { devices, printers } = deps.views.all();
    if (!compact) return { devices, printers, jobs, clients: deps.clientViews() };
    return {
      devices: [], printers: [], jobs, clients: deps.clientViews(),
      tables: { devices: toTable(devices, DEVICE_TABLE_KEYS), printers: toTable(printers, PRINTER_TABLE_KEYS) },
    };
  }

  /**
   * A job.data answer is one message: one larger than a client may have
   * unsent would close a client that does not read it at once as a slow
   * consumer, so it is refused, and the raw download named instead. The
   * size is the reply's exact length, counted without encoding the bytes.
   */
  private withinUnsent(req: Req<'job.data'>, view: JobView, size: number): void {
    const max = this.deps.limits.maxClientBuffer;
    const reply = Buffer.byteLength(okReply(req.id, { job: view, data: '' } satisfies JobData)) + Math.ceil(size / 3) * 4;
    if (reply <= max) return;
    throw new PrintbridgeError(
      'REPLY_TOO_LARGE',
      `job ${view.id} is ${size} bytes, a ${reply}-byte answer, over maxClientBuffer (${max}); ` +
        `download the bytes with GET /api/v1/jobs/${encodeURIComponent(view.id)}/data and Accept: application/octet-stream (or ?raw=1)`,
    );
  }

  /** The bytes of a job the caller may see; JOB_DATA_GONE once retention dropped them. */
  private keptBytes(job: JobRecord): Uint8Array {
    const data = this.deps.jobs.data(job.id);
    if (data === undefined) throw dataGone(job);
    return data;
  }

  /**
   * A printer jobs.list may filter by: one the server knows (as job.submit
   * would take it, or any port of a device that has not said which it has),
   * or one it holds jobs of (a device removed since, a port gone). Anything
   * else is a mistake the caller should hear of: UNKNOWN_PRINTER.
   */
  private listedPrinter(printer: string): void {
    try {
      this.deps.jobs.knownPrinter(printer);
    } catch (e) {
      if (e instanceof PrintbridgeError && e.code === 'UNKNOWN_PRINTER' && hasJobsFor(this.deps.store, printer)) return;
      throw e;
    }
  }

  /** The job, if the caller may see and act on it. */
  private ownJob(id: string, caller: Caller, op: string): JobRecord {
    const job = this.deps.jobs.get(id);
    if (!mayAct(caller.auth, job)) throw new PrintbridgeError('FORBIDDEN', `${op} of a job another token submitted needs the scope jobs:any`);
    return job;
  }

  private printer(printer: string): PrinterView {
    const { id } = this.deps.jobs.knownPrinter(printer);
    const view = this.deps.views.printerById(id);
    if (view === undefined) throw new PrintbridgeError('UNKNOWN_PRINTER', `${printer}: the device has not reported its ports yet`);
    return view;
  }

  private submit(req: Req<'job.submit'>, caller: Caller): JobView {
    return this.queue(req.printer, this.submittedBytes(req), { key: req.key, resume: req.resume, name: req.name }, caller);
  }

  /** The bytes a job.submit carries, decoded or encoded; JOB_TOO_LARGE before spending memory on more than the limit. */
  private submittedBytes(req: Req<'job.submit'>): Uint8Array {
    const { maxJobBytes } = this.deps.limits;
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
    return bytes;
  }

  /**
   * Queues a job for the caller, job.submit's and job.reprint's one way in:
   * the limits, quotas and queue rules of Jobs.submit, and a key that names
   * another token's job answered only to jobs:any.
   */
  private queue(
    printer: string, bytes: Uint8Array, opts: { key: string | undefined; resume: boolean | undefined; name: string | undefined }, caller: Caller,
  ): JobView {
    const job = this.deps.jobs.submit(printer, bytes, opts.key, { resume: opts.resume, owner: tokenIdOf(caller.auth), name: opts.name });
    // The same key on the same printer answers the job already there: only to its owner.
    if (opts.key !== undefined && job.owner !== tokenIdOf(caller.auth) && !hasScope(caller.auth, 'jobs:any')) {
      throw new PrintbridgeError('FORBIDDEN', `key ${opts.key} names a job another token submitted; that needs the scope jobs:any`);
    }
    const view = jobView(job);
    if (!isFinal(job.state)) caller.submitted?.(view);
    return view;
  }

  /** Reads or sets settings of a Weblink printer over its config channel (server/weblink). */
  private async sgd(req: Req<'printer.sgd'>): Promise<SgdResult> {
    const { deps } = this;
    const { device, port, id } = deps.jobs.knownPrinter(req.printer);
    if (getDevice(deps.store, device)?.tags.includes(WEBLINK_TAG) !== true) {
      throw new PrintbridgeError('UNSUPPORTED', `${id} is not a Weblink printer; SGD goes to Link-OS printers that dial in`);
    }
    const request = req.get !== undefined ? { get: req.get } : { set: req.set ?? {} };
    const values = await deps.weblink.sgd(device, port, request, req.timeout ?? SGD_TIMEOUT_DEFAULT_MS);
    return { printer: id, values: values as SgdResult['values'] };
  }

  /**
   * Relays one command to the printer through its device (control
   * `printer.command`) and answers with what the device answered: for
   * G-code the printer's reply lines up to its `ok` (`lines`), for the byte
   * dialects how many bytes were written (`written`).
   */
  private async command(req: Req<'printer.command'>): Promise<PrinterCommandResult> {
    const { deps } = this;
    const { device, port, id, session } = deps.jobs.knownPrinter(req.printer);
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
    const outcome = await deps.router.send(
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

/** A caller acts on its own jobs; on any other (the admin's too) only with `jobs:any`. */
function mayAct(auth: ClientAuth, job: JobRecord): boolean {
  return hasScope(auth, 'jobs:any') || (job.owner !== undefined && job.owner === tokenIdOf(auth));
}

function dataGone(job: JobRecord): PrintbridgeError {
  return new PrintbridgeError('JOB_DATA_GONE', `${job.id} is ${job.state} and retention dropped its bytes`);
}
