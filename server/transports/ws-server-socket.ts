// The server's own end of a WebSocket (RFC 6455), for the connections a
// server holds by the ten thousand: devices. The `ws` package gives each
// connection a WebSocket, a Receiver stream, a Sender with its queue and
// their listeners, some 1.5 KB and several calls per message; this is one
// object over the socket, reading frames straight from its 'data' chunks.
// Clients and the compatibility endpoints keep `ws`: they are few.
//
// What it accepts is what `ws` accepts with perMessageDeflate off: masked
// frames only, no reserved bits, control frames whole and short, fragments in
// order, text that is valid UTF-8, messages within `maxPayload`, close codes
// RFC 6455 allows. A violation closes with the code the RFC gives it (1002,
// 1007, 1009), as `ws` would.

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { refuseUpgrade } from './upgrade.js';
import { OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, serverFrame } from './ws-frame.js';

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** A subprotocol name: an HTTP token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const OP_CONTINUATION = 0;

export const WS_CLOSE_PROTOCOL = 1002;
export const WS_CLOSE_NO_STATUS = 1005;
export const WS_CLOSE_ABNORMAL = 1006;
export const WS_CLOSE_INVALID_DATA = 1007;
export const WS_CLOSE_TOO_BIG = 1009;

const PING_FRAME = Buffer.from([0x89, 0x00]);

/** Where a connection is: open, closing (a close frame went or came), closed. */
const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

/** What every connection of a listener shares. */
export interface SocketOptions {
  /** The largest message, all its fragments together, in bytes; more closes with 1009. */
  readonly maxPayload: number;
  /** How long the peer has to finish a closing handshake before its socket is dropped. */
  readonly closeGraceMs: number;
}

interface Held {
  /** As long as the frame needs to be read on (its header, or all of it). */
  readonly bytes: Buffer;
  filled: number;
}

interface Fragments {
  readonly parts: Buffer[];
  length: number;
  readonly binary: boolean;
}

/** What a socket is known by to the shared listeners below. */
const owner = Symbol('printbridge.ws');
type Owned = Duplex & { [owner]?: ServerWebSocket };

/** The upgrade request's checks, as `ws` makes them; a reason when it is not a WebSocket handshake we take. */
function handshakeFault(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return 'a WebSocket handshake is a GET';
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return 'Upgrade: websocket is required';
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) return 'missing or invalid Sec-WebSocket-Key';
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'Sec-WebSocket-Version must be 13';
  return undefined;
}

export function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

function closeFrame(code: number | undefined, reason: string): Buffer {
  if (code === undefined) return serverFrame(OP_CLOSE, new Uint8Array(0));
  const text = Buffer.from(reason, 'utf8');
  // A control frame carries at most 125 bytes: the code, then the reason cut to fit.
  const payload = Buffer.allocUnsafe(2 + Math.min(text.length, 123));
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2, 0, payload.length - 2);
  return serverFrame(OP_CLOSE, payload);
}

/**
 * One server-side WebSocket over an upgraded socket. Subclasses say what a
 * message, a pong and the end mean; every listener is shared by all sockets
 * (the socket points back at its owner), so a connection costs this object
 * and the socket's own.
 */
export abstract class ServerWebSocket<O extends SocketOptions = SocketOptions> {
  private readyState = OPEN;
  private closeSent = false;
  /** The peer's close code, or the code of the fault that ended the reading. */
  private closeCode = WS_CLOSE_ABNORMAL;
  private reading = true;
  // What only some connections need at some moments lives in objects of its
  // own, made when needed: a server holds 20,000 of these.
  /** An unfinished frame's bytes. */
  private partial: Held | undefined;
  /** A fragmented message's data frames so far. */
  private fragmented: Fragments | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private closedWaiter: (() => void) | undefined;

  /** `opts` is shared by every connection of a listener. */
  protected constructor(
    protected readonly socket: Duplex,
    protected readonly opts: O,
  ) {}

