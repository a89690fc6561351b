// The core, assembled: one Hub per server. Transports hand it connections
// (as Peers) and decoded input; it owns the online devices, the job queues,
// the control relay, the event bus and the heartbeat. Nothing here knows
// about ws, http or any other wire.
//
// It is also the core's composition root: it builds the parts and hands
// each only what it uses (DeviceSessionDeps, JobsDeps, RouterDeps…, each
// declared by the part that uses it), so that a part can be built alone in
// a test and no part imports this file (test/architecture.test.ts).

import type { ClientEvent, ClientView, RemovedDevice } from '../../protocol/client-messages.js';
import { CLOSE } from '../../protocol/errors.js';
import { PrintbridgeError } from '../errors.js';
import type { Limits } from '../limits.js';
import type { JobRetention } from '../retention.js';
import { changesElsewhere, type Store } from '../store/db.js';
import { registeredIds, removeDevice as removeStoredDevice } from '../store/devices.js';
import { ClientApi } from './client-api.js';
import type { ClientConnection } from './client-connection.js';
import { ClientSession, type ClientInfo, type ClientSessionDeps } from './client-session.js';
import type { Clock, Log } from './context.js';
import { DeviceSession, SOLE_NODE, type DeviceOwnership, type DeviceSessionDeps } from './device-session.js';
import { EventBus } from './events.js';
import { LogBurst } from './log-burst.js';
import { Heartbeat } from './heartbeat.js';
import { Jobs } from './jobs.js';
import type { Peer } from './peer.js';
import { Registry } from './registry.js';
import { Router } from './router.js';
import { ClientTokens } from './tokens.js';
import { Views, type OtherNodes } from './views.js';
import { WeblinkPrinters } from '../weblink/printers.js';

export interface HubOptions {
  store: Store;
  limits: Limits;
  clock: Clock;
  log: Log;
  heartbeatMs: number;
  helloTimeoutMs: number;
  controlTimeoutMs: number;
  version: string;
  /** How long jobs and their bytes are kept (default DEFAULT_RETENTION). */
  retention?: JobRetention | undefined;
  /** Which node holds each device, when several share the store (default: this one alone). */
  ownership?: DeviceOwnership | undefined;
}

export class Hub {
  readonly store: Store;
  readonly limits: Limits;
  readonly clock: Clock;
  readonly log: Log;
  readonly heartbeatMs: number;
  readonly helloTimeoutMs: number;
  readonly controlTimeoutMs: number;
  readonly version: string;

