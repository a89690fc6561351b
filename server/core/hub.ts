// The core, assembled: one Hub per server. Transports hand it connections
// (as Peers) and decoded input; it owns the online devices, the job queues,
// the control relay, the event bus and the heartbeat. Nothing here knows
// about ws, http or any other wire.

import type { ClientView, RemovedDevice } from '../../protocol/client-messages.js';
import { CLOSE } from '../../protocol/errors.js';
import { PrintbridgeError } from '../errors.js';
import type { Limits } from '../limits.js';
import type { Store } from '../store/db.js';
import { removeDevice as removeStoredDevice } from '../store/devices.js';
import { ClientApi } from './client-api.js';
import { ClientSession, type ClientInfo } from './client-session.js';
import type { Clock, CoreContext, Log } from './context.js';
import { DeviceSession } from './device-session.js';
import { EventBus } from './events.js';
import { Heartbeat } from './heartbeat.js';
import { Jobs } from './jobs.js';
import type { Peer } from './peer.js';
import { Registry } from './registry.js';
import { Router } from './router.js';
import { ClientTokens } from './tokens.js';
import { Views } from './views.js';

export interface HubOptions {
  store: Store;
  limits: Limits;
  clock: Clock;
  log: Log;
  heartbeatMs: number;
  helloTimeoutMs: number;
  controlTimeoutMs: number;
  version: string;
}

export class Hub implements CoreContext {
  readonly store: Store;
  readonly limits: Limits;
  readonly clock: Clock;
  readonly log: Log;
  readonly heartbeatMs: number;
  readonly helloTimeoutMs: number;
  readonly controlTimeoutMs: number;
  readonly version: string;

  readonly events = new EventBus();
  readonly registry = new Registry();
  readonly heartbeat: Heartbeat;
  readonly jobs: Jobs;
  readonly router: Router;
  readonly views: Views;
  readonly tokens: ClientTokens;
  /** The client API's one dispatcher, for every transport that serves clients. */
  readonly api: ClientApi;
  private readonly clients = new Set<ClientSession>();
  /** Every open device connection, from the upgrade on (the registry holds only those that said hello). */
  private readonly deviceSessions = new Set<DeviceSession>();

  constructor(opts: HubOptions) {
    this.store = opts.store;
    this.limits = opts.limits;
    this.clock = opts.clock;
    this.log = opts.log;
    this.heartbeatMs = opts.heartbeatMs;
    this.helloTimeoutMs = opts.helloTimeoutMs;
    this.controlTimeoutMs = opts.controlTimeoutMs;
    this.version = opts.version;
    this.heartbeat = new Heartbeat(opts.heartbeatMs);
    this.jobs = new Jobs(this, (printer) => {
      const view = this.views.printerById(printer);
      if (view !== undefined) this.events.emit({ event: 'printer.status', printer: view });
    });
    this.router = new Router(this);
    this.views = new Views(this.store, this.registry, this.jobs);
    this.tokens = new ClientTokens(this);
    this.api = new ClientApi(this);
  }

  /** A device authenticated as `id` opened a connection; it must say hello next. */
  connectDevice(id: string, peer: Peer, address: string | undefined): DeviceSession {
    const session = new DeviceSession(this, id, peer, address);
    this.deviceSessions.add(session);
    return session;
  }

  /** A device connection ended (closed, replaced or refused), whether or not it said hello. */
  deviceGone(session: DeviceSession): void {
    this.deviceSessions.delete(session);
  }

  /**
   * Removes a registered device: its token stops working for new
   * connections at once, its unfinished jobs fail (DEVICE_REMOVED; one on the
   * device is canceled there first), and its open connections, said hello or
   * not, are closed with 4006 REVOKED, which a device takes as final.
   */
  removeDevice(id: string): RemovedDevice {
    if (!removeStoredDevice(this.store, id)) throw new PrintbridgeError('UNKNOWN_DEVICE', id);
    this.log('info', 'device removed', { device: id });
    this.jobs.deviceRemoved(id);
    let closed = 0;
    for (const session of [...this.deviceSessions]) {
      if (session.id !== id) continue;
      session.close(CLOSE.REVOKED);
      closed += 1;
    }
    return { id, removed: true, closed };
  }

  /** A client connection opened; subscribers hear client.connected. */
  connectClient(peer: Peer, address: string | undefined, info?: ClientInfo): ClientSession {
    const client = new ClientSession(this, peer, address, info);
    this.clients.add(client);
    this.events.add(client);
    this.heartbeat.add(peer);
    this.events.emit({ event: 'client.connected', client: client.view() });
    return client;
  }

  clientGone(client: ClientSession): void {
    if (!this.clients.delete(client)) return;
    this.events.remove(client);
    this.heartbeat.remove(client.peer);
    this.events.emit({ event: 'client.disconnected', client: client.view() });
  }

  /** Connected clients, oldest first. */
  clientViews(): ClientView[] {
    return [...this.clients].map((c) => c.view());
  }

  /** Revokes a client token and closes the connections it opened (4006 REVOKED). */
  revokeToken(idOrToken: string): { id: string; revoked: true; closed: number } {
    const result = this.tokens.revoke(idOrToken);
    let closed = 0;
    for (const client of [...this.clients]) {
      if (client.auth.kind === 'client' && client.auth.tokenId === result.id) {
        client.close(CLOSE.REVOKED.code, CLOSE.REVOKED.text);
        closed += 1;
      }
    }
    return { ...result, closed };
  }

  get clientCount(): number {
    return this.clients.size;
  }

  get onlineDeviceCount(): number {
    return this.registry.size;
  }

  /** Shutdown: settle what waits on timers; connections are closed by the transports. */
  stop(): void {
    this.router.stop();
  }
}
