// The WebSocket wire format (RFC 6455) for the firmware's own client, as pure
// functions and incremental readers with no I/O, so the same code is proven
// on Node against a real server and runs on XS over any ECMA-419 stream
// socket (TCP or TLS).
//
// Readers take bytes in whatever pieces the socket hands them: a frame may
// straddle any number of reads, and one read may hold many frames. Every
// size a peer controls is bounded: the response head, each message, each
// control frame. A violation is reported with the close code RFC 6455 gives
// it, never thrown.

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** Close codes this side sends for the peer's faults. */
export const WS_CLOSE = { normal: 1000, protocol: 1002, tooBig: 1009 } as const;

/** The most a server's 101 response (status line and headers) may take. */
export const MAX_HEAD = 4096;

export type WsEvent =
  | { readonly kind: 'message'; readonly binary: boolean; readonly data: Uint8Array }
  | { readonly kind: 'ping'; readonly data: Uint8Array }
  | { readonly kind: 'pong' }
  /** The server's close frame; `code` is absent when the frame carried none. */
  | { readonly kind: 'close'; readonly code: number | undefined; readonly reason: Uint8Array }
  /** The server broke the protocol: close with `code`, read nothing more. */
  | { readonly kind: 'fault'; readonly code: number; readonly reason: string };

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function base64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i] ?? 0;
    const b = bytes[i + 1] ?? 0;
    const c = bytes[i + 2] ?? 0;
    out += B64.charAt(a >> 2) + B64.charAt(((a & 3) << 4) | (b >> 4));
    out += i + 1 < bytes.length ? B64.charAt(((b & 15) << 2) | (c >> 6)) : '=';
    out += i + 2 < bytes.length ? B64.charAt(c & 63) : '=';
  }
  return out;
}