  readonly events = new EventBus((error, event) =>
    this.log('error', 'event not delivered to a listener', { event, error: error instanceof Error ? error.stack : String(error) }),
  );
  readonly registry = new Registry<DeviceSession>();
  readonly heartbeat: Heartbeat;
  readonly jobs: Jobs;
  readonly router: Router;
  readonly views: Views;
  readonly tokens: ClientTokens;
  /** The client API's one dispatcher, for every transport that serves clients. */
  readonly api: ClientApi;
  /** Link-OS printers connected over Weblink, by serial (each is also a device session in the registry). */
  readonly weblink = new WeblinkPrinters();
  /** A device's comings and goings, one line each until a fleet comes and goes at once. */
  readonly deviceLines: { readonly online: LogBurst; readonly offline: LogBurst; readonly replaced: LogBurst };
  /** Every client connection, whatever its transport. */
  private readonly clients = new Set<ClientConnection>();
  /** Every open device connection, from the upgrade on (the registry holds only those that said hello). */
  private readonly deviceSessions = new Set<DeviceSession>();
  private otherClients: (() => ClientView[]) | undefined;
  /** The store's data_version when noticeStoreChanges last looked. */
  private storeVersion: number | undefined;
  /** What every device session uses: one object for all of them. */
  private readonly sessionDeps: DeviceSessionDeps;
  /** What every client connection of /v1/client uses. */
  private readonly clientDeps: ClientSessionDeps;

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
    this.deviceLines = {
      online: new LogBurst(this.log, this.clock, 'info', 'device online'),
      offline: new LogBurst(this.log, this.clock, 'info', 'device offline'),
      replaced: new LogBurst(this.log, this.clock, 'info', 'device connection replaced by a newer one'),
    };
    const { store, clock, log, limits, events, registry } = this;
    this.jobs = new Jobs(
      { store, clock, log, limits, events, registry },
      (printer) => {
        const view = this.views.printerById(printer);
        if (view !== undefined) this.events.emit({ event: 'printer.status', printer: view });
      },
      () => this.noticeStoreChanges(),
      opts.retention,
    );
    this.router = new Router({ store, clock, log, registry, events });
    this.views = new Views(store, registry, this.jobs);
    this.tokens = new ClientTokens({ store, clock, log });
    this.api = new ClientApi({
      store, clock, limits, version: this.version, controlTimeoutMs: this.controlTimeoutMs,
      jobs: this.jobs, views: this.views, router: this.router, tokens: this.tokens, weblink: this.weblink,
      clientViews: () => this.clientViews(),
      revokeToken: (idOrToken) => this.revokeToken(idOrToken),
      removeDevice: (id) => this.removeDevice(id),
    });
    this.sessionDeps = {
      store, clock, log, limits, helloTimeoutMs: this.helloTimeoutMs, heartbeatMs: this.heartbeatMs, heartbeat: this.heartbeat,
      registry, ownership: opts.ownership ?? SOLE_NODE, connections: this.deviceSessions, jobs: this.jobs, controls: this.router, events, views: this.views, lines: this.deviceLines,
    };
    this.clientDeps = { clock, log, limits, api: this.api, heartbeat: this.heartbeat, gone: (client) => this.clientGone(client) };
  }

  /** A device authenticated as `id` opened a connection; it must say hello next. */
  connectDevice(id: string, peer: Peer, address: string | undefined): DeviceSession {
    const session = new DeviceSession(this.sessionDeps, id, peer, address);
    this.deviceSessions.add(session);
    return session;
  }

  /**
   * Removes a registered device: its token stops working for new
   * connections at once, its unfinished jobs fail (DEVICE_REMOVED; one on the
   * device is canceled there first), and its open connections, said hello or
   * not, are closed with 4006 REVOKED, which a device takes as final.
   */
  removeDevice(id: string): RemovedDevice {
    // Its last view, for those who follow it (a device removed while offline goes away from their lists, and from the broker).
    const last = this.views.device(id);
    if (!removeStoredDevice(this.store, id)) throw new PrintbridgeError('UNKNOWN_DEVICE', id);
    this.log('info', 'device removed', { device: id });
    const closed = this.deviceRemoved(id);
    if (last !== undefined) this.events.emit({ event: 'device.removed', device: { ...last, online: false, caps: undefined } });
    return { id, removed: true, closed };
  }

  /**
   * Another process may remove a device from the store while this server
   * runs (`printbridge devices remove --offline`, or when the CLI finds no
   * server at the URL it tried). The composition root calls this often; it
   * costs one pragma read unless the file changed, and then a connected
   * device that is no longer registered is treated as removed here.
   */
  noticeStoreChanges(): void {
    const version = changesElsewhere(this.store);
    if (version === this.storeVersion) return;
    this.storeVersion = version;
    // One read of every id, not a lookup per connection: at 10,000 connected
    // devices the lookups stalled the pump that asked for ~95 ms, this ~6 ms.
    const registered = registeredIds(this.store).set;
    for (const id of new Set([...this.deviceSessions].map((s) => s.id))) {
      if (registered.has(id)) continue;
      this.log('info', 'device removed by another process', { device: id });
      this.deviceRemoved(id);
    }
    // Last, so that the jobs just ended here are counted as the store has them.
    this.jobs.storeChanged();
  }

  /** A removed device's jobs end and its connections close; returns how many closed. */
  private deviceRemoved(id: string): number {
    this.jobs.deviceRemoved(id);
    let closed = 0;
    for (const session of [...this.deviceSessions]) {
      if (session.id !== id) continue;
      session.close(CLOSE.REVOKED);
      closed += 1;
    }
    return closed;
  }

  /** A client connection opened; subscribers hear client.connected. */
  connectClient(peer: Peer, address: string | undefined, info?: ClientInfo): ClientSession {
    const client = new ClientSession(this.clientDeps, peer, address, info);
    this.events.add(client);
    this.heartbeat.add(peer);
    this.clientOpened(client);
    return client;
  }

  clientGone(client: ClientSession): void {
    this.events.remove(client);
    this.heartbeat.remove(client.peer);
    this.clientClosed(client);
  }

  /** A client connection of any transport authenticated: it is listed and revocable from now on. */
  clientOpened(client: ClientConnection): void {
    this.clients.add(client);
    this.events.emit({ event: 'client.connected', client: client.view() });
  }

  clientClosed(client: ClientConnection): void {
    if (!this.clients.delete(client)) return;
    this.events.emit({ event: 'client.disconnected', client: client.view() });
  }

  /** Connected clients, oldest first; then those of other nodes, when the store is shared. */
  clientViews(): ClientView[] {
    const here = [...this.clients].map((c) => c.view());
    return this.otherClients === undefined ? here : [...here, ...this.otherClients()];
  }

  /** From now on, lists show what other nodes of a cluster hold as well. */
  seeOtherNodes(others: OtherNodes & { clientViews(): ClientView[] }): void {
    this.views.seeOtherNodes(others);
    this.otherClients = () => others.clientViews();
  }

  /** Every device, printer and client this node holds, as the events that announced them: what a node that starts is told. */
  stateHere(): ClientEvent[] {
    const out: ClientEvent[] = [];
    for (const session of this.registry.all()) {
      if (session.phase !== 'online') continue;
      out.push({ event: 'device.online', device: this.views.deviceOf(session) });
      for (const printer of this.views.printersOf(session)) out.push({ event: 'printer.status', printer });
    }
    for (const client of this.clients) out.push({ event: 'client.connected', client: client.view() });
    return out;
  }

  /** Revokes a client token and closes the connections it opened on every transport (4006 REVOKED). */
  revokeToken(idOrToken: string): { id: string; revoked: true; closed: number } {
    const result = this.tokens.revoke(idOrToken);
    const closed = this.closeClientsOf(result.id);
    this.tokenRevoked?.(result.id);
    return { ...result, closed };
  }

  /** Closes the connections a client token opened here (4006 REVOKED); returns how many. */
  closeClientsOf(tokenId: string): number {
    let closed = 0;
    for (const client of [...this.clients]) {
      if (client.auth.kind === 'client' && client.auth.tokenId === tokenId) {
        client.close(CLOSE.REVOKED.code, CLOSE.REVOKED.text);
        closed += 1;
      }
    }
    return closed;
  }

  /** Set when other nodes share the store: they close that token's connections too. */
  tokenRevoked: ((tokenId: string) => void) | undefined;

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
