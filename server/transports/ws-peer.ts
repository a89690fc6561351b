// A `ws` WebSocket seen as a core Peer.

import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { Peer, SharedText } from '../core/peer.js';
import { serverTextFrame } from './ws-frame.js';

/** Each shared text's frame, built by the first socket that sends it. */
const frames = new WeakMap<SharedText, Buffer>();

/** Text frames at least this long always report their flush (far above any control or job message). */
const QUIET_TEXT_MAX = 16 * 1024;

/** Who hears of a device connection's sends: the session, once it exists. */
export interface SendWatcher {
  /** A frame reached the OS: room opened in the send buffer (a job pump that stopped on a full one resumes). */
  writable(): void;
  /** A binary frame was sent (job data, which the device's rate limit pays back). */
  dataSent(): void;
}

export class WsPeer implements Peer {
  private killTimer: NodeJS.Timeout | undefined;
  /** Set once, by the device transport; one field rather than a closure per callback, since a server holds 20,000 of these. */
  watcher: SendWatcher | undefined;
  private readonly sent = (err?: Error | null): void => {
    if (err === undefined || err === null) this.watcher?.writable();
  };

  /**
   * `socket` is the upgraded socket under `ws`: with it, a shared text's
   * prebuilt frame is written to it directly.
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly closeGraceMs: number,
    private readonly socket?: Duplex,
  ) {}

  sendText(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    // A write callback costs the socket a request object and a tick each; a
    // broadcast to 10,000 devices paid more for them than for the frames.
    // Only a write that queues behind others (or is large) can be what a
    // waiting job pump needs to hear flushed: the first into an empty buffer
    // goes to the kernel at once, and any write queued after it fires later.
    if (this.ws.bufferedAmount > 0 || text.length >= QUIET_TEXT_MAX) this.ws.send(text, this.sent);
    else this.ws.send(text);
  }

  sendShared(shared: SharedText): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const { socket } = this;
    // ws writes a frame to the socket as soon as it is sent, unless an
    // extension transforms it (then each socket's frame differs) or it holds
    // frames back itself (what it buffers beyond the socket's own queue):
    // only then would a frame written past it differ or overtake one.
    if (socket === undefined || this.ws.extensions !== '' || this.ws.bufferedAmount > socket.writableLength) return this.sendText(shared.text);
    let frame = frames.get(shared);
    if (frame === undefined) {
      frame = serverTextFrame(shared.text);
      frames.set(shared, frame);
    }
    if (socket.writableLength > 0 || frame.length >= QUIET_TEXT_MAX) socket.write(frame, this.sent);
    else socket.write(frame);
  }

  sendBinary(bytes: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(bytes, { binary: true }, this.sent);
    this.watcher?.dataSent();
  }

  batch(send: () => void): void {
    const { socket } = this;
    if (socket === undefined) return send();
    // ws corks the socket around each frame; corks nest, so an outer one
    // holds every frame of the batch for one write when it is lifted.
    socket.cork();
    try {
      send();
    } finally {
      socket.uncork();
    }
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
