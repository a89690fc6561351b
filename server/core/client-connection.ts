// A client connection on any transport, as the hub knows it: /v1/client,
// the Printerlynx-style /api/v1/ws, the PrinterWebSocket compat listener.
// Each transport keeps its own session class; the hub needs only this much
// to list every connection (clients.list, client.* events) and to close a
// revoked token's connections wherever they are.

import type { ClientView } from '../../protocol/client-messages.js';
import type { ClientAuth } from './tokens.js';

export interface ClientConnection {
  readonly auth: ClientAuth;
  view(): ClientView;
  /** Ends the connection (4006 REVOKED when its token is revoked); the transport finishes the close. */
  close(code: number, reason: string): void;
}

/** What a connection is, for its view. */
export interface ConnectionFacts {
  id: string;
  auth: ClientAuth;
  address: string | undefined;
  userAgent: string | undefined;
  since: number;
  subscribed: boolean;
  transport: string;
}

export function connectionView(c: ConnectionFacts): ClientView {
  return {
    id: c.id,
    address: c.address,
    userAgent: c.userAgent,
    since: c.since,
    subscribed: c.subscribed,
    token: c.auth.kind,
    tokenId: c.auth.kind === 'client' ? c.auth.tokenId : undefined,
    scopes: [...c.auth.scopes],
    transport: c.transport,
  };
}