/** The upgrade request. `key` is the base64 of 16 random bytes. */
export function upgradeRequest(host: string, port: number, path: string, key: string, headers: readonly (readonly [string, string])[]): string {
  const lines = [
    `GET ${path === '' ? '/' : path} HTTP/1.1`,
    `Host: ${port === 80 || port === 443 ? host : `${host}:${port}`}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
  ];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export type HeadResult =
  /** More bytes needed. */
  | { readonly done: false }
  /** Upgraded; `rest` is what followed the head in the same read (the first frames). */
  | { readonly done: true; readonly ok: true; readonly rest: Uint8Array }
  /** Refused or malformed; `status` is the HTTP status when there was one. */
  | { readonly done: true; readonly ok: false; readonly status: number | undefined; readonly reason: string };

/**
 * Reads the server's response head. The Sec-WebSocket-Accept value is
 * required but not recomputed: that takes SHA-1, which the board would carry
 * only for this, and it proves nothing an attacker on a plain ws:// link
 * could not forge anyway (wss:// is authenticated by TLS).
 */
export class HeadReader {
  private head = '';
  private matched = 0;

  push(bytes: Uint8Array): HeadResult {
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i] ?? 0;
      this.head += String.fromCharCode(c);
      // Count the run of CR LF CR LF that ends the head.
      this.matched = c === (this.matched % 2 === 0 ? 13 : 10) ? this.matched + 1 : c === 13 ? 1 : 0;
      if (this.matched === 4) return this.finish(bytes.subarray(i + 1));
      if (this.head.length >= MAX_HEAD) return { done: true, ok: false, status: undefined, reason: `response head over ${MAX_HEAD} bytes` };
    }
    return { done: false };
  }

  private finish(rest: Uint8Array): HeadResult {
    const lines = this.head.split('\r\n');
    const status = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '');
    if (status === null) return { done: true, ok: false, status: undefined, reason: 'not an HTTP/1.1 response' };
    const code = Number(status[1]);
    if (code !== 101) return { done: true, ok: false, status: code, reason: `upgrade refused: HTTP ${code}` };
    let upgrade = false;
    let connection = false;
    let accept = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === 'upgrade') upgrade = value === 'websocket';
      else if (name === 'connection') connection = value.split(',').some((v) => v.trim() === 'upgrade');
      else if (name === 'sec-websocket-accept') accept = value.length > 0;
    }
    if (!upgrade || !connection || !accept) return { done: true, ok: false, status: code, reason: 'incomplete upgrade response' };
    return { done: true, ok: true, rest };
  }
}

/** One masked client frame. `mask` is 4 random bytes (every client frame is masked, control frames too). */
export function encodeFrame(opcode: number, payload: Uint8Array, mask: Uint8Array): Uint8Array {
  const n = payload.length;
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const header = 2 + lengthBytes + 4;
  const out = new Uint8Array(header + n);
  out[0] = 0x80 | opcode;
  if (lengthBytes === 0) {
    out[1] = 0x80 | n;
  } else if (lengthBytes === 2) {
    out[1] = 0x80 | 126;
    out[2] = n >> 8;
    out[3] = n & 255;
  } else {
    out[1] = 0x80 | 127;
    // Frames this large never leave a board; the high half stays zero.
    out[6] = (n >>> 24) & 255;
    out[7] = (n >>> 16) & 255;
    out[8] = (n >>> 8) & 255;
    out[9] = n & 255;
  }
  const m = header - 4;
  for (let i = 0; i < 4; i++) out[m + i] = mask[i] ?? 0;
  for (let i = 0; i < n; i++) out[header + i] = (payload[i] ?? 0) ^ (mask[i & 3] ?? 0);
  return out;
}

/** The payload of a close frame: the code, big-endian, then the reason's bytes (cut to fit 125). */
export function closePayload(code: number, reason: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + Math.min(reason.length, 123));
  out[0] = code >> 8;
  out[1] = code & 255;
  out.set(reason.subarray(0, out.length - 2), 2);
  return out;
}

type Phase = 'header' | 'payload' | 'failed';

/** Reads server frames, in any pieces, into messages and control events. */
export class FrameReader {
  private phase: Phase = 'header';
  private readonly head = new Uint8Array(10);
  private headLength = 0;
  private opcode = 0;
  private fin = false;
  private remaining = 0;
  /** The frame being read: a control frame's payload, or a data frame's slice of the message. */
  private frame: Uint8Array | undefined;
  private frameAt = 0;
  /** Data frames of the message being assembled. */
  private parts: Uint8Array[] = [];
  private total = 0;
  private messageBinary: boolean | undefined;

  /** `maxMessage`: the largest message (all its fragments) accepted, in bytes. */
  constructor(private readonly maxMessage: number) {}

  push(bytes: Uint8Array, out: WsEvent[]): void {
    let i = 0;
    while (i < bytes.length && this.phase !== 'failed') {
      if (this.phase === 'header') {
        this.head[this.headLength++] = bytes[i++] ?? 0;
        this.headerByte(out);
      } else {
        const frame = this.frame;
        const take = Math.min(this.remaining, bytes.length - i);
        if (frame !== undefined) frame.set(bytes.subarray(i, i + take), this.frameAt);
        this.frameAt += take;
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.frameDone(out);
      }
    }
  }

  private fail(out: WsEvent[], code: number, reason: string): void {
    this.phase = 'failed';
    this.parts = [];
    this.frame = undefined;
    out.push({ kind: 'fault', code, reason });
  }

  /** Called after each header byte: decides once the header is whole. */
  private headerByte(out: WsEvent[]): void {
    const h = this.head;
    if (this.headLength < 2) return;
    const b0 = h[0] ?? 0;
    const b1 = h[1] ?? 0;
    if (this.headLength === 2) {
      if ((b0 & 0x70) !== 0) return this.fail(out, WS_CLOSE.protocol, 'reserved bits set');
      if ((b1 & 0x80) !== 0) return this.fail(out, WS_CLOSE.protocol, 'masked frame from the server');
      this.opcode = b0 & 0x0f;
      this.fin = (b0 & 0x80) !== 0;
      const control = this.opcode >= 8;
      if (control && (!this.fin || (b1 & 0x7f) > 125)) return this.fail(out, WS_CLOSE.protocol, 'bad control frame');
      if (this.opcode !== 0 && this.opcode !== 1 && this.opcode !== 2 && !(control && this.opcode <= 10)) {
        return this.fail(out, WS_CLOSE.protocol, `unknown opcode ${this.opcode}`);
      }
    }
    const short = b1 & 0x7f;
    const need = short === 126 ? 4 : short === 127 ? 10 : 2;
    if (this.headLength < need) return;
    let length = short;
    if (short === 126) length = ((h[2] ?? 0) << 8) | (h[3] ?? 0);
    if (short === 127) {
      // Anything past 2^32 is far over every bound; refuse it without 64-bit arithmetic.
      if ((h[2] ?? 0) !== 0 || (h[3] ?? 0) !== 0 || (h[4] ?? 0) !== 0 || (h[5] ?? 0) !== 0) {
        return this.fail(out, WS_CLOSE.tooBig, 'frame too large');
      }
      length = (h[6] ?? 0) * 0x1000000 + (((h[7] ?? 0) << 16) | ((h[8] ?? 0) << 8) | (h[9] ?? 0));
    }
    this.headLength = 0;
    this.startFrame(length, out);
  }

  private startFrame(length: number, out: WsEvent[]): void {
    if (this.opcode >= 8) {
      this.frame = new Uint8Array(length);
    } else {
      if (this.opcode === OPCODE.continuation && this.messageBinary === undefined) return this.fail(out, WS_CLOSE.protocol, 'continuation without a message');
      if (this.opcode !== OPCODE.continuation && this.messageBinary !== undefined) return this.fail(out, WS_CLOSE.protocol, 'new message inside a fragmented one');
      if (this.opcode !== OPCODE.continuation) this.messageBinary = this.opcode === OPCODE.binary;
      if (this.total + length > this.maxMessage) return this.fail(out, WS_CLOSE.tooBig, `message over ${this.maxMessage} bytes`);
      this.frame = new Uint8Array(length);
    }
    this.frameAt = 0;
    this.remaining = length;
    this.phase = 'payload';
    if (length === 0) this.frameDone(out);
  }

  private frameDone(out: WsEvent[]): void {
    const frame = this.frame ?? new Uint8Array(0);
    this.frame = undefined;
    this.phase = 'header';
    switch (this.opcode) {
      case OPCODE.ping:
        out.push({ kind: 'ping', data: frame });
        return;
      case OPCODE.pong:
        out.push({ kind: 'pong' });
        return;
      case OPCODE.close: {
        if (frame.length === 1) return this.fail(out, WS_CLOSE.protocol, 'close frame of one byte');
        const code = frame.length >= 2 ? (((frame[0] ?? 0) << 8) | (frame[1] ?? 0)) : undefined;
        out.push({ kind: 'close', code, reason: frame.subarray(2) });
        return;
      }
      default:
        break;
    }
    this.parts.push(frame);
    this.total += frame.length;
    if (!this.fin) return;
    const binary = this.messageBinary === true;
    const data = this.parts.length === 1 ? frame : join(this.parts, this.total);
    this.parts = [];
    this.total = 0;
    this.messageBinary = undefined;
    out.push({ kind: 'message', binary, data });
  }
}

function join(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
