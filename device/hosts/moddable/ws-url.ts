// The legacy WebSocket client takes host, port and path separately and has
// no URL parser, and XS builds for the ESP32 carry no URL class, so the
// server URL the core hands us is split here.

export interface WsTarget {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  /** Path and query, always starting with "/". */
  readonly path: string;
}

/** Returns undefined for anything that is not a ws:// or wss:// URL with a host. */
export function parseWsUrl(url: string): WsTarget | undefined {
  const m = /^(wss?):\/\/([^/?#]+)([^#]*)/i.exec(url.trim());
  if (m === null) return undefined;
  const secure = (m[1] ?? '').toLowerCase() === 'wss';
  const authority = m[2] ?? '';
  if (authority.includes('@')) return undefined;
  let host = authority;
  let port = secure ? 443 : 80;
  const bracket = authority.startsWith('[') ? authority.indexOf(']') : -1;
  const colon = authority.lastIndexOf(':');
  if (colon > bracket) {
    const digits = authority.slice(colon + 1);
    if (!/^\d{1,5}$/.test(digits)) return undefined;
    port = Number(digits);
    if (port < 1 || port > 65535) return undefined;
    host = authority.slice(0, colon);
  }
  if (host === '' || host === '[]') return undefined;
  const rest = m[3] ?? '';
  const path = rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`;
  return { secure, host, port, path };
}
