// A small Node client for the server's client API (/v1/client): one
// WebSocket, requests correlated by id, replies resolved or rejected with the
// server's error code, and server-pushed events handed to listeners. Used by
// `printbridge print` and by tests; it adds nothing the wire does not have.

import WebSocket from 'ws';
import type { ClientEvent, ClientRequestBody, ClientResults } from '../../protocol/client-messages.js';
import { closeName, UPGRADE_REFUSAL } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { PACKAGE_VERSION } from '../../server/version.js';

/** Names our tools in the server's client list (and its logs), with the package's version. */
const USER_AGENT = `printbridge-cli/${PACKAGE_VERSION}`;

/** Every op the server answers. */
export type Op = ClientRequestBody['op'];
export type RequestFields<O extends Op> = Omit<Extract<ClientRequestBody, { op: O }>, 'op'>;

/** A failed request or connection. `code` is a protocol error code when the server sent one. */
export class ClientError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'ClientError';
  }
}

/** A request that failed because the connection went (closed before the reply, or the send failed), not because the server said no. */
export class ConnectionLost extends ClientError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ConnectionLost';
  }
}

export interface ClientOptions {
  /** Send hello first and fail on an incompatible server (default true). */
  hello?: boolean;
  /** Give up opening the socket after this long (default 10 s). */
  connectTimeout?: number;
  /**
   * For wss://: the CA certificates (PEM) the server's certificate must chain
   * to, instead of Node's public roots. (The CLI takes a private CA from
   * NODE_EXTRA_CA_CERTS, which Node adds to the public roots by itself.)
   */
  ca?: string | Buffer;
}

export interface Client {
  request<O extends Op>(op: O, fields?: RequestFields<O>): Promise<ClientResults[O]>;
  on(kind: 'event', listener: (event: ClientEvent) => void): void;
  on(kind: 'close', listener: (code: number, reason: string) => void): void;
  /** Closes the socket; pending requests are rejected. */
  close(): Promise<void>;
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

const REFUSAL_CODES: Record<number, string> = Object.fromEntries(Object.entries(UPGRADE_REFUSAL).map(([name, status]) => [status, name]));

/** Opens a client connection; `url` is the ws:// URL of /v1/client. */
export async function connectClient(url: string, token: string, opts: ClientOptions = {}): Promise<Client> {
  const ws = new WebSocket(url, {
    headers: { authorization: `Bearer ${token}`, 'user-agent': USER_AGENT }, handshakeTimeout: opts.connectTimeout ?? 10_000,
    ...(opts.ca === undefined ? {} : { ca: opts.ca }),
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      ws.terminate();
      reject(new ClientError(REFUSAL_CODES[status] ?? `HTTP_${status}`, `server refused the connection to ${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trim()));
    });
    ws.once('error', (e) => reject(new ClientError((e as NodeJS.ErrnoException).code ?? 'CONNECT', `cannot connect to ${url}: ${e.message}`)));
  });

  const pending = new Map<number, Pending>();
  const eventListeners: ((event: ClientEvent) => void)[] = [];
  const closeListeners: ((code: number, reason: string) => void)[] = [];
  let nextId = 1;
  let closedWith: ClientError | undefined;

  ws.on('error', () => {}); // 'close' follows and carries the outcome
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as Record<string, unknown>;
    if ('re' in m) {
      const entry = typeof m['re'] === 'number' ? pending.get(m['re']) : undefined;
      if (!entry) return;
      pending.delete(m['re'] as number);
      if (m['ok'] === true) entry.resolve(m['result']);
      else {
        const err = (m['error'] ?? {}) as { code?: unknown; message?: unknown };
        entry.reject(new ClientError(String(err.code ?? 'INTERNAL'), String(err.message ?? 'request failed')));
      }
    } else if (typeof m['event'] === 'string') {
      for (const listener of eventListeners) listener(m as unknown as ClientEvent);
    }
  });
  ws.on('close', (code, reasonBuf) => {
    const reason = reasonBuf.toString();
    closedWith = new ConnectionLost(closeName(code) ?? 'CLOSED', `connection closed (${code}${reason ? ` ${reason}` : ''})`);
    for (const entry of pending.values()) entry.reject(closedWith);
    pending.clear();
    for (const listener of closeListeners) listener(code, reason);
  });

  const client: Client = {
    request(op, fields) {
      if (closedWith) return Promise.reject(closedWith);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ ...fields, op, id }), (e) => {
          if (e && pending.delete(id)) reject(new ConnectionLost('CLOSED', `cannot send ${op}: ${e.message}`));
        });
      });
    },
    on(kind: 'event' | 'close', listener: never) {
      if (kind === 'event') eventListeners.push(listener);
      else closeListeners.push(listener);
    },
    close() {
      if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
      return new Promise((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'client done');
      });
    },
  };

  if (opts.hello ?? true) {
    try {
      await client.request('hello', { v: PROTOCOL_VERSION });
    } catch (e) {
      ws.terminate();
      throw e;
    }
  }
  return client;
}

/**
 * Opens a WebSocket to any URL (the bearer token, when given, goes in the
 * Authorization header) and resolves once it is open. A refused upgrade
 * rejects with the protocol's code for its HTTP status (UNAUTHORIZED…), a
 * network failure with the system's (ECONNREFUSED…). For tools that speak
 * raw frames, such as `printbridge console`.
 */
export async function openSocket(url: string, token: string | undefined, connectTimeout = 10_000): Promise<WebSocket> {
  const headers: Record<string, string> = token === undefined ? { 'user-agent': USER_AGENT } : { authorization: `Bearer ${token}`, 'user-agent': USER_AGENT };
  const ws = new WebSocket(url, { headers, handshakeTimeout: connectTimeout });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      ws.terminate();
      reject(new ClientError(REFUSAL_CODES[status] ?? `HTTP_${status}`, `server refused the connection to ${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trim()));
    });
    ws.once('error', (e) => reject(new ClientError((e as NodeJS.ErrnoException).code ?? 'CONNECT', `cannot connect to ${url}: ${e.message}`)));
  });
  return ws;
}
