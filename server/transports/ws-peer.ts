// A `ws` WebSocket seen as a core Peer: clients and the compatibility
// endpoints (devices have their own socket, ws-device.ts).

import { WebSocket } from 'ws';
import type { Peer } from '../core/peer.js';

export class WsPeer implements Peer {
  private killTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly closeGraceMs: number,
  ) {}

  sendText(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(text);
  }

  sendBinary(bytes: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(bytes, { binary: true });
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState !== WebSocket.OPEN && this.ws.readyState !== WebSocket.CONNECTING) return;
    this.ws.close(code, reason);
    // ws would wait 30 s for the peer's half of the closing handshake; a peer
    // we are closing gets a short grace instead, so a dead one frees its
    // socket soon. Left to run when the close finishes first: terminating a
    // closed socket does nothing, and a listener per socket to cancel it
    // would cost every connection, not only the closing ones.
    this.killTimer ??= setTimeout(() => this.ws.terminate(), this.closeGraceMs);
    this.killTimer.unref();
  }

  terminate(): void {
    this.ws.terminate();
  }

  stopReading(): void {
    this.ws.pause();
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}

export function messageText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
