// The bridge's WebSocket to the server, as the device core wants it: a new
// `ws` socket per connect effect, the token in an Authorization header, and
// exactly one ws.closed per socket, carrying the HTTP status when the server
// refused the upgrade (401: not registered, or a wrong token) and, when the
// socket failed below WebSocket, what Node said as a SocketFailure (connection
// refused, DNS, timeout, no route, TLS) for the core's diagnosis. A socket that
// was replaced or abandoned is silenced first, so nothing it says later can
// reach the core as if it came from the current one. For wss:// the server's
// certificate is checked against the given CA (PEM) instead of Node's public
// roots, as the firmware does with its caCert.

import WebSocket from 'ws';
import type { DeviceEvent, LogLevel, SocketFailure } from '../../core/types.js';

/** Bounds a server that never answers our close frame. */
const CLOSE_GRACE_MS = 2_000;

export type SocketPhase = 'none' | 'connecting' | 'open' | 'closing';

export class DeviceSocket {
  private ws: WebSocket | undefined;
  /** Abandoned sockets still closing, with their kill timers, so shutdown leaves nothing behind. */
  private readonly abandoned = new Map<WebSocket, NodeJS.Timeout>();

  constructor(
    private readonly deliver: (event: DeviceEvent) => void,
    private readonly log: (level: LogLevel, message: string) => void,
    /** PEM certificates the server's certificate must chain to; Node's public roots when undefined. */
    private readonly ca?: string | Buffer,
  ) {}

  get phase(): SocketPhase {
    switch (this.ws?.readyState) {
      case WebSocket.CONNECTING:
        return 'connecting';
      case WebSocket.OPEN:
        return 'open';
      case WebSocket.CLOSING:
        return 'closing';
      default:
        return 'none';
    }
  }

  connect(url: string, token: string): void {
    // Usually the previous socket is still finishing a close the core asked
    // for; the core has moved on, so it is cut off rather than waited for.
    if (this.ws) {
      this.log('debug', 'new connection while the previous socket is still closing: dropping it');
      this.abandon('replaced by a new connection');
    }
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, ...(this.ca === undefined ? {} : { ca: this.ca }) });
    ws.binaryType = 'nodebuffer';
    this.ws = ws;
    let lastError: string | undefined;
    let failure: SocketFailure | undefined;
    /** The HTTP status of a refused upgrade. */
    let refusedWith: number | undefined;
    let reported = false;
    const mine = (): boolean => this.ws === ws;

    ws.on('open', () => {
      if (mine()) this.deliver({ type: 'ws.open' });
    });
    ws.on('message', (data: Buffer, isBinary) => {
      if (!mine()) return;
      if (isBinary) this.deliver({ type: 'ws.binary', bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
      else this.deliver({ type: 'ws.text', text: data.toString('utf8') });
    });
    // Any answer but 101: with this listener ws leaves the request to us, so
    // we end it, and the 'error' and 'close' that follow report it once.
    ws.on('unexpected-response', (_request, response) => {
      refusedWith = response.statusCode;
      lastError = `upgrade refused with HTTP ${response.statusCode}`;
      response.resume();
      ws.terminate();
    });
    // ws always follows 'error' with 'close'; remember why for the close report.
    ws.on('error', (e: NodeJS.ErrnoException) => {
      if (refusedWith !== undefined) return;
      failure = socketFailure(e);
      lastError = failure === 'tls' ? tlsReason(e) : e.message;
    });
    ws.on('close', (code, reason) => {
      if (!mine() || reported) return;
      reported = true;
      this.ws = undefined;
      this.deliver({
        type: 'ws.closed', code, reason: reason.toString() || lastError || '',
        ...(refusedWith === undefined ? {} : { status: refusedWith }),
        ...(failure === undefined ? {} : { cause: failure }),
      });
    });
  }

  send(data: string | Uint8Array): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      this.log('debug', 'send with no open socket: dropped');
      return;
    }
    ws.send(data, { binary: typeof data !== 'string' });
  }

  close(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    try {
      ws.close(code, reason);
    } catch {
      // A code that may not be sent on the wire (1005, 1006...): just drop the link.
      ws.terminate();
    }
  }

  /** Silences and drops the current socket without telling the core. */
  abandon(reason = 'bridge restarting'): void {
    const ws = this.ws;
    this.ws = undefined;
    if (!ws) return;
    ws.on('error', () => {});
    if (ws.readyState !== WebSocket.OPEN) return void ws.terminate();
    ws.once('close', () => {
      clearTimeout(this.abandoned.get(ws));
      this.abandoned.delete(ws);
    });
    this.abandoned.set(ws, setTimeout(() => ws.terminate(), CLOSE_GRACE_MS));
    ws.close(1001, reason);
  }

  /** Closes politely and waits, terminating a peer that does not answer. */
  async shutdown(code = 1001, reason = 'bridge stopping'): Promise<void> {
    for (const [old, timer] of this.abandoned) {
      clearTimeout(timer);
      old.terminate();
    }
    this.abandoned.clear();
    const ws = this.ws;
    this.ws = undefined;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    ws.on('error', () => {});
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
      else ws.terminate();
    });
  }
}

/** Node's error codes for a socket that never got to speak WebSocket, as the core's SocketFailure. */
export function socketFailure(e: NodeJS.ErrnoException): SocketFailure | undefined {
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return 'dns';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return 'unreachable';
    default:
      return isTlsError(e) ? 'tls' : undefined;
  }
}

/**
 * OpenSSL's verification codes (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT,
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE…), Node's ERR_TLS_* and ERR_SSL_* (a wss://
 * URL for a plain server gives ERR_SSL_WRONG_VERSION_NUMBER), and older
 * Nodes' EPROTO with an SSL message.
 */
function isTlsError(e: NodeJS.ErrnoException): boolean {
  const code = e.code ?? '';
  if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code.includes('CERT') || code.includes('SIGNATURE')) return true;
  return /\b(SSL|TLS)\b/.test(e.message) && (code === 'EPROTO' || code === 'ECONNRESET' || code === '');
}

/**
 * A TLS failure in a few words: OpenSSL's reason rather than its whole error
 * string ("wrong version number", which means the server does not speak TLS
 * there), or Node's certificate message ("self-signed certificate").
 */
function tlsReason(e: NodeJS.ErrnoException): string {
  const parts = e.message.split(':');
  const lib = parts.indexOf('SSL routines');
  const reason = lib >= 0 ? parts[lib + 2]?.trim() : undefined;
  if (reason === 'wrong version number') return 'wrong version number: the server does not speak TLS on that port';
  if (reason) return reason;
  return e.code !== undefined && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
}
