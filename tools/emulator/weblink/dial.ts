// One outbound Weblink connection, as the printer makes it (WEBLINK.md A.4):
// an HTTPS URL upgraded to a WebSocket offering `v1.weblink.zebra.com`,
// without credentials at first; a 401 with a Basic challenge is answered
// once with user = serial and the password. The 101 must echo the
// subprotocol and carry `Content-Length: 0`; otherwise the connection
// fails and the flags a printer logs (`SP, CU, UW, AC, PC`) are reported.

import { WebSocket } from 'ws';

export const WEBLINK_PROTOCOL = 'v1.weblink.zebra.com';
/** A printer gives up a handshake that takes longer than this. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface DialOptions {
  url: string;
  ca?: Buffer | undefined;
  /** Client certificate and key (the printer's WEBLINK1_CERT/KEY.NRD), for servers that want mutual TLS. */
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  user: string;
  password: string;
  /** Called when a 401 is answered with credentials. */
  onChallenge?(): void;
}

export interface Flags {
  SP: number;
  CU: number;
  UW: number;
  AC: number;
  PC: number;
}

export class DialError extends Error {
  constructor(message: string, readonly status?: number, readonly flags?: Flags) {
    super(message);
  }
}

function attempt(opts: DialOptions, withAuth: boolean): Promise<WebSocket | 'challenged'> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
    };
    const headers: Record<string, string> = {};
    if (withAuth) headers['Authorization'] = `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;
    const ws = new WebSocket(opts.url, WEBLINK_PROTOCOL, {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      // A ZD420 speaks TLS 1.2 only (WEBLINK.md A.3).
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      headers,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      perMessageDeflate: false,
      followRedirects: false,
    });
    ws.on('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      const challenge = String(res.headers['www-authenticate'] ?? '');
      if (res.statusCode === 401 && !withAuth && /^\s*basic\b/i.test(challenge)) settle(() => resolve('challenged'));
      else settle(() => reject(new DialError(`server answered ${res.statusCode}${res.statusCode === 401 && withAuth ? ' to the credentials' : ''}`, res.statusCode)));
    });
    ws.on('upgrade', (res) => {
      const h = res.headers;
      const flags: Flags = {
        SP: res.statusCode === 101 ? 1 : 0,
        CU: /\bupgrade\b/i.test(String(h.connection ?? '')) ? 1 : 0,
        UW: String(h.upgrade ?? '').toLowerCase() === 'websocket' ? 1 : 0,
        AC: h['sec-websocket-accept'] === undefined ? 0 : 1,
        PC: h['sec-websocket-protocol'] === WEBLINK_PROTOCOL ? 1 : 0,
      };
      const failed = Object.values(flags).some((f) => f === 0);
      if (failed || h['content-length'] !== '0') {
        ws.terminate();
        const why = failed ? `Failed to connect (SP = ${flags.SP}, CU = ${flags.CU}, UW = ${flags.UW}, AC = ${flags.AC}, PC = ${flags.PC})` : 'the 101 lacks Content-Length: 0';
        settle(() => reject(new DialError(why, res.statusCode, flags)));
      }
    });
    ws.once('open', () => settle(() => resolve(ws)));
    ws.on('error', (e) => settle(() => reject(new DialError(e.message))));
    ws.once('close', () => settle(() => reject(new DialError('closed during the handshake'))));
  });
}

/** Opens one connection, answering a Basic challenge once. */
export async function dial(opts: DialOptions): Promise<WebSocket> {
  const first = await attempt(opts, false);
  if (first !== 'challenged') return first;
  opts.onChallenge?.();
  const second = await attempt(opts, true);
  if (second === 'challenged') throw new DialError('server answered 401 twice', 401);
  return second;
}
