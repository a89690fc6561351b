// What the SDK needs from its host, reached through globalThis so that the
// SDK type-checks without the DOM library and runs wherever a WebSocket
// exists (browsers; Node 22+; Node 20 with `ws` passed in or set as a
// global). Tests inject their own timers, randomness and WebSocket.

/** The part of the browser WebSocket API the SDK uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface Host extends Timers {
  WebSocket: WebSocketConstructor | undefined;
  random(): number;
  /** ws(s)://host of the page, when there is a page. */
  pageOrigin: string | undefined;
  /** Calls `fn` when the browser says the network is back; returns a remover. */
  onOnline(fn: () => void): () => void;
}

interface Globals {
  WebSocket?: WebSocketConstructor;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  location?: { protocol: string; host: string };
  addEventListener?(name: string, fn: () => void): void;
  removeEventListener?(name: string, fn: () => void): void;
}

export function defaultHost(): Host {
  const g = globalThis as unknown as Globals;
  const loc = g.location;
  return {
    WebSocket: g.WebSocket,
    setTimeout: (fn, ms) => g.setTimeout(fn, ms),
    clearTimeout: (h) => g.clearTimeout(h),
    random: Math.random,
    pageOrigin: loc && /^https?:$/.test(loc.protocol) ? `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}` : undefined,
    onOnline(fn) {
      if (typeof g.addEventListener !== 'function') return () => {};
      g.addEventListener('online', fn);
      return () => g.removeEventListener?.('online', fn);
    },
  };
}
