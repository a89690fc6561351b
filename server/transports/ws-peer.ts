// A `ws` WebSocket seen as a core Peer.

import { WebSocket } from 'ws';
import type { Peer } from '../core/peer.js';

export class WsPeer implements Peer {
  private killTimer: NodeJS.Timeout | undefined;
  private readonly sent = (err?: Error): void => {
    if (err === undefined || err === null) this.flushed?.();
  };

  /**
   * `flushed` runs each time a frame has been handed to the OS, which is when
   * room opens in the send buffer; the device transport uses it to resume a
   * job pump that stopped on a full buffer. `sentBinary` runs for each binary
   * frame sent (job data, which the device's rate limit pays back).
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly closeGraceMs: number,
    private readonly flushed?: () => void,
    private readonly sentBinary?: () => void,
  ) {
    ws.once('close', () => clearTimeout(this.killTimer));
  }

  sendText(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text, this.sent);
  }

  sendBinary(bytes: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(bytes, { binary: true }, this.sent);
    this.sentBinary?.();
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState !== WebSocket.OPEN && this.ws.readyState !== WebSocket.CONNECTING) return;
    this.ws.close(code, reason);
    // ws would wait 30 s for the peer's half of the closing handshake; a peer
    // we are closing gets a short grace instead, so a dead one frees its
    // socket soon.
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
