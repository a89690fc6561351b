// The npm typings describe the legacy WebSocket client's options as plain TCP
// options. The SDK's client also takes `Socket` (a socket class, such as
// SecureSocket, that it constructs itself with the same options) and
// `secure` (TLS options read by that class); that is how wss:// works on the
// device. Declared here in our own words, after reading
// modules/network/websocket/websocket.js.

import 'websocket';

declare module 'websocket' {
  export interface WebSocketTlsOptions {
    Socket?: unknown;
    secure?: Record<string, unknown>;
  }
}
