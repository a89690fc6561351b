// The Printerlynx-style user API at /api/v1/ws on the main port. That API
// authenticates with its first message, not in the upgrade (a browser cannot
// set headers), so the upgrade is let through and the session
// (server/compat/printerlynx.ts) closes a connection that does not
// authenticate first or in time (4003 after the hello timeout).
//
// Until it has authenticated, a connection costs as little as we can make it:
// it may send frames of maxPreAuthFrame at most (a bigger one is refused from
// its header, before ws buffers it: close 1009), and it holds a pending slot
// (client-slots.ts) that an authenticated client or a newer pending
// connection takes back when there is no other room (close 1013). Once
// authenticated it takes whole jobs and counts as a client.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { CLOSE } from '../../protocol/errors.js';
import { LynxHub } from '../compat/printerlynx.js';
import type { Hub } from '../core/hub.js';
import type { Verified } from '../core/tokens.js';
import { clientFrameLimit } from '../limits.js';
import { header } from './auth.js';
import type { ClientSlots } from './client-slots.js';
import { setFrameLimit } from './frame-limit.js';
import { peerAddress, type TrustedProxies } from './peer-address.js';
import { closeSocket, driveSession } from './upgrade.js';
import { WsPeer } from './ws-peer.js';

export const PRINTERLYNX_PATH = '/api/v1/ws';

export interface PrinterlynxEndpoint {
  /** Takes an upgrade for PRINTERLYNX_PATH; false when there is no room (the caller refuses it). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  readonly sockets: ReadonlySet<WebSocket>;
  stop(): void;
}

export function createPrinterlynxEndpoint(
  hub: Hub,
  opts: { authenticate: (token: string) => Verified; closeGraceMs: number; slots: ClientSlots; trustedProxies?: TrustedProxies | undefined },
): PrinterlynxEndpoint {
  const lynx = new LynxHub(hub, opts.authenticate);
  const clientFrame = clientFrameLimit(hub.limits);
  const wss = new WebSocketServer({ noServer: true, maxPayload: hub.limits.maxPreAuthFrame, perMessageDeflate: false });
  return {
    upgrade(req, socket, head) {
      let ws: WebSocket | undefined;
      const slot = opts.slots.admitPending(() => {
        if (ws === undefined) return void socket.destroy();
        void closeSocket(ws, CLOSE.TRY_AGAIN.code, CLOSE.TRY_AGAIN.text, opts.closeGraceMs);
      });
      if (slot === undefined) return false;
      // The TCP socket's end is the connection's end, whether or not the upgrade completed.
      socket.once('close', () => slot.release());
      wss.handleUpgrade(req, socket, head, (upgraded) => {
        ws = upgraded;
        const address = peerAddress(req, opts.trustedProxies);
        const peer = new WsPeer(upgraded, opts.closeGraceMs);
        let known = false;
        const authenticated = (): void => {
          if (upgraded.readyState !== WebSocket.OPEN) return; // evicted while its login was on the way
          known = true;
          slot.promote();
          setFrameLimit(upgraded, clientFrame);
        };
        // A stranger's bad frame (too big, malformed): ws answers with a close
        // frame and would read and discard whatever else comes until the peer
        // closes. We stop reading instead, and drop the socket after the grace.
        upgraded.once('error', () => {
          if (known) return;
          setImmediate(() => socket.pause()); // after ws has resumed the socket to drain it
          void closeSocket(upgraded, CLOSE.POLICY.code, CLOSE.POLICY.text, opts.closeGraceMs);
        });
        driveSession(hub, upgraded, peer, lynx.connect(peer, address, header(req, 'user-agent')?.slice(0, 200), authenticated), 'printerlynx', address);
      });
      return true;
    },
    sockets: wss.clients,
    stop: () => lynx.stop(),
  };
}
