// One client connection (web app, POS, back-end, CLI). Requests are answered
// in whatever order they complete (a control.send waits for devices; a ping
// does not), each reply echoing the request id. Bad input is answered with
// an error and the connection stays open. What an op does is the
// ClientApi's business; this class is the connection around it.
//
// Every send first checks how much is still queued towards the client: a
// client that stops reading is closed with SLOW_CONSUMER rather than letting
// its events pile up in server memory.

import { randomUUID } from 'node:crypto';
import {
  COALESCE_MS, okReply, okReplyEncoded, errorReply, type ClientEvent, type ClientRequest, type ClientView, type JobView, type RequestId,
} from '../../protocol/client-messages.js';
import { CLOSE, protocolError } from '../../protocol/errors.js';
import type { Decoded } from '../../protocol/fields.js';
import { PrintbridgeError } from '../errors.js';
import type { Limits } from '../limits.js';
import type { Caller, ClientApi } from './client-api.js';
import { connectionView, type ClientConnection } from './client-connection.js';
import type { Cancel, Clock, Log } from './context.js';
import type { Listener } from './events.js';
import type { Heartbeat } from './heartbeat.js';
import { isFinal } from './job-states.js';
import type { Peer } from './peer.js';
import { ADMIN, hasScope, type ClientAuth } from './tokens.js';

export { SNAPSHOT_RECENT_JOBS } from './client-api.js';

/** What a transport knows about a connection when it opens. */
export interface ClientInfo {
  /** Default: the admin token (a transport that authenticates its own way). */
  auth?: ClientAuth | undefined;
  userAgent?: string | undefined;
  /** Default 'ws' (/v1/client); a compatibility adapter names itself. */
  transport?: string | undefined;
}

/** What a client connection uses, and nothing more; the composition root (hub.ts) builds one for all. */
export interface ClientSessionDeps {
  readonly clock: Clock;
  readonly log: Log;
  readonly limits: Pick<Limits, 'maxClientBuffer'>;
  /** The dispatcher every request goes to. */
  readonly api: Pick<ClientApi, 'perform'>;
  readonly heartbeat: Pick<Heartbeat, 'life'>;
  /** The connection is over: it stops hearing events and leaves the client list. */
  gone(client: ClientSession): void;
}

export class ClientSession implements Listener, Caller, ClientConnection {
  readonly id = randomUUID();
  readonly auth: ClientAuth;
  readonly since: number;
  private subscribed = false;
  /** Jobs this connection submitted and still hears about without subscribing. */
  private readonly own = new Set<string>();
  private closed = false;
  /** subscribe {coalesce}: device and printer events wait in `held`, newest per device or printer. */
  private coalescing = false;
  private held: Map<string, string> | undefined;
  private cancelRelease: Cancel | undefined;
  /** Answers encoded, by the result they encode; an entry goes when its result is no longer referenced. */
  private readonly encoded = new WeakMap<object, string>();

  constructor(
    private readonly deps: ClientSessionDeps,
    readonly peer: Peer,
    readonly address: string | undefined,
    private readonly info: ClientInfo = {},
  ) {
    this.auth = info.auth ?? ADMIN;
    this.since = deps.clock.now();
  }

  view(): ClientView {
    return connectionView({
      id: this.id, auth: this.auth, address: this.address, userAgent: this.info.userAgent, since: this.since,
      subscribed: this.subscribed, transport: this.info.transport ?? 'ws',
    });
  }

  async request(decoded: Decoded<ClientRequest> & { id: RequestId }): Promise<void> {
    if (this.closed) return;
    this.life();
    if (!decoded.ok) return this.send(errorReply(decoded.id, decoded.error));
    const req = decoded.value;
    let reply: string;
    try {
      const result = await this.deps.api.perform(req, this);
      // Gone meanwhile: encoding a large answer for nobody would be waste.
      if (this.closed) return;
      reply = this.encodeReply(req.id, result);
    } catch (e) {
      if (this.closed) return; // nobody to answer, and work skipped for a closed connection is no failure
      if (!(e instanceof PrintbridgeError)) {
        this.deps.log('error', 'client request failed', { op: req.op, error: e instanceof Error ? e.stack : String(e) });
      }
      reply = errorReply(req.id, e instanceof PrintbridgeError ? e.toProtocol() : protocolError('INTERNAL'));
    }
    this.send(reply);
  }

