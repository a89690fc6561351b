// The composition root: opens the store, assembles the core, starts the HTTP
// listener and the heartbeat timer. This is the only place that owns real
// timers and the system clock; the core gets them through `Clock`.

import { Server as HttpsServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { CLOSE } from '../protocol/errors.js';
import { loadOrCreateAdminToken } from './admin-token.js';
import type { Clock, Log } from './core/context.js';
import { Hub } from './core/hub.js';
import type { DeviceSession } from './core/device-session.js';
import { Cluster } from './cluster/cluster.js';
import { liveOwners } from './store/owners.js';
import { filesNeeded, openFileLimit } from './open-files.js';
import { resolveLimits, type Limits } from './limits.js';
import { openStore } from './store/db.js';
import { resolveRetention, type JobRetention } from './retention.js';
import { listenCompatPws, type CompatPwsOptions } from './transports/compat-pws.js';
import { createHttpTransport } from './transports/http.js';
import { TrustedProxies } from './transports/peer-address.js';
import { loadTlsPair, type TlsFiles, type TlsPair } from './transports/tls.js';
import { MqttLink, resolveMqtt, type MqttOptions } from './mqtt/link.js';
import { PACKAGE_VERSION } from './version.js';

export { adminTokenPath, loadOrCreateAdminToken } from './admin-token.js';
export { PrintbridgeError } from './errors.js';
export { DEFAULT_LIMITS, type Limits } from './limits.js';
export { DEFAULT_RETENTION, type JobRetention } from './retention.js';
export type { MqttOptions } from './mqtt/link.js';

export interface ServerOptions {
  /** Default '0.0.0.0'. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default './data'. Holds printbridge.db and admin-token. */
  dataDir?: string;
  /** A PostgreSQL database (postgres://…) several nodes share, instead of the SQLite file in dataDir (which keeps the admin token). */
  storeUrl?: string;
  /** This node's name among the nodes sharing storeUrl (default the host name); each start adds a suffix of its own. */
  node?: string;
  /** Else env PRINTBRIDGE_ADMIN_TOKEN, else generated once into <dataDir>/admin-token and reused. */
  adminToken?: string;
  limits?: Partial<Limits>;
  /**
   * How long jobs are kept. Defaults: finished jobs 7 days and at most
   * 10,000 of them; queued jobs that never reached their printer expire
   * (JOB_EXPIRED) after 24 h; the sweep runs every 60 s. 0 turns a rule off,
   * except that finishedDataMaxBytes (the bytes of finished jobs kept for
   * reprints, 256 MiB all together) 0 keeps none.
   */
  retention?: Partial<JobRetention>;
  /** Ping interval for devices and clients; also sent to devices in welcome. Default 25000. */
  heartbeatMs?: number;
  /** A device must say hello this soon after connecting. Default 10000. */
  helloTimeoutMs?: number;
  /** Default time a control.send waits for device answers. Default 5000. */
  controlTimeoutMs?: number;
  /** Also serve the PrinterWebSocket.js-style API on its own listener (docs/compat.md). */
  compat?: CompatPwsOptions;
  /** Serve https and wss instead of http and ws, with this PEM certificate (chain) and key; `reloadTls()` reads them again. */
  tls?: TlsFiles;
  /** Where Link-OS printers dial in over Weblink (default /weblink). */
  weblinkPath?: string;
  /**
   * Reverse proxies (addresses or CIDR ranges, e.g. 127.0.0.1, 10.0.0.0/8,
   * ::1) whose X-Forwarded-For names the peer: a connection from one of them
   * is known by the address it forwarded for (transports/peer-address.ts).
   * Default none: every peer is known by its socket's address.
   */
  trustProxy?: readonly string[];
  /**
   * Also publish devices, printers and jobs on an MQTT broker, and take
   * commands from it (docs/mqtt.md). The server never waits for the broker:
   * it serves while the broker is away and reconnects with backoff. The node
   * is `node` (default the host name) in its topics and client id.
   */
  mqtt?: MqttOptions;
  log?: Log;
}

export interface RunningServer {
  port: number;
  host: string;
  /** http://host:port, or https://host:port with `tls` */
  url: string;
  adminToken: string;
  /** True when this start created the admin token file (show the token once). */
  adminTokenGenerated: boolean;
  dataDir: string;
  /** Where the rows are: the SQLite file, or the PostgreSQL URL without its password. */
  store: string;
  /** This node's name in the store, when several nodes share it. */
  node?: string | undefined;
  /** The PrinterWebSocket-compatible listener, when `compat` was given. */
  compat?: { host: string; port: number; url: string; tokenRequired: boolean } | undefined;
  /** The MQTT link, when `mqtt` was given. */
  mqtt?: MqttLink | undefined;
  /**
   * Reads the TLS certificate and key files again and serves them to new
   * connections. A pair that does not load is logged as an error and the
   * previous one stays. False when it was not taken or the server has no TLS.
   */
  reloadTls(): boolean;
  /** Closes every socket with 1001, stops timers, closes the database. */
  close(): Promise<void>;
}

/** A peer being closed gets this long to finish the closing handshake. */
const CLOSE_GRACE_MS = 2000;
/** How often the server looks whether another process (the CLI) removed a device from the store. */
const STORE_WATCH_MS = 1000;
/** A TLS handshake must be done this soon after connecting (Node's default is 120 s). */
const TLS_HANDSHAKE_MS = 10_000;

/**
 * The system's clock. What a timer runs is work the core deferred (a
 * batch of job progress to write, a look at the store): a failure there
 * (a database connection cut under it) is logged, and the node goes on.
 */
function systemClock(log: Log): Clock {
  return {
    now: () => Date.now(),
    after(ms, fn) {
      const timer = setTimeout(() => {
        try {
          fn();
        } catch (e) {
          log('error', 'deferred work failed', { error: e instanceof Error ? e.stack : String(e) });
        }
      }, ms);
      timer.unref();
      return () => clearTimeout(timer);
    },
  };
}

/** A node as the store knows it: its name, and a suffix that no other start of it shares (a restarted node holds nothing yet). */
function nodeName(name: string | undefined): string {
  return `${name ?? hostname()}/${randomBytes(3).toString('hex')}`;
}

export const defaultLog: Log = (level, msg, fields) => {
  if (level === 'debug' && process.env['PRINTBRIDGE_DEBUG'] === undefined) return;
  const extra = fields === undefined ? '' : ` ${JSON.stringify(fields)}`;
  process.stderr.write(`${new Date().toISOString()} ${level} ${msg}${extra}\n`);
};

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? '0.0.0.0';
  const dataDir = resolve(opts.dataDir ?? './data');
  const limits = resolveLimits(opts.limits);
  const log = opts.log ?? defaultLog;
  const heartbeatMs = positive('heartbeatMs', opts.heartbeatMs ?? 25_000);
  const retention = resolveRetention(opts.retention);
  // A missing or broken certificate stops the start, before the store is opened.
  const tls = opts.tls === undefined ? undefined : loadTlsPair(opts.tls);
  // So do bad MQTT options or an unreadable CA file.
  const mqttConfig = opts.mqtt === undefined ? undefined : resolveMqtt(opts.mqtt);
  const trustedProxies = new TrustedProxies(opts.trustProxy ?? []);

  const clock = systemClock(log);
  const store = openStore(dataDir, opts.storeUrl);
  try {
    const admin = loadOrCreateAdminToken(dataDir, opts.adminToken);
    // The cluster is built after the hub it listens to; devices say hello only once the server listens.
    const ownership = {
      to: undefined as Cluster | undefined,
      claim: (s: DeviceSession, then: () => boolean) => (ownership.to === undefined ? void then() : ownership.to.claim(s, then)),
      release: (s: DeviceSession) => ownership.to?.release(s) ?? false,
    };
    const hub = new Hub({
      store,
      ownership,
      limits,
      clock,
      log,
      heartbeatMs,
      helloTimeoutMs: positive('helloTimeoutMs', opts.helloTimeoutMs ?? 10_000),
      controlTimeoutMs: positive('controlTimeoutMs', opts.controlTimeoutMs ?? 5_000),
      version: PACKAGE_VERSION,
      retention,
    });
    const cluster = store.bus === undefined ? undefined : new Cluster({
      store, bus: store.bus, clock, log, node: nodeName(opts.node), events: hub.events, registry: hub.registry,
      controls: hub.router,
      stateHere: () => hub.stateHere(),
      closeClientsOf: (tokenId) => void hub.closeClientsOf(tokenId),
      rowsChanged: () => {
        hub.noticeStoreChanges();
        hub.jobs.offerQueued();
      },
    });
    ownership.to = cluster;
    if (cluster !== undefined) {
      hub.router.reachOtherNodes(cluster);
      hub.seeOtherNodes(cluster.elsewhere);
      hub.tokenRevoked = (tokenId) => cluster.tokenRevoked(tokenId);
    }
    const now = Date.now();
    const held = cluster === undefined ? new Set<string>() : new Set(liveOwners(store, now).map((o) => o.device));
    const recovered = hub.jobs.recover((device) => held.has(device));
    if (recovered > 0) log('info', 'jobs interrupted by the last shutdown wait for their devices', { jobs: recovered });
    const sweep = (): void => {
      try {
        hub.jobs.sweep(retention);
      } catch (e) {
        log('error', 'job sweep failed', { error: e instanceof Error ? e.stack : String(e) });
      }
    };
    sweep();
    const transport = createHttpTransport({
      hub, adminToken: admin.token, closeGraceMs: CLOSE_GRACE_MS,
      tls: tls && { ...tls.context, handshakeTimeout: TLS_HANDSHAKE_MS }, weblinkPath: opts.weblinkPath, trustedProxies,
    });
    const port = await listen(transport.server, opts.port ?? 8080, host);
    const compat = opts.compat === undefined ? undefined : await listenCompatPws(hub, opts.compat, { adminToken: admin.token, closeGraceMs: CLOSE_GRACE_MS, slots: transport.slots, trustedProxies })
      .catch((e: unknown) => new Promise<never>((_, fail) => transport.server.close(() => fail(e))));
    // Devices come only now that the server listens; the link hears them from their hello on.
    const mqtt = mqttConfig === undefined ? undefined : new MqttLink(mqttConfig, { hub, clock, log, node: opts.node ?? hostname(), version: PACKAGE_VERSION });
    if (cluster !== undefined && mqtt !== undefined) cluster.nodesGone = (gone) => mqtt.orphaned(gone.devices, gone.printers);
    const heartbeat = setInterval(() => hub.heartbeat.round(clock.now()), heartbeatMs);
    heartbeat.unref();
    const sweeper = setInterval(sweep, retention.sweepMs);
    sweeper.unref();
    const storeWatch = setInterval(() => {
      try {
        hub.noticeStoreChanges();
      } catch (e) {
        log('error', 'store watch failed', { error: e instanceof Error ? e.stack : String(e) });
      }
    }, STORE_WATCH_MS);
    storeWatch.unref();
    const files = openFileLimit();
    if (files !== undefined && files < filesNeeded(limits)) {
      log('warn', 'the open-file limit is below what the connection limits allow; connections past it are refused', {
        openFiles: files, needed: filesNeeded(limits), fix: `ulimit -n ${filesNeeded(limits)} (as root), or LimitNOFILE= in the service unit (docs/deploy.md)`,
      });
    }
    log('info', 'printbridge server listening', { host, port, dataDir, store: store.location, ...(cluster && { node: cluster.node }), version: PACKAGE_VERSION, ...(tls && { tls: certificateFields(tls) }) });

    let closing: Promise<void> | undefined;
    return {
      port,
      host,
      url: `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
      adminToken: admin.token,
      adminTokenGenerated: admin.generated,
      dataDir,
      store: store.location,
      node: cluster?.node,
      compat: compat && { host: compat.host, port: compat.port, url: compat.url, tokenRequired: compat.tokenRequired },
      mqtt,
      reloadTls() {
        if (opts.tls === undefined || !(transport.server instanceof HttpsServer)) return false;
        try {
          const pair = loadTlsPair(opts.tls);
          transport.server.setSecureContext(pair.context);
          log('info', 'TLS certificate reloaded', certificateFields(pair));
          return true;
        } catch (e) {
          log('error', 'TLS certificate not reloaded; the previous one stays', { error: e instanceof Error ? e.message : String(e) });
          return false;
        }
      },
      close() {
        closing ??= (async () => {
          clearInterval(heartbeat);
          clearInterval(sweeper);
          clearInterval(storeWatch);
          cluster?.stop();
          const stopped = new Promise<void>((done) => transport.server.close(() => done()));
          hub.stop();
          await compat?.close();
          // Sessions still run their close handlers (jobs detach, devices go
          // offline) while the store is open; the store closes last.
          await transport.closeAll(CLOSE.GOING_AWAY.code, CLOSE.GOING_AWAY.text);
          transport.server.closeAllConnections();
          await stopped;
          // After the devices' offline states went out, before the store they are read from closes.
          await mqtt?.close();
          store.close();
          log('info', 'printbridge server closed', { port });
        })();
        return closing;
      },
    };
  } catch (e) {
    store.close();
    throw e;
  }
}

function certificateFields(pair: TlsPair): Record<string, string> {
  return { subject: pair.subject, serial: pair.serial, validTo: pair.validTo };
}

/** Whole milliseconds (welcome.hb is an integer on the wire) within what Node timers accept. */
function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > 0x7fffffff) throw new RangeError(`${name} must be a whole number of milliseconds from 1 to 2^31-1, got ${value}`);
  return value;
}

function listen(server: ReturnType<typeof createHttpTransport>['server'], port: number, host: string): Promise<number> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      const address = server.address();
      done(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}
