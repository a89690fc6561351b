// The core, assembled: one Hub per server. Transports hand it connections
// (as Peers) and decoded input; it owns the online devices, the job queues,
// the control relay, the event bus and the heartbeat. Nothing here knows
// about ws, http or any other wire.

import type { Limits } from '../limits.js';
import type { Store } from '../store/db.js';
import { ClientSession } from './client-session.js';
import type { Clock, CoreContext, Log } from './context.js';
import { DeviceSession } from './device-session.js';
import { EventBus } from './events.js';
import { Heartbeat } from './heartbeat.js';
import { Jobs } from './jobs.js';
import type { Peer } from './peer.js';
import { Registry } from './registry.js';
import { Router } from './router.js';
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
  private readonly clients = new Set<ClientSession>();

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
  }

  /** A device authenticated as `id` opened a connection; it must say hello next. */
  connectDevice(id: string, peer: Peer, address: string | undefined): DeviceSession {
    return new DeviceSession(this, id, peer, address);
  }

  connectClient(peer: Peer, address: string | undefined): ClientSession {
    const client = new ClientSession(this, peer, address);
    this.clients.add(client);
    this.events.add(client);
    this.heartbeat.add(peer);
    return client;
  }

  clientGone(client: ClientSession): void {
    this.clients.delete(client);
    this.events.remove(client);
    this.heartbeat.remove(client.peer);
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
