// Bounds on an HTTP listener's connections before anyone is known: every
// listener of the server (the main one and the compat one) is made here.
//
// - A request head must arrive within headersTimeoutMs and a whole request
//   within requestTimeoutMs (Node answers 408 and drops the socket). Node
//   checks both on a timer; it runs often enough that a slow opener lives
//   little longer than the timeout.
// - Connections that have not finished their first request head (nor, over
//   TLS, their handshake) are "pending"; at maxPendingHttp the oldest of them
//   is dropped for a new one.
//   A real client sends its head at once, so a flood of slow openers
//   (slowloris) only shortens its own sockets' lives and never fills the
//   listener.
// - maxConnections bounds the listener's sockets of every kind; beyond it Node
//   drops new ones at once.

import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { Server as TlsServer, type TlsOptions } from 'node:tls';
import type { Limits } from '../limits.js';

export type HttpBounds = Pick<Limits, 'maxPendingHttp' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'maxConnections'>;

/** An http server, or an https one with `tls` (to everything else an https.Server is an http.Server). */
export function createBoundedServer(limits: HttpBounds, handler: RequestListener, tls?: TlsOptions): Server {
  const requestTimeout = limits.requestTimeoutMs;
  // Node refuses a head timeout longer than the request timeout.
  const headersTimeout = requestTimeout === 0 ? limits.headersTimeoutMs : Math.min(limits.headersTimeoutMs, requestTimeout);
  const timeouts = { headersTimeout, requestTimeout, connectionsCheckingInterval: checkInterval(headersTimeout) };
  const server: Server = tls === undefined ? createServer(timeouts, handler) : createHttpsServer({ ...tls, ...timeouts }, handler);
  boundConnections(server, limits);
  return server;
}

function boundConnections(server: Server, limits: HttpBounds): void {
  server.maxConnections = limits.maxConnections;
  const pending = new Set<Socket>();
  // One listener shared by every socket (an emitter calls it with itself as
  // `this`), taken off once the socket is identified: a server holding
  // 20,000 devices keeps no closure per socket for this.
  function untrack(this: Socket): void {
    pending.delete(this);
  }
  const track = (socket: Socket): void => {
    pending.add(socket);
    socket.on('close', untrack);
  };
  const settle = (socket: Socket): void => {
    pending.delete(socket);
    socket.removeListener('close', untrack);
  };
  // Counted from the TCP connection on, so that a TLS handshake that never
  // ends is a slow opener too.
  server.on('connection', (socket: Socket) => {
    if (limits.maxPendingHttp === 0) return void socket.destroy();
    if (pending.size >= limits.maxPendingHttp) {
      const oldest = pending.values().next().value as Socket; // not empty: the bound is at least 1
      settle(oldest);
      oldest.destroy();
    }
    track(socket);
  });
  if (server instanceof TlsServer) {
    // Over TLS the HTTP layer reads the decrypted socket, made once the
    // handshake is done; it stands in for its TCP connection, found by the
    // peer's address and port (at most maxPendingHttp to look through).
    server.on('secureConnection', (socket: Socket) => {
      for (const tcp of pending) {
        if (tcp.remotePort !== socket.remotePort || tcp.remoteAddress !== socket.remoteAddress) continue;
        settle(tcp);
        return track(socket);
      }
    });
  }
  const identified = (req: IncomingMessage): void => settle(req.socket as Socket);
  server.prependListener('request', identified);
  server.prependListener('upgrade', identified);
}

/** Node's default is 30 s, which would let a slow opener live 30 s past a 10 s head timeout. */
function checkInterval(headersTimeout: number): number {
  return Math.max(100, Math.min(1000, Math.floor(headersTimeout / 2)));
}
