// The link to the server over the SDK's legacy WebSocket `Client`, as the
// core wants it: a new client per ws.connect, the device token in an
// Authorization header, and exactly one ws.closed per client. The client
// answers pings by itself but exposes no ping or pong, which is why the core
// keeps its own heartbeat; it sends no close frame on close(), so closing is
// just dropping the TCP connection.
//
// A client that was closed or replaced is silenced before anything else:
// its late callbacks are ignored, so nothing it says can be taken for the
// current socket's.

import { Client, type WebSocketClientOptions, type WebSocketTlsOptions } from 'websocket';
import SecureSocket from 'securesocket';
import Resource from 'Resource';
import type { DeviceEvent } from '../../core/types.js';
import { parseWsUrl } from './ws-url.js';

export interface TlsSettings {
  /** Resource name of a DER CA certificate, or "" for the SDK's bundled CA resources. */
  readonly caCert: string;
  /** wss is refused until this says the clock is set: certificates are checked against it. */
  readonly clockReady: () => boolean;
}

export class ServerSocket {
  private client: Client | undefined;

  constructor(
    private readonly deliver: (event: DeviceEvent) => void,
    private readonly tls: TlsSettings,
  ) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  connect(url: string, token: string): void {
    this.drop();
    const target = parseWsUrl(url);
    if (target === undefined) return this.deliver({ type: 'ws.closed', reason: `not a ws:// or wss:// URL: ${url.slice(0, 64)}` });
    if (target.secure && !this.tls.clockReady()) return this.deliver({ type: 'ws.closed', reason: 'wss waits for the clock (SNTP)' });
    const options: WebSocketClientOptions & WebSocketTlsOptions = {
      host: target.host, port: target.port, path: target.path,
      headers: ['Authorization', `Bearer ${token}`],
    };
    if (target.secure) {
      options.Socket = SecureSocket;
      const secure: Record<string, unknown> = { protocolVersion: 0x303, serverName: target.host };
      if (this.tls.caCert !== '' && Resource.exists(this.tls.caCert)) secure['certificate'] = new Resource(this.tls.caCert);
      options.secure = secure;
    }
    let client: Client;
    try {
      client = new Client(options);
    } catch (e) {
      return this.deliver({ type: 'ws.closed', reason: String(e) });
    }
    this.client = client;
    client.callback = (message: number, value?: unknown) => {
      if (this.client !== client) return;
      if (message === Client.handshake) {
        this.deliver({ type: 'ws.open' });
      } else if (message === Client.receive) {
        if (typeof value === 'string') this.deliver({ type: 'ws.text', text: value });
        else if (value instanceof ArrayBuffer) this.deliver({ type: 'ws.binary', bytes: new Uint8Array(value) });
      } else if (message === Client.disconnect) {
        this.client = undefined;
        this.deliver({ type: 'ws.closed', reason: 'disconnected' });
      }
    };
  }

  send(data: string | Uint8Array): void {
    const client = this.client;
    if (client === undefined) return;
    try {
      client.write(typeof data === 'string' ? data : ownBuffer(data));
    } catch (e) {
      // A send that does not fit the TCP send buffer throws; the socket is
      // no longer usable in step with the core, so end it through the funnel.
      this.drop();
      this.deliver({ type: 'ws.closed', reason: `send failed: ${String(e)}` });
    }
  }

  /** Ends the current client without reporting it: the core already counts it gone. */
  drop(): void {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    try {
      client.close();
    } catch {
      // Closing a client whose socket already failed.
    }
  }
}

/** The client sends whole ArrayBuffers, so a view into a larger buffer is copied out. */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer;
}
