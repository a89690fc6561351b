// A network printer's raw port (usually :9100). TCP keepalive notices a
// printer that vanished without closing; Nagle is off because status queries
// are a few bytes that should not wait for more.

import net from 'node:net';
import type { PortOptions, PrinterPort } from './printer-port.js';
import { StreamPort } from './stream-port.js';

const CONNECT_TIMEOUT_MS = 5_000;
const KEEPALIVE_MS = 10_000;

export function tcpPort(host: string, port: number, opts: PortOptions = {}): PrinterPort {
  const label = `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new StreamPort(label, () => connect(host, port), opts);
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`no answer from ${host}:${port} in ${CONNECT_TIMEOUT_MS} ms`)));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.off('error', reject);
      resolve(socket);
    });
  });
}
