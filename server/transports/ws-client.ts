// /v1/client over WebSocket: decode requests, hand them to the core's
// ClientSession, which replies through the same peer. Authenticated in the
// upgrade with the admin token.

import type { WebSocket } from 'ws';
import { decodeClientRequest } from '../../protocol/client-messages.js';
import type { Hub } from '../core/hub.js';
import { messageText, WsPeer } from './ws-peer.js';

export function attachClient(hub: Hub, ws: WebSocket, address: string | undefined, maxText: number, closeGraceMs: number): void {
  const peer = new WsPeer(ws, closeGraceMs);
  const session = hub.connectClient(peer, address);

  ws.on('message', (data, isBinary) => {
    if (isBinary) return session.binary();
    session.request(decodeClientRequest(messageText(data), maxText)).catch((e: unknown) => {
      hub.log('error', 'client request crashed', { error: e instanceof Error ? e.stack : String(e) });
    });
  });
  ws.on('pong', () => session.life());
  ws.on('close', () => session.gone());
  ws.on('error', (err) => hub.log('info', 'client socket error', { address, error: err.message }));
}
