// The link to the server as the core wants it: a new client per ws.connect,
// the device token in an Authorization header, and exactly one ws.closed per
// client, carrying the server's close code or the HTTP status of a refused
// upgrade, so the core can tell "revoked" from "network trouble".
//
// A client that was closed or replaced is silenced before anything else:
// its late callbacks are ignored, so nothing it says can be taken for the
// current socket's.
//
// The SDK's TLSSocket runs its handshake inside the callbacks of the TCP
// socket under it and throws from there when it refuses the server's
// certificate: uncaught, that would abort the VM (a board reset, and the
// same again at every attempt). The TCP socket given to it here catches
// such a throw, fails the socket instead, and the link reports it as a TLS
// failure with the SDK's reason.

import TCP from 'embedded:io/socket/tcp';
import type { StreamSocket, StreamSocketClass, StreamSocketOptions } from 'embedded:io/socket/tcp';
import TLSSocket from 'embedded:io/socket/tcp/tls';
import type { DeviceEvent } from '../../core/types.js';
import { WsClient } from './ws-client.js';
import { parseWsUrl } from './ws-url.js';

export interface LinkSettings {
  /** DER CA certificate for wss:// (from a resource), or undefined for the SDK's bundled CAs. */
  readonly caCert: () => ArrayBuffer | undefined;
  /** wss is refused until this says the clock is set: certificates are checked against it. */
  readonly clockReady: () => boolean;
  /** Largest message accepted from the server. */
  readonly maxMessage: number;
  /** Largest backlog of outgoing bytes before the link counts as too slow. */
  readonly maxQueued: number;
}

export class ServerSocket {
  private client: WsClient | undefined;
  /** Identifies the current attempt, even before its client exists (it may fail inside its constructor). */
  private attempt: object | undefined;

  constructor(
    private readonly deliver: (event: DeviceEvent) => void,
    private readonly settings: LinkSettings,
  ) {}

  connect(url: string, token: string): void {
    this.drop();
    const target = parseWsUrl(url);
    if (target === undefined) return this.deliver({ type: 'ws.closed', reason: `not a ws:// or wss:// URL: ${url.slice(0, 64)}` });
    if (target.secure && !this.settings.clockReady()) return this.deliver({ type: 'ws.closed', reason: 'wss waits for the clock (SNTP)' });
    let socketOptions: Record<string, unknown> | undefined;
    /** What the TLS layer threw, when it refused the handshake. */
    let tlsFailure: string | undefined;
    if (target.secure) {
      const ca = this.settings.caCert();
      const io = guardedTcp((e) => { tlsFailure ??= e instanceof Error ? e.message : String(e); });
      socketOptions = { TCP: { io }, secure: ca === undefined ? {} : { certificate: ca } };
    }
    const attempt = {};
    this.attempt = attempt;
    const mine = (): boolean => this.attempt === attempt;
    try {
      const client = new WsClient({
        host: target.host, port: target.port, path: target.path,
        headers: [['Authorization', `Bearer ${token}`]],
        socket: target.secure ? TLSSocket : TCP, socketOptions,
        maxMessage: this.settings.maxMessage, maxQueued: this.settings.maxQueued,
        onOpen: () => {
          if (mine()) this.deliver({ type: 'ws.open' });
        },
        onMessage: (data) => {
          if (!mine()) return;
          this.deliver(typeof data === 'string' ? { type: 'ws.text', text: data } : { type: 'ws.binary', bytes: data });
        },
        onClose: (info) => {
          if (!mine()) return;
          this.attempt = undefined;
          this.client = undefined;
          if (tlsFailure !== undefined) return this.deliver({ type: 'ws.closed', reason: tlsFailure, cause: 'tls' });
          this.deliver({
            type: 'ws.closed', reason: info.reason,
            ...(info.code === undefined ? {} : { code: info.code }),
            ...(info.status === undefined ? {} : { status: info.status }),
            ...(info.cause === undefined ? {} : { cause: info.cause }),
          });
        },
      });
      if (mine()) this.client = client;
    } catch (e) {
      this.attempt = undefined;
      this.deliver({ type: 'ws.closed', reason: String(e) });
    }
  }

  send(data: string | Uint8Array): void {
    // A send that overflows ends the client, which reports ws.closed itself.
    this.client?.send(data);
  }

  /** Ends the current client without reporting it: the core already counts it gone. */
  close(code: number, reason: string): void {
    const client = this.client;
    this.client = undefined;
    this.attempt = undefined;
    client?.close(code, reason);
  }

  drop(): void {
    this.close(1000, '');
  }
}

/**
 * A TCP socket whose readable and writable callbacks cannot throw: what the
 * layer above throws from them (TLSSocket's handshake) goes to `failed`,
 * and the socket reports an error, as if the connection had failed.
 */
function guardedTcp(failed: (e: unknown) => void): StreamSocketClass {
  function GuardedTcp(options: StreamSocketOptions): StreamSocket {
    const guard = (fn: ((count: number) => void) | undefined) => (count: number): void => {
      try {
        fn?.(count);
      } catch (e) {
        failed(e);
        options.onError?.();
      }
    };
    return new TCP({ ...options, onReadable: guard(options.onReadable), onWritable: guard(options.onWritable) });
  }
  return GuardedTcp as unknown as StreamSocketClass;
}
