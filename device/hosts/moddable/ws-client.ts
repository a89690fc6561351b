// The firmware's WebSocket client, on an ECMA-419 stream socket (plain TCP,
// or TLS for wss://) with the wire format of ws-codec.ts. It exists because
// the SDK's legacy `websocket` Client answers pings unmasked (servers close
// the link at every heartbeat), loses frames that straddle socket reads and
// reports no close code, and the ECMA-419 example client reports neither the
// HTTP status of a refused upgrade nor bounds what a server sends.
//
// What it guarantees the host: every frame it sends is masked; frames are
// read across any read boundaries; a message larger than `maxMessage` ends
// the link with 1009; a ping is answered; `onClose` is called exactly once,
// with the server's close code, or the HTTP status of a refused upgrade, and
// nothing is reported after it. Writes never exceed what the socket says it
// can take: the rest waits in a bounded queue, and a link that cannot keep
// up with it is closed rather than allowed to grow.

import Net from 'net';
import type { StreamSocket, StreamSocketClass } from 'embedded:io/socket/tcp';
import type { SocketFailure } from '../../core/types.js';
import { closePayload, encodeFrame, FrameReader, HeadReader, OPCODE, upgradeRequest, WS_CLOSE, base64, type WsEvent } from './ws-codec.js';

export interface WsClientOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly headers: readonly (readonly [string, string])[];
  /** The socket class: TCP, or TLSSocket with `socketOptions` naming TCP under it. */
  readonly socket: StreamSocketClass;
  readonly socketOptions?: Readonly<Record<string, unknown>>;
  readonly maxMessage: number;
  /** The most bytes waiting for the socket before the link is declared too slow. */
  readonly maxQueued: number;
  readonly onOpen: () => void;
  readonly onMessage: (data: string | Uint8Array) => void;
  readonly onClose: (info: WsCloseInfo) => void;
}

export interface WsCloseInfo {
  /** The server's close code, when it sent one. */
  readonly code?: number | undefined;
  /** The HTTP status of a refused upgrade. */
  readonly status?: number | undefined;
  /** Why the socket failed before WebSocket, when known. */
  readonly cause?: SocketFailure | undefined;
  readonly reason: string;
}

