// /v1/client over WebSocket: decode requests, hand them to the core's
// ClientSession, which replies through the same peer. Authenticated in the
// upgrade (admin token or a client token from token.issue).

import type { WebSocket } from 'ws';
import { decodeClientRequest, type RequestId } from '../../protocol/client-messages.js';
import { CLOSE } from '../../protocol/errors.js';
import { isObj } from '../../protocol/fields.js';
import type { ClientInfo } from '../core/client-session.js';
import type { Hub } from '../core/hub.js';
import { messageText, WsPeer } from './ws-peer.js';

export function attachClient(hub: Hub, ws: WebSocket, address: string | undefined, maxText: number, closeGraceMs: number, info: ClientInfo = {}): void {
  const peer = new WsPeer(ws, closeGraceMs);
  const session = hub.connectClient(peer, address, { ...info, transport: 'ws' });

  // Our own failure while handling input must not take the process down.
  const failed = (e: unknown) => {
    hub.log('error', 'client request crashed', { address, error: e instanceof Error ? e.stack : String(e) });
    session.close(CLOSE.INTERNAL.code, CLOSE.INTERNAL.text);
  };

  ws.on('message', (data, isBinary) => {
    try {
      if (isBinary) return session.binary();
      const text = messageText(data);
      const decoded = decodeClientRequest(text, maxText);
      // Only an object without a string op parsed without its id being read.
      if (!decoded.ok && decoded.id === null && decoded.error.code === 'BAD_MESSAGE') decoded.id = readableId(text);
      session.request(decoded).catch(failed);
    } catch (e) {
      failed(e);
    }
  });
  ws.on('pong', () => session.life());
  ws.on('close', () => session.gone());
  ws.on('error', (err) => hub.log('info', 'client socket error', { address, error: err.message }));
}

/**
 * The decoder only reads the id of a request that has an op; a JSON object
 * without one still deserves an error reply its sender can correlate.
 */
function readableId(text: string): RequestId {
  try {
    const o: unknown = JSON.parse(text);
    const id = isObj(o) ? o['id'] : undefined;
    return (typeof id === 'string' && id.length <= 128) || (typeof id === 'number' && Number.isFinite(id)) ? id : null;
  } catch {
    return null;
  }
}
