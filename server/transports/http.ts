// The HTTP listener: /healthz, REST at /api/v1 (http-api.ts), and the
// WebSocket upgrades for /v1/device and /v1/client, and for /weblink where
// Zebra Link-OS printers dial in (server/weblink/endpoint.ts, which answers
// with a Basic challenge, as those printers expect). Credentials are checked in the upgrade, before a WebSocket
// exists: a refused request gets a plain HTTP status (401 credentials, 400
// malformed, 404 path, 503 too many connections) and its socket is dropped,
// so an unauthenticated peer never costs us a WebSocket, a session or a timer.
// A refused device login is logged, rate-limited and without its token
// (login-refusals.ts).
//
// Each endpoint has its own WebSocketServer so that each has its own frame
// limit: devices only send small JSON, clients send whole jobs.
//
// Before anyone is known, the listener's bounds (http-bounds.ts) hold: a
// request head within headersTimeoutMs, a cap on connections still sending
// one, a cap on all connections. Client WebSocket connections of every
// listener share one bound (client-slots.ts, `slots`, which the compat
// listener is given too).

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { TlsOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { UPGRADE_REFUSAL, type ErrorCode } from '../../protocol/errors.js';
import type { Hub } from '../core/hub.js';
import { clientFrameLimit } from '../limits.js';
import { checkBridgeLogin, isValidDeviceId } from '../store/devices.js';
import { createPrinterlynxEndpoint, PRINTERLYNX_PATH } from './compat-printerlynx.js';
import { API_PREFIX, createRestApi } from './http-api.js';
import { bearer, clientAuthenticator, header } from './auth.js';
import { ClientSlots } from './client-slots.js';
import { createBoundedServer } from './http-bounds.js';
import { attachClient } from './ws-client.js';
import { DeviceSocket } from './ws-device.js';
import { LoginRefusals } from './login-refusals.js';
import { peerAddress, type TrustedProxies } from './peer-address.js';
import { serveStatic } from './static.js';
import { closeSocket, refuseUpgrade } from './upgrade.js';
import { createWeblinkEndpoint, WEBLINK_PATH } from '../weblink/endpoint.js';

export const DEVICE_PATH = '/v1/device';
export const CLIENT_PATH = '/v1/client';

export interface HttpTransportOptions {
  hub: Hub;
  adminToken: string;
  /** How long a peer we close gets to finish the closing handshake before its socket is dropped. */
  closeGraceMs: number;
  /** Serve https and wss with this certificate and key instead of http and ws (tls.ts loads them). */
  tls?: TlsOptions | undefined;
  /** Where Link-OS printers dial in over Weblink (default /weblink). */
  weblinkPath?: string | undefined;
  /** Proxies whose X-Forwarded-For names the peer (peer-address.ts); default none. */
  trustedProxies?: TrustedProxies | undefined;
}

export interface HttpTransport {
  readonly server: Server;
  /** The client connection bound shared by every listener. */
  readonly slots: ClientSlots;
  /** Closes every WebSocket with `code` and resolves when all are gone (stragglers are dropped after the grace). */
  closeAll(code: number, reason: string): Promise<void>;
}

export function createHttpTransport(opts: HttpTransportOptions): HttpTransport {
  const { hub, closeGraceMs, trustedProxies } = opts;
  const clientFrame = clientFrameLimit(hub.limits);
  const devices = DeviceSocket.listener(hub, closeGraceMs);
  const clients = new WebSocketServer({ noServer: true, maxPayload: clientFrame, perMessageDeflate: false });
  const authenticate = clientAuthenticator(hub, opts.adminToken);
  const rest = createRestApi(hub, authenticate, trustedProxies);
  const slots = new ClientSlots(hub.limits);
  const printerlynx = createPrinterlynxEndpoint(hub, { authenticate, closeGraceMs, slots, trustedProxies });
  const refusals = new LoginRefusals(hub.log, () => hub.clock.now());
  const weblink = createWeblinkEndpoint(hub, { closeGraceMs });
  const weblinkPath = opts.weblinkPath ?? WEBLINK_PATH;

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => handleRequest(hub, req, res, rest);
  const server = createBoundedServer(hub.limits, onRequest, opts.tls);
  server.on('clientError', (_err, socket) => socket.destroy());

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', destroySocket);
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const token = bearer(req) ?? url.searchParams.get('token') ?? undefined;
      const address = peerAddress(req, trustedProxies);

      if (url.pathname === DEVICE_PATH) {
        const id = url.searchParams.get('id') ?? header(req, 'x-printbridge-device');
        // Every refusal is logged (rate-limited, without the token); the peer
        // gets the same 401 for an unknown id and a wrong token, so it cannot
        // probe which ids exist.
        if (id === undefined || id === '' || token === undefined) {
          refusals.refused(id, address, 'no credentials');
          return refuse(socket, UPGRADE_REFUSAL.UNAUTHORIZED, 'device id and token are required', 'UNAUTHORIZED');
        }
        if (!isValidDeviceId(id)) {
          refusals.refused(id, address, 'bad id');
          return refuse(socket, UPGRADE_REFUSAL.BAD_REQUEST, 'device id must match [A-Za-z0-9._-]{1,64}', 'BAD_FIELD');
        }
        const login = checkBridgeLogin(hub.store, id, token);
        if (login === 'unknown-device' || login === 'wrong-token') {
          refusals.refused(id, address, login === 'unknown-device' ? 'unknown device' : 'wrong token');
          return refuse(socket, UPGRADE_REFUSAL.UNAUTHORIZED, 'unknown device or wrong token', 'UNAUTHORIZED');
        }
        if (login === 'weblink-printer') {
          refusals.refused(id, address, 'a Weblink printer, not a bridge');
          return refuse(socket, UPGRADE_REFUSAL.FORBIDDEN, `${id} is registered as a Weblink printer; it connects at the Weblink endpoint`, 'FORBIDDEN');
        }
        // A device that is already connected may always reconnect: its new
        // connection replaces the old one, which may be half-open.
        if (devices.sockets.size >= hub.limits.maxDevices && !hub.registry.has(id)) {
          refusals.refused(id, address, 'too many connections');
          return refuse(socket, UPGRADE_REFUSAL.TOO_MANY, 'too many device connections');
        }
        return DeviceSocket.attach(devices, req, socket, head, id, address);
      }

      if (url.pathname === CLIENT_PATH) {
        const who = authenticate(token);
        if (!who.ok) return refuse(socket, UPGRADE_REFUSAL.UNAUTHORIZED, who.message, who.code);
        const slot = slots.admitClient();
        if (slot === undefined) return refuse(socket, UPGRADE_REFUSAL.TOO_MANY, 'too many client connections');
        socket.once('close', () => slot.release());
        const info = { auth: who.auth, userAgent: header(req, 'user-agent')?.slice(0, 200) };
        return clients.handleUpgrade(req, socket, head, (ws) => attachClient(hub, ws, address, clientFrame, closeGraceMs, info));
      }

      if (url.pathname === PRINTERLYNX_PATH) { // authenticates with its first message (compat-printerlynx.ts)
        return void (printerlynx.upgrade(req, socket, head) || refuse(socket, UPGRADE_REFUSAL.TOO_MANY, 'too many client connections'));
      }

      if (url.pathname === weblinkPath) return weblink.upgrade(req, socket, head, address); // Basic login in the upgrade (weblink/endpoint.ts)

      return refuse(socket, UPGRADE_REFUSAL.NOT_FOUND, `no WebSocket endpoint at ${url.pathname}`);
    } catch (e) {
      hub.log('warn', 'upgrade failed', { error: e instanceof Error ? e.message : String(e) });
      return refuse(socket, UPGRADE_REFUSAL.BAD_REQUEST, 'bad upgrade request');
    }
  });

  return {
    server,
    slots,
    closeAll(code, reason) {
      printerlynx.stop();
      const all = [...clients.clients, ...printerlynx.sockets, ...weblink.sockets];
      return Promise.all([
        ...[...devices.sockets].map((d) => d.closeAndWait(code, reason)),
        ...all.map((ws) => closeSocket(ws, code, reason, closeGraceMs)),
      ]).then(() => undefined);
    },
  };
}

/** One listener for every upgrading socket (a closure each would stay with every device connection). */
function destroySocket(this: Duplex): void {
  this.destroy();
}

function handleRequest(hub: Hub, req: IncomingMessage, res: ServerResponse, rest: (req: IncomingMessage, res: ServerResponse, path: string) => void): void {
  let path: string;
  try {
    path = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return json(res, 400, { ok: false, error: { message: 'bad request target' } });
  }
  if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
    return json(res, 200, { ok: true, devices: hub.onlineDeviceCount, clients: hub.clientCount, version: hub.version });
  }
  if (path === API_PREFIX || path.startsWith(`${API_PREFIX}/`)) return rest(req, res, path); // REST: http-api.ts
  if (serveStatic(req, res, path)) return; // the dashboard at /, the browser SDK at /sdk/
  json(res, 404, { ok: false, error: { message: `no route for ${req.method ?? 'GET'} ${path}` } });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function refuse(socket: Duplex, status: number, message: string, code?: ErrorCode): void {
  refuseUpgrade(socket, status, { ok: false, error: code === undefined ? { message } : { code, message } });
}

