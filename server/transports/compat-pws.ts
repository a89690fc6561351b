// The PrinterWebSocket.js-style `call` API on a listener of its own
// (`serve --compat-port 8765` → ws://host:8765/), so that a POS page written
// for that API connects unchanged. Decoding, replies and broadcasts are in
// server/compat/pws.ts; this file owns the socket.
//
// That API has no authentication. Defaults keep that safe: the listener binds
// 127.0.0.1, where only this machine reaches it, as the original did. Bound
// to any other address it requires `?token=` (the compat token, else the
// admin token); with a compat token set it always does. A client token from
// token.issue is accepted as `?token=` too, wherever the listener binds: the
// connection then acts with that token's scopes and ends when it is revoked;
// otherwise it may print and nothing more.
//
// Any web page open in the POS machine's browser could open a WebSocket to
// 127.0.0.1:8765, so a browser (which always sends the page's Origin) is let
// in only from the origins in `origins` (`*` for any): none by default, 403
// otherwise. A program that is not a browser sends no Origin and is let in:
// it runs on this machine or holds the token, and could send any Origin it
// liked anyway.
//
// Connections count towards the server's one client bound (client-slots.ts)
// and the listener has the main listener's connection bounds (http-bounds.ts).

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { CLOSE, UPGRADE_REFUSAL } from '../../protocol/errors.js';
import { PwsHub } from '../compat/pws.js';
import type { Hub } from '../core/hub.js';
import { LISTENER, type ClientAuth } from '../core/tokens.js';
import { clientFrameLimit } from '../limits.js';
import { safeEqual, sha256 } from './auth.js';
import type { ClientSlots } from './client-slots.js';
import { createBoundedServer } from './http-bounds.js';
import { peerAddress, type TrustedProxies } from './peer-address.js';
import { closeSocket, driveSession, refuseUpgrade } from './upgrade.js';
import { WsPeer } from './ws-peer.js';

export interface CompatPwsOptions {
  /** TCP port; 0 picks a free one. That API's usual port is 8765. */
  port: number;
  /** Default 127.0.0.1 (this machine only). */
  host?: string | undefined;
  /** Required as ?token= when set; without it, required (as the admin token) only off loopback. */
  token?: string | undefined;
  /** Origins whose pages may connect (e.g. https://pos.example.com, `null` for file:// pages, `*` for any); default none. Clients that send no Origin (not browsers) are let in. */
  origins?: readonly string[] | undefined;
}

export interface CompatPwsListener {
  host: string;
  port: number;
  /** ws://host:port/ */
  url: string;
  /** Whether connections need ?token=. */
  tokenRequired: boolean;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export async function listenCompatPws(
  hub: Hub,
  opts: CompatPwsOptions,
  ctx: { adminToken: string; closeGraceMs: number; slots: ClientSlots; trustedProxies?: TrustedProxies | undefined },
): Promise<CompatPwsListener> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? (LOOPBACK.test(host) ? undefined : ctx.adminToken);
  const tokenHash = token === undefined ? undefined : sha256(token);
  const origins = new Set(opts.origins ?? []);
  const pws = new PwsHub(hub);
  const wss = new WebSocketServer({ noServer: true, maxPayload: clientFrameLimit(hub.limits), perMessageDeflate: false });

  const server = createBoundedServer(hub.limits, (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end('printbridge: PrinterWebSocket-compatible endpoint; connect with a WebSocket\n');
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const origin = req.headers.origin;
      if (origin !== undefined && !origins.has('*') && !origins.has(origin)) {
        return refuse(socket, UPGRADE_REFUSAL.FORBIDDEN, `pages from ${origin.slice(0, 200)} may not connect (serve --compat-origin)`);
      }
      const given = url.searchParams.get('token');
      let auth: ClientAuth = LISTENER;
      if (given !== null && given.startsWith('pbc.')) {
        const who = hub.tokens.verify(given);
        if (!who.ok) return refuse(socket, UPGRADE_REFUSAL.UNAUTHORIZED, who.message);
        auth = who.auth;
      } else if (tokenHash !== undefined) {
        if (given === null || !safeEqual(sha256(given), tokenHash)) return refuse(socket, UPGRADE_REFUSAL.UNAUTHORIZED, 'missing or wrong ?token=');
      }
      const slot = ctx.slots.admitClient();
      if (slot === undefined) return refuse(socket, UPGRADE_REFUSAL.TOO_MANY, 'too many connections');
      socket.once('close', () => slot.release());
      wss.handleUpgrade(req, socket, head, (ws) => attach(hub, pws, ws, peerAddress(req, ctx.trustedProxies), auth, req.headers['user-agent'], ctx.closeGraceMs));
    } catch (e) {
      hub.log('warn', 'compat upgrade failed', { error: e instanceof Error ? e.message : String(e) });
      refuse(socket, UPGRADE_REFUSAL.BAD_REQUEST, 'bad upgrade request');
    }
  });

  const port = await new Promise<number>((done, fail) => {
    server.once('error', fail);
    server.listen(opts.port, host, () => {
      server.off('error', fail);
      const address = server.address();
      done(typeof address === 'object' && address !== null ? address.port : opts.port);
    });
  }).catch((e: unknown) => {
    pws.stop();
    throw e;
  });
  hub.log('info', 'PrinterWebSocket-compatible listener', { host, port, token: token !== undefined });

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    tokenRequired: token !== undefined,
    close() {
      closing ??= (async () => {
        pws.stop();
        const stopped = new Promise<void>((done) => server.close(() => done()));
        await Promise.all([...wss.clients].map((ws) => closeSocket(ws, CLOSE.GOING_AWAY.code, CLOSE.GOING_AWAY.text, ctx.closeGraceMs)));
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}

function attach(hub: Hub, pws: PwsHub, ws: WebSocket, address: string | undefined, auth: ClientAuth, userAgent: string | undefined, closeGraceMs: number): void {
  const peer = new WsPeer(ws, closeGraceMs);
  const session = pws.connect(peer, address, auth, userAgent);
  hub.log('info', 'compat client connected', { address });
  driveSession(hub, ws, peer, session, 'compat', address);
}

function refuse(socket: Duplex, status: number, message: string): void {
  refuseUpgrade(socket, status, { status: 'error', message, status_code: 3 });
}
