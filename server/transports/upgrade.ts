// What every WebSocket listener of the server does the same way: refuse an
// upgrade with a plain HTTP answer before any socket exists, close a socket
// with a grace period for the closing handshake, and wire a compatibility
// session to its socket so that our own failure on one connection is logged
// and closes only that connection.

import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { CLOSE } from '../../protocol/errors.js';
import type { Hub } from '../core/hub.js';
import { messageText, WsPeer } from './ws-peer.js';

/** Answers an upgrade request with `status` and a JSON body, then drops the TCP socket. */
export function refuseUpgrade(socket: Duplex, status: number, body: unknown): void {
  if (!socket.writable) return void socket.destroy();
  const text = JSON.stringify(body);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

/** Closes with `code`; a peer that does not finish the closing handshake within `graceMs` is cut off. */
export function closeSocket(ws: WebSocket, code: number, reason: string, graceMs: number): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => ws.terminate(), graceMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
  });
}

/** The part of a compatibility adapter's session that its socket drives. */
export interface SocketSession {
  message(text: string): Promise<void>;
  binary(): void;
  life(): void;
  gone(): void;
}

/** Feeds a socket's frames to `session`; `label` names the adapter in logs. */
export function driveSession(hub: Hub, ws: WebSocket, peer: WsPeer, session: SocketSession, label: string, address: string | undefined): void {
  // Our own failure while handling input must not take the process down.
  const failed = (e: unknown): void => {
    hub.log('error', `${label} request crashed`, { address, error: e instanceof Error ? e.stack : String(e) });
    session.gone();
    peer.close(CLOSE.INTERNAL.code, CLOSE.INTERNAL.text);
  };
  ws.on('message', (data, isBinary) => {
    try {
      if (isBinary) session.binary();
      else session.message(messageText(data)).catch(failed);
    } catch (e) {
      failed(e);
    }
  });
  ws.on('pong', () => session.life());
  ws.on('close', () => {
    session.gone();
    hub.log('info', `${label} client disconnected`, { address });
  });
  ws.on('error', (err) => hub.log('info', `${label} socket error`, { address, error: err.message }));
}
