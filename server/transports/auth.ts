// Client credentials, for every transport that serves clients: the admin
// token (compared through SHA-256 so that the comparison takes the same time
// whatever the length) or a client token from token.issue.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Hub } from '../core/hub.js';
import { ADMIN, type Verified } from '../core/tokens.js';

export type Authenticate = (token: string | undefined) => Verified;

export function clientAuthenticator(hub: Hub, adminToken: string): Authenticate {
  const adminHash = sha256(adminToken);
  return (token) => {
    if (token === undefined || token === '') return { ok: false, code: 'UNAUTHORIZED', message: 'a token is required (Authorization: Bearer …, or ?token= on a WebSocket)' };
    if (safeEqual(sha256(token), adminHash)) return { ok: true, auth: ADMIN };
    return hub.tokens.verify(token);
  };
}

export function bearer(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header(req, 'authorization') ?? '');
  return match?.[1];
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Both sides are hashed first, so the comparison takes the same time whatever the token's length. */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
