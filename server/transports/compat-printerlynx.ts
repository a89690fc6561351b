// The Printerlynx-style user API at /api/v1/ws on the main port. That API
// authenticates with its first message, not in the upgrade (a browser cannot
// set headers), so the upgrade is let through and the session
// (server/compat/printerlynx.ts) closes a connection that does not
// authenticate first or in time. Unauthenticated connections count against
// the same bound as the others.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { LynxHub } from '../compat/printerlynx.js';
import type { Hub } from '../core/hub.js';
import type { Verified } from '../core/tokens.js';
import { clientFrameLimit } from '../limits.js';
import { driveSession } from './upgrade.js';
import { WsPeer } from './ws-peer.js';

export const PRINTERLYNX_PATH = '/api/v1/ws';

export interface PrinterlynxEndpoint {
  /** Takes an upgrade for PRINTERLYNX_PATH; false when over the connection bound (the caller refuses it). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  readonly sockets: ReadonlySet<WebSocket>;
  stop(): void;
}

export function createPrinterlynxEndpoint(hub: Hub, opts: { authenticate: (token: string) => Verified; closeGraceMs: number }): PrinterlynxEndpoint {
  const lynx = new LynxHub(hub, opts.authenticate);
  const wss = new WebSocketServer({ noServer: true, maxPayload: clientFrameLimit(hub.limits), perMessageDeflate: false });
  return {
    upgrade(req, socket, head) {
      if (wss.clients.size >= hub.limits.maxClients) return false;
      wss.handleUpgrade(req, socket, head, (ws) => attach(hub, lynx, ws, req.socket.remoteAddress, opts.closeGraceMs));
      return true;
    },
    sockets: wss.clients,
    stop: () => lynx.stop(),
  };
}

function attach(hub: Hub, lynx: LynxHub, ws: WebSocket, address: string | undefined, closeGraceMs: number): void {
  const peer = new WsPeer(ws, closeGraceMs);
  driveSession(hub, ws, peer, lynx.connect(peer, address), 'printerlynx', address);
}