type Phase = 'resolving' | 'connecting' | 'upgrading' | 'open' | 'closed';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export class WsClient {
  private phase: Phase = 'resolving';
  private socket: StreamSocket | undefined;
  private writable = 0;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private readonly head = new HeadReader();
  private readonly frames: FrameReader;
  /** Set once we sent a close frame: the next close from the server ends the link. */
  private closeSent = false;

  constructor(private readonly o: WsClientOptions) {
    this.frames = new FrameReader(o.maxMessage);
    if (IPV4.test(o.host)) {
      this.open(o.host);
    } else {
      // lwIP's resolver (DHCP's DNS servers) on the board, getaddrinfo on Linux.
      Net.resolve(o.host, (_name, address) => this.guard(() => {
        if (this.phase !== 'resolving') return;
        if (address === undefined || address === '') this.end({ reason: `cannot resolve ${o.host}`, cause: 'dns' });
        else this.open(address);
      }));
    }
  }

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  /** Queues one message. Returns false, and ends the link, if it would overflow the queue. */
  send(data: string | Uint8Array): boolean {
    if (this.phase !== 'open') return false;
    const payload = typeof data === 'string' ? utf8(data) : data;
    return this.enqueue(encodeFrame(typeof data === 'string' ? OPCODE.text : OPCODE.binary, payload, mask()));
  }

  /** Sends a close frame when open, then drops the socket. No onClose follows: the caller closed. */
  close(code: number = WS_CLOSE.normal, reason = ''): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'open' && !this.closeSent) {
      this.closeSent = true;
      // Best effort: a close frame that does not fit now is not worth waiting for.
      const frame = encodeFrame(OPCODE.close, closePayload(code, utf8(reason)), mask());
      if (this.queued === 0 && frame.length <= this.writable) this.write(frame);
    }
    this.phase = 'closed';
    this.dispose();
  }

  private open(address: string): void {
    this.phase = 'connecting';
    try {
      this.socket = new this.o.socket({
        ...this.o.socketOptions,
        address, port: this.o.port, host: this.o.host, format: 'buffer', nodelay: true,
        onReadable: (count: number) => this.guard(() => this.readable(count)),
        onWritable: (count: number) => this.guard(() => this.onWritable(count)),
        onError: () => this.guard(() => this.end(this.phase === 'connecting' ? { reason: 'connect failed', cause: 'refused' } : { reason: 'socket error' })),
      });
    } catch (e) {
      this.end({ reason: `socket: ${String(e)}` });
    }
  }

  /**
   * Socket callbacks run straight from the event loop, where an exception
   * aborts the VM (a board reset): one that escapes our code ends this link
   * instead, and the host reconnects as after any failure.
   */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.end({ reason: `link failed: ${String(e)}` });
    }
  }

  private onWritable(count: number): void {
    if (this.phase === 'closed') return;
    this.writable = count;
    if (this.phase === 'connecting') {
      this.phase = 'upgrading';
      const key = new Uint8Array(16);
      for (let i = 0; i < 16; i++) key[i] = Math.floor(Math.random() * 256);
      this.enqueue(utf8(upgradeRequest(this.o.host, this.o.port, this.o.path, base64(key), this.o.headers)));
      return;
    }
    this.flush();
  }

  private readable(count: number): void {
    const socket = this.socket;
    if (socket === undefined || this.phase === 'closed') return;
    let left = count;
    while (left > 0 && this.socket === socket) {
      const buffer = socket.read(left);
      if (buffer === undefined || buffer.byteLength === 0) return;
      left -= buffer.byteLength;
      this.received(new Uint8Array(buffer));
    }
  }

  private received(bytes: Uint8Array): void {
    if (this.phase === 'upgrading') {
      const result = this.head.push(bytes);
      if (!result.done) return;
      if (!result.ok) return this.end({ status: result.status, reason: result.reason });
      this.phase = 'open';
      this.o.onOpen();
      if (this.phase !== 'open' || result.rest.length === 0) return;
      bytes = result.rest;
    }
    if (this.phase !== 'open') return;
    const events: WsEvent[] = [];
    this.frames.push(bytes, events);
    for (const event of events) {
      if (this.phase !== 'open') return;
      this.event(event);
    }
  }

  private event(e: WsEvent): void {
    switch (e.kind) {
      case 'message':
        this.o.onMessage(e.binary ? e.data : text(e.data));
        return;
      case 'ping':
        this.enqueue(encodeFrame(OPCODE.pong, e.data, mask()));
        return;
      case 'pong':
        return;
      case 'close': {
        const reason = text(e.reason);
        // Echo the close as RFC 6455 asks, then let the server end TCP.
        if (!this.closeSent) {
          this.closeSent = true;
          this.enqueue(encodeFrame(OPCODE.close, closePayload(e.code ?? WS_CLOSE.normal, new Uint8Array(0)), mask()));
        }
        return this.end({ code: e.code, reason });
      }
      case 'fault':
        this.close(e.code, e.reason);
        return this.o.onClose({ code: e.code, reason: `server broke the protocol: ${e.reason}` });
      default:
        return e satisfies never;
    }
  }

  private enqueue(bytes: Uint8Array): boolean {
    if (this.queued + bytes.length > this.o.maxQueued) {
      this.end({ reason: `link too slow: over ${this.o.maxQueued} bytes waiting` });
      return false;
    }
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.flush();
    return true;
  }

  private flush(): void {
    let next: Uint8Array | undefined;
    while (this.socket !== undefined && (next = this.queue[0]) !== undefined && this.writable > 0) {
      if (next.length <= this.writable) {
        this.queue.shift();
        this.queued -= next.length;
        this.write(next);
      } else {
        // Send what fits now; the socket calls onWritable when it has room again.
        const part = next.subarray(0, this.writable);
        this.queue[0] = next.subarray(this.writable);
        this.queued -= part.length;
        this.write(part);
      }
    }
  }

  private write(bytes: Uint8Array): void {
    const socket = this.socket;
    if (socket === undefined) return;
    try {
      this.writable = socket.write(bytes);
    } catch (e) {
      this.end({ reason: `write failed: ${String(e)}` });
    }
  }

  /** The link ended on its own: report once. */
  private end(info: WsCloseInfo): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.dispose();
    this.o.onClose(info);
  }

  private dispose(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.queue.length = 0;
    this.queued = 0;
    try {
      socket?.close();
    } catch {
      // Already closed by the SDK after an error.
    }
  }
}

function mask(): Uint8Array {
  const m = new Uint8Array(4);
  for (let i = 0; i < 4; i++) m[i] = Math.floor(Math.random() * 256);
  return m;
}

// XS's own UTF-8 conversions; they must be called on their constructors.
function utf8(s: string): Uint8Array {
  if (ArrayBuffer.fromString === undefined) throw new Error('ArrayBuffer.fromString is missing');
  return new Uint8Array(ArrayBuffer.fromString(s));
}

function text(bytes: Uint8Array): string {
  if (String.fromArrayBuffer === undefined) throw new Error('String.fromArrayBuffer is missing');
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
  return String.fromArrayBuffer(own as ArrayBuffer);
}
