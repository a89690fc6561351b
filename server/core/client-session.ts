// One client connection (web app, POS, back-end, CLI). Requests are answered
// in whatever order they complete (a control.send waits for devices; a ping
// does not), each reply echoing the request id. Bad input is answered with
// an error and the connection stays open.
//
// Every send first checks how much is still queued towards the client: a
// client that stops reading is closed with SLOW_CONSUMER rather than letting
// its events pile up in server memory.

import {
  okReply, errorReply, type ClientEvent, type ClientRequest, type JobView, type RequestId,
} from '../../protocol/client-messages.js';
import { CLOSE, protocolError } from '../../protocol/errors.js';
import type { Decoded } from '../../protocol/fields.js';
import { PROTOCOL_MAJOR, PROTOCOL_VERSION } from '../../protocol/version.js';
import { PrintbridgeError } from '../errors.js';
import { listJobs } from '../store/jobs.js';
import { base64DecodedLength, decodeBase64Strict } from './base64.js';
import type { Listener } from './events.js';
import type { Hub } from './hub.js';
import { isFinal } from './jobs.js';
import type { Peer } from './peer.js';
import { jobView } from './views.js';

/** How many finished jobs a subscribe snapshot includes besides the unfinished ones. */
export const SNAPSHOT_RECENT_JOBS = 50;
const SNAPSHOT_MAX_ACTIVE_JOBS = 1000;
const DEFAULT_LIST_LIMIT = 100;

export class ClientSession implements Listener {
  private subscribed = false;
  /** Jobs this connection submitted and still hears about without subscribing. */
  private readonly own = new Set<string>();
  private closed = false;

  constructor(
    private readonly hub: Hub,
    readonly peer: Peer,
    readonly address: string | undefined,
  ) {}

  async request(decoded: Decoded<ClientRequest> & { id: RequestId }): Promise<void> {
    if (this.closed) return;
    this.life();
    if (!decoded.ok) return this.send(errorReply(decoded.id, decoded.error));
    const req = decoded.value;
    let reply: string;
    try {
      reply = okReply(req.id, await this.perform(req));
    } catch (e) {
      if (!(e instanceof PrintbridgeError)) {
        this.hub.log('error', 'client request failed', { op: req.op, error: e instanceof Error ? e.stack : String(e) });
      }
      reply = errorReply(req.id, e instanceof PrintbridgeError ? e.toProtocol() : protocolError('INTERNAL'));
    }
    this.send(reply);
  }

  binary(): void {
    if (this.closed) return;
    this.life();
    this.send(errorReply(null, protocolError('BINARY_NOT_EXPECTED')));
  }

  /** A pong or any message proves the connection alive. */
  life(): void {
    this.hub.heartbeat.life(this.peer);
  }

  wants(event: ClientEvent): boolean {
    if (this.closed) return false;
    let own = false;
    if (event.event === 'job.updated' && this.own.has(event.job.id)) {
      own = true;
      if (isFinal(event.job.state)) this.own.delete(event.job.id);
    }
    return own || this.subscribed;
  }

  send(text: string): void {
    if (this.closed) return;
    const buffered = this.peer.bufferedAmount();
    if (buffered > this.hub.limits.maxClientBuffer) {
      this.hub.log('warn', 'client does not read fast enough', { address: this.address, buffered, code: CLOSE.SLOW_CONSUMER.code });
      this.close(CLOSE.SLOW_CONSUMER.code, CLOSE.SLOW_CONSUMER.text);
      return;
    }
    this.peer.sendText(text);
  }

  close(code: number, reason: string): void {
    this.gone();
    this.peer.close(code, reason);
  }

  gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.clientGone(this);
  }

  private async perform(req: ClientRequest): Promise<unknown> {
    const { hub } = this;
    switch (req.op) {
      case 'hello':
        if (req.v[0] !== PROTOCOL_MAJOR) throw new PrintbridgeError('VERSION_UNSUPPORTED', `client speaks ${req.v[0]}, server ${PROTOCOL_MAJOR}`);
        return { server: 'printbridge', version: hub.version, v: PROTOCOL_VERSION };
      case 'ping':
        return 'pong';
      case 'devices.list':
        return hub.views.devices(req.tag);
      case 'printers.list':
        return hub.views.printers();
      case 'job.submit':
        return this.submit(req.printer, req.data, req.key);
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
      case 'control.send':
        return hub.router.send(req.to, req.name, req.args, req.timeout ?? hub.controlTimeoutMs);
      case 'subscribe':
        this.subscribed = true;
        return this.snapshot();
      case 'unsubscribe':
        this.subscribed = false;
        return { subscribed: false };
    }
  }

  private submit(printer: string, data: string, key: string | undefined): JobView {
    const { maxJobBytes } = this.hub.limits;
    // Refuse an oversized job before spending memory on decoding it.
    if (base64DecodedLength(data) > maxJobBytes) throw new PrintbridgeError('JOB_TOO_LARGE', `more than ${maxJobBytes} bytes`);
    const bytes = decodeBase64Strict(data);
    if (bytes === undefined) throw new PrintbridgeError('BAD_FIELD', 'data must be canonical base64 (A-Z a-z 0-9 + /, "=" padding)');
    const job = this.hub.jobs.submit(printer, bytes, key);
    if (!isFinal(job.state)) this.own.add(job.id);
    return jobView(job);
  }

  private snapshot(): unknown {
    const { hub } = this;
    const active = listJobs(hub.store, { unfinishedOnly: true, limit: SNAPSHOT_MAX_ACTIVE_JOBS });
    const recent = listJobs(hub.store, { finishedOnly: true, limit: SNAPSHOT_RECENT_JOBS });
    const jobs = [...active, ...recent]
      .sort((a, b) => b.created - a.created)
      .map(jobView);
    return { devices: hub.views.devices(), printers: hub.views.printers(), jobs };
  }
}
