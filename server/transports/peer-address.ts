// Who a connection really comes from when a reverse proxy (nginx, haproxy)
// stands in front: the socket's address is the proxy's, and the proxy tells
// the peer's in X-Forwarded-For, appending the address it saw to whatever
// the request already carried. Everything left of what our own proxies
// appended is the client's to write, so the header is read from the right,
// skipping trusted proxies, and the first address that is not one is the
// peer (nginx's real_ip_recursive does the same). A socket that is not a
// trusted proxy is taken at its word and its header ignored: anyone may send
// X-Forwarded-For. A malformed entry where we would read it falls back to
// the socket's address rather than guessing.
//
// Only X-Forwarded-For is read, not RFC 7239 `Forwarded`: a proxy that sets
// one passes the other on from the client unchanged, so reading both would
// let a client claim any address through a proxy that sets only the other.

import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** Only this much of the header's end is read: our own proxies' entries are at the end, and a peer chooses the length of the rest. */
export const MAX_FORWARDED_CHARS = 1024;

/** The proxies whose X-Forwarded-For is believed: addresses and CIDR ranges, IPv4 or IPv6. */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly size: number;

  /** Throws a RangeError naming the first entry that is not an address or a CIDR range. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) this.add(entry);
    this.size = entries.length;
  }

  /** An IPv4-mapped IPv6 address (a dual-stack listener's view of an IPv4 peer) matches its IPv4 entry. */
  has(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }

  private add(entry: string): void {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const bits = family === 6 ? 128 : 32;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (family === 0 || extra !== undefined || address.includes('%')) throw badEntry(entry);
    if (prefix === undefined) return this.list.addAddress(address, type);
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) throw badEntry(entry);
    this.list.addSubnet(address, Number(prefix), type);
  }
}

function badEntry(entry: string): RangeError {
  return new RangeError(`trusted proxy ${JSON.stringify(entry.slice(0, 100))} is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, ::1, fd00::/8)`);
}

/** What a request shows of its connection: its socket's address and its headers. */
export interface ForwardedRequest {
  readonly socket: { readonly remoteAddress?: string | undefined };
  readonly headers: IncomingHttpHeaders;
}

/** The peer's address: the socket's, or behind a trusted proxy the one it forwarded for. */
export function peerAddress(req: ForwardedRequest, trusted: TrustedProxies | undefined): string | undefined {
  const socket = req.socket.remoteAddress;
  if (socket === undefined || trusted === undefined || trusted.size === 0 || !trusted.has(socket)) return socket;
  const header = req.headers['x-forwarded-for'];
  if (typeof header !== 'string') return socket;
  return forwardedFor(header, trusted) ?? socket;
}

/** The right-most address of the header that is not a trusted proxy (the left-most if all are); undefined if one read is malformed. */
function forwardedFor(header: string, trusted: TrustedProxies): string | undefined {
  const cut = header.length > MAX_FORWARDED_CHARS;
  const entries = header.slice(-MAX_FORWARDED_CHARS).split(',');
  // The first entry of a cut header may be half an address: it is never read.
  const first = cut ? 1 : 0;
  let found: string | undefined;
  for (let i = entries.length - 1; i >= first; i--) {
    const address = (entries[i] as string).trim();
    // A zone (fe80::1%eth0) names an interface of the proxy, not a peer, and would let any text through.
    if (isIP(address) === 0 || address.includes('%')) return undefined;
    found = address;
    if (!trusted.has(address)) return address;
  }
  return found;
}