  /**
   * Requests that repeat one still waiting for its turn share one answer (a
   * burst of subscribes gets one snapshot); it is encoded once for all of them.
   */
  private encodeReply(id: RequestId, result: unknown): string {
    if (typeof result !== 'object' || result === null) return okReply(id, result);
    let json = this.encoded.get(result);
    if (json === undefined) {
      json = JSON.stringify(result);
      this.encoded.set(result, json);
    }
    return okReplyEncoded(id, json);
  }

  binary(): void {
    if (this.closed) return;
    this.life();
    this.send(errorReply(null, protocolError('BINARY_NOT_EXPECTED')));
  }

  open(): boolean {
    return !this.closed;
  }

  /** A pong or any message proves the connection alive. */
  life(): void {
    this.deps.heartbeat.life(this.peer);
  }

  submitted(job: JobView): void {
    this.own.add(job.id);
  }

  subscribe(on: boolean, coalesce = false): void {
    this.subscribed = on;
    this.coalescing = on && coalesce;
    if (!this.coalescing) this.release();
  }

  hears(kind: ClientEvent['event']): boolean {
    return !this.closed && (this.subscribed || (kind === 'job.updated' && this.own.size > 0));
  }

  wants(event: ClientEvent): boolean {
    if (this.closed) return false;
    // Who else is connected is for the `tokens` scope, as clients.list is.
    if ((event.event === 'client.connected' || event.event === 'client.disconnected') && !hasScope(this.auth, 'tokens')) return false;
    let own = false;
    if (event.event === 'job.updated' && this.own.has(event.job.id)) {
      own = true;
      if (isFinal(event.job.state)) this.own.delete(event.job.id);
    }
    return own || this.subscribed;
  }

  send(text: string, event?: ClientEvent): void {
    if (this.closed) return;
    const key = this.coalescing && event !== undefined ? coalesceKey(event) : undefined;
    if (key !== undefined) {
      this.held ??= new Map();
      // Deleted first, so that the newest goes after everything held before it.
      this.held.delete(key);
      this.held.set(key, text);
      this.cancelRelease ??= this.deps.clock.after(COALESCE_MS, () => this.release());
      return;
    }
    // Nothing overtakes an event that waits.
    if (this.held !== undefined && this.held.size > 0) this.release();
    this.sendNow(text);
  }

  /** Sends the events held for coalescing, oldest change first. */
  private release(): void {
    this.cancelRelease?.();
    this.cancelRelease = undefined;
    const held = this.held;
    if (held === undefined || held.size === 0) return;
    this.held = undefined;
    for (const text of held.values()) this.sendNow(text);
  }

  private sendNow(text: string): void {
    if (this.closed) return;
    const buffered = this.peer.bufferedAmount();
    if (buffered > this.deps.limits.maxClientBuffer) {
      this.deps.log('warn', 'client does not read fast enough', { address: this.address, buffered, code: CLOSE.SLOW_CONSUMER.code });
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
    this.cancelRelease?.();
    this.held = undefined;
    this.deps.gone(this);
  }
}

/** What a newer event replaces while it waits: the same device's state, or the same printer's. */
function coalesceKey(event: ClientEvent): string | undefined {
  switch (event.event) {
    case 'device.online':
    case 'device.offline':
    case 'device.status':
    case 'device.removed':
      return `d ${event.device.id}`;
    case 'printer.status':
      return `p ${event.printer.id}`;
    default:
      return undefined;
  }
}