  /** A whole message: text already checked as UTF-8 and decoded, binary as received. */
  protected abstract onText(text: string): void;
  protected abstract onBinary(data: Buffer): void;
  protected abstract onPong(): void;
  /** The socket is gone; `code` is the peer's close code, a fault's, or 1006. */
  protected abstract onClose(code: number): void;
  protected abstract onError(err: Error): void;

  /**
   * Completes the handshake for `req` and starts reading. False (and the
   * upgrade refused with 400) when it is not a WebSocket handshake we take.
   */
  protected accept(req: IncomingMessage, head: Buffer): boolean {
    const socket = this.socket as Owned;
    const fault = handshakeFault(req);
    if (fault !== undefined) {
      refuseUpgrade(socket, 400, { ok: false, error: { code: 'BAD_REQUEST', message: fault } });
      return false;
    }
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return false;
    }
    const key = req.headers['sec-websocket-key'] as string;
    const accept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64');
    let response = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n`;
    // As `ws` does: the first subprotocol asked for is taken (a client that
    // asks for one fails a handshake that names none).
    const asked = req.headers['sec-websocket-protocol']?.split(',')[0]?.trim();
    if (asked !== undefined && TOKEN.test(asked)) response += `Sec-WebSocket-Protocol: ${asked}\r\n`;
    socket.write(`${response}\r\n`);
    // An upgraded socket lives as long as the device: no idle timeout, and
    // small frames leave at once rather than wait for Nagle.
    const net = socket as Duplex & { setTimeout?(ms: number): void; setNoDelay?(on: boolean): void };
    net.setTimeout?.(0);
    net.setNoDelay?.(true);
    socket[owner] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    if (head.length > 0) this.data(head);
    return true;
  }

  get open(): boolean {
    return this.readyState === OPEN;
  }

  /** Bytes accepted for sending that have not reached the OS. */
  bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /** A write callback, for the writes whose flush someone waits for; made when first needed. */
  private flushed: ((err?: Error | null) => void) | undefined;
  protected flushCallback(): (err?: Error | null) => void {
    return (this.flushed ??= (err) => {
      if (err === undefined || err === null) this.onFlushed();
    });
  }

  /** A write given flushCallback() reached the OS. */
  protected onFlushed(): void {}

  /** Writes a prepared frame; `flush`: report it through onFlushed. */
  protected writeFrame(frame: Buffer, flush: boolean): void {
    if (this.readyState !== OPEN) return;
    if (flush) this.socket.write(frame, this.flushCallback());
    else this.socket.write(frame);
  }

  ping(): void {
    if (this.readyState === OPEN) this.socket.write(PING_FRAME);
  }

  /** Starts the closing handshake; a peer that does not finish it within the grace is cut off. */
  close(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.sendClose(code, reason);
    this.readyState = CLOSING;
    this.killTimer ??= setTimeout(() => this.socket.destroy(), this.opts.closeGraceMs);
    this.killTimer.unref();
  }

  /** close(), resolving once the socket is gone. */
  closeAndWait(code: number, reason: string): Promise<void> {
    if (this.readyState === CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const before = this.closedWaiter;
      this.closedWaiter = () => {
        before?.();
        resolve();
      };
      this.close(code, reason);
    });
  }

  terminate(): void {
    this.socket.destroy();
  }

  /** Reads nothing more (a peer closed for flooding is not even parsed); the close finishes at the grace. */
  stopReading(): void {
    this.reading = false;
    this.socket.pause();
  }

  private sendClose(code: number | undefined, reason: string): void {
    if (this.closeSent) return;
    this.closeSent = true;
    if (this.socket.writable) this.socket.write(closeFrame(code, reason));
  }

  /** The peer broke the protocol: say why, read nothing more, and end. */
  private fault(code: number, reason: string): void {
    this.reading = false;
    this.partial = undefined;
    this.fragmented = undefined;
    this.closeCode = code;
    this.close(code, reason);
    this.socket.end();
  }

  /** @internal the socket's 'data'. */
  data(chunk: Buffer): void {
    if (!this.reading) return;
    let rest = chunk;
    // An unfinished frame grows in one buffer of the size it needs (at most
    // a header, then the whole frame, within maxPayload), not as a list of
    // the chunks it came in: a peer writing a byte at a time must not make
    // the server hold a Buffer object per byte.
    let held = this.partial;
    while (held !== undefined) {
      const take = Math.min(rest.length, held.bytes.length - held.filled);
      rest.copy(held.bytes, held.filled, 0, take);
      held.filled += take;
      rest = rest.subarray(take);
      if (held.filled < held.bytes.length) return;
      const used = this.frame(held.bytes, 0);
      if (used > 0) {
        // The frame was exactly what was held (or a fault ended the reading).
        held = this.partial = undefined;
      } else {
        const bigger = Buffer.allocUnsafe(-used);
        held.bytes.copy(bigger);
        held = this.partial = { bytes: bigger, filled: held.filled };
      }
    }
    let at = 0;
    while (at < rest.length && this.reading) {
      const used = this.frame(rest, at);
      if (used <= 0) {
        // -used bytes from `at` make it readable: kept, copied so that the chunk it came in can go.
        const bytes = Buffer.allocUnsafe(-used);
        const filled = rest.copy(bytes, 0, at);
        this.partial = { bytes, filled };
        return;
      }
      at += used;
    }
  }

  /** Reads the frame at `at`; the bytes it took, or, when it is not all there yet, minus the bytes it needs from `at`. */
  private frame(buf: Buffer, at: number): number {
    const avail = buf.length - at;
    if (avail < 2) return -2;
    const b0 = buf[at] as number;
    const b1 = buf[at + 1] as number;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) return this.refuse(WS_CLOSE_PROTOCOL, 'reserved bits set');
    if ((b1 & 0x80) === 0) return this.refuse(WS_CLOSE_PROTOCOL, 'a client frame must be masked');
    const control = opcode >= 8;
    if (control) {
      if (opcode > OP_PONG) return this.refuse(WS_CLOSE_PROTOCOL, `unknown opcode ${opcode}`);
      if (!fin) return this.refuse(WS_CLOSE_PROTOCOL, 'a fragmented control frame');
      if ((b1 & 0x7f) > 125) return this.refuse(WS_CLOSE_PROTOCOL, 'a control frame over 125 bytes');
    } else if (opcode > OP_BINARY) {
      return this.refuse(WS_CLOSE_PROTOCOL, `unknown opcode ${opcode}`);
    } else if (opcode === OP_CONTINUATION ? this.fragmented === undefined : this.fragmented !== undefined) {
      return this.refuse(WS_CLOSE_PROTOCOL, opcode === OP_CONTINUATION ? 'a continuation with no message to continue' : 'a new message inside a fragmented one');
    }
    const short = b1 & 0x7f;
    const lengthBytes = short === 126 ? 2 : short === 127 ? 8 : 0;
    const head = 2 + lengthBytes + 4;
    if (avail < head) return -head;
    let length = short;
    if (short === 126) {
      length = buf.readUInt16BE(at + 2);
    } else if (short === 127) {
      // Past 2^32 is far over any bound; refused without 64-bit arithmetic.
      if (buf.readUInt32BE(at + 2) !== 0) return this.refuse(WS_CLOSE_TOO_BIG, 'message too large');
      length = buf.readUInt32BE(at + 6);
    }
    const { maxPayload } = this.opts;
    if (!control && (this.fragmented?.length ?? 0) + length > maxPayload) return this.refuse(WS_CLOSE_TOO_BIG, `message over ${maxPayload} bytes`);
    if (avail < head + length) return -(head + length);
    const start = at + head;
    const payload = buf.subarray(start, start + length);
    unmask(payload, buf, at + head - 4);
    if (control) this.control(opcode, payload);
    else this.dataFrame(opcode, fin, payload);
    return head + length;
  }

  private refuse(code: number, reason: string): number {
    this.fault(code, reason);
    return 1;
  }

  private dataFrame(opcode: number, fin: boolean, payload: Buffer): void {
    let f = this.fragmented;
    if (fin && f === undefined) return this.message(opcode === OP_BINARY, payload);
    f ??= this.fragmented = { parts: [], length: 0, binary: opcode === OP_BINARY };
    f.parts.push(payload);
    f.length += payload.length;
    if (!fin) return;
    this.fragmented = undefined;
    this.message(f.binary, Buffer.concat(f.parts, f.length));
  }

  private message(binary: boolean, payload: Buffer): void {
    if (this.readyState !== OPEN) return;
    if (binary) return this.onBinary(payload);
    if (!isUtf8(payload)) return this.fault(WS_CLOSE_INVALID_DATA, 'text is not valid UTF-8');
    this.onText(payload.toString('utf8'));
  }

  private control(opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP_PING:
        if (this.readyState === OPEN) this.socket.write(serverFrame(OP_PONG, payload));
        return;
      case OP_PONG:
        if (this.readyState === OPEN) this.onPong();
        return;
      case OP_CLOSE:
        return this.closeReceived(payload);
      default:
        this.fault(WS_CLOSE_PROTOCOL, `unknown opcode ${opcode}`);
    }
  }

  private closeReceived(payload: Buffer): void {
    let code: number | undefined;
    let reason = '';
    if (payload.length === 1) return this.fault(WS_CLOSE_PROTOCOL, 'a close frame of one byte');
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!validCloseCode(code)) return this.fault(WS_CLOSE_PROTOCOL, `close code ${code} is not allowed`);
      const text = payload.subarray(2);
      if (!isUtf8(text)) return this.fault(WS_CLOSE_INVALID_DATA, 'close reason is not valid UTF-8');
      reason = text.toString('utf8');
    }
    this.reading = false;
    this.closeCode = code ?? WS_CLOSE_NO_STATUS;
    // Echo the peer's close unless ours went first; then the server, as the RFC
    // says, is the one to end the TCP connection.
    this.sendClose(code, reason);
    this.readyState = CLOSING;
    this.socket.end();
    this.killTimer ??= setTimeout(() => this.socket.destroy(), this.opts.closeGraceMs);
    this.killTimer.unref();
  }

  /** @internal the socket's 'error' (the socket is destroyed; 'close' follows). */
  errored(err: Error): void {
    this.onError(err);
  }

  /** @internal the socket's 'end': the peer sent FIN without finishing the handshake. */
  ended(): void {
    this.reading = false;
    this.readyState = CLOSING;
    this.socket.end();
  }

  /** @internal the socket's 'close'. */
  closed(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.reading = false;
    this.partial = undefined;
    this.fragmented = undefined;
    if (this.killTimer !== undefined) clearTimeout(this.killTimer);
    (this.socket as Owned)[owner] = undefined;
    try {
      this.onClose(this.closeCode);
    } finally {
      const waiter = this.closedWaiter;
      this.closedWaiter = undefined;
      waiter?.();
    }
  }
}

/** Unmasks `payload` in place with the 4 mask bytes at `buf[maskAt]`. */
function unmask(payload: Buffer, buf: Buffer, maskAt: number): void {
  const m0 = buf[maskAt] as number;
  const m1 = buf[maskAt + 1] as number;
  const m2 = buf[maskAt + 2] as number;
  const m3 = buf[maskAt + 3] as number;
  const n = payload.length;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    payload[i] = (payload[i] as number) ^ m0;
    payload[i + 1] = (payload[i + 1] as number) ^ m1;
    payload[i + 2] = (payload[i + 2] as number) ^ m2;
    payload[i + 3] = (payload[i + 3] as number) ^ m3;
  }
  if (i < n) payload[i] = (payload[i] as number) ^ m0;
  if (i + 1 < n) payload[i + 1] = (payload[i + 1] as number) ^ m1;
  if (i + 2 < n) payload[i + 2] = (payload[i + 2] as number) ^ m2;
}

// The listeners, shared by every socket: `this` is the socket.
function onSocketData(this: Owned, chunk: Buffer): void {
  this[owner]?.data(chunk);
}
function onSocketEnd(this: Owned): void {
  this[owner]?.ended();
}
function onSocketClose(this: Owned): void {
  this[owner]?.closed();
}
function onSocketError(this: Owned, err: Error): void {
  const ws = this[owner];
  this.destroy();
  ws?.errored(err);
}
