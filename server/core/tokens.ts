// Who is calling, with what scopes, and the short-lived client tokens an
// admin hands to browsers (which cannot set an Authorization header on a
// WebSocket, so the token travels in `?token=`, where it may end up in a
// proxy log: hence short-lived, revocable, scoped and stored hashed).
//
// A token is `pbc.<id>.<secret>`: the id names it in clients.list and
// token.revoke; the secret is 32 random bytes. It is checked when a
// connection opens (and on every REST request); revoking it also closes the
// connections it opened, on every transport (close 4006 REVOKED). Expiry
// only stops new connections: one that is open stays open.
//
// Scopes (protocol/client-messages.ts SCOPES) say what a caller may do; the
// dispatcher checks them for every op. A token never gets a scope its issuer
// lacks, so a token with `tokens` cannot mint a stronger one.

import { randomBytes } from 'node:crypto';
import { DEFAULT_SCOPES, SCOPES, TOKEN_TTL_DEFAULT_S, type IssuedToken, type Scope } from '../../protocol/client-messages.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { PrintbridgeError } from '../errors.js';
import type { Store } from '../store/db.js';
import { findTokenByHash, getToken, insertToken, pruneTokens, revokeToken } from '../store/tokens.js';
import type { Clock, Log } from './context.js';

/** What client tokens use: where they are kept, the time to judge expiry by, and the log. */
export interface TokensDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Log;
}

export type ClientAuth =
  | { readonly kind: 'admin'; readonly scopes: readonly Scope[] }
  | { readonly kind: 'client'; readonly tokenId: string; readonly expires: number; readonly scopes: readonly Scope[] }
  /** Let in by a listener's own access rules (the compat listener on loopback, or its compat token). */
  | { readonly kind: 'listener'; readonly scopes: readonly Scope[] };

export const ADMIN: ClientAuth = Object.freeze({ kind: 'admin', scopes: Object.freeze([...SCOPES]) });
/** The compat listener's callers without a client token print and nothing more: that API has nothing else. */
export const LISTENER: ClientAuth = Object.freeze({ kind: 'listener', scopes: Object.freeze([...DEFAULT_SCOPES]) });

export function hasScope(auth: ClientAuth, scope: Scope): boolean {
  return auth.scopes.includes(scope);
}

/** Throws FORBIDDEN naming the scope when `auth` lacks it; `what` says what it was needed for. */
export function requireScope(auth: ClientAuth, scope: Scope, what: string): void {
  if (!hasScope(auth, scope)) throw new PrintbridgeError('FORBIDDEN', `${what} needs the scope ${scope}`);
}

/** The client token's id, undefined for the admin and listener callers. */
export function tokenIdOf(auth: ClientAuth): string | undefined {
  return auth.kind === 'client' ? auth.tokenId : undefined;
}

const TOKEN = /^pbc\.([0-9a-f]{16})\.[A-Za-z0-9_-]{43}$/;

export type Verified = { ok: true; auth: ClientAuth } | { ok: false; code: ErrorCode; message: string };

export class ClientTokens {
  constructor(private readonly deps: TokensDeps) {}

  /** `issuer`: who asks; every scope asked for must be one of the issuer's. */
  issue(ttlSeconds: number = TOKEN_TTL_DEFAULT_S, label?: string, scopes: readonly Scope[] = DEFAULT_SCOPES, issuer: ClientAuth = ADMIN): IssuedToken {
    for (const scope of scopes) requireScope(issuer, scope, `a token with ${scope}`);
    const granted = SCOPES.filter((s) => scopes.includes(s));
    const now = this.deps.clock.now();
    pruneTokens(this.deps.store, now);
    const id = randomBytes(8).toString('hex');
    const token = `pbc.${id}.${randomBytes(32).toString('base64url')}`;
    const expires = now + ttlSeconds * 1000;
    insertToken(this.deps.store, id, token, label, now, expires, granted);
    this.deps.log('info', 'client token issued', { token: id, expires, label, scopes: granted });
    return { id, token, expires, label, scopes: granted };
  }

  /** Revokes by id or by the token itself; revoking again is no error. */
  revoke(idOrToken: string): { id: string; revoked: true } {
    const match = TOKEN.exec(idOrToken);
    const record = match !== null ? findTokenByHash(this.deps.store, idOrToken) : getToken(this.deps.store, idOrToken);
    if (record === undefined) throw new PrintbridgeError('UNKNOWN_TOKEN', idOrToken.length > 20 ? `${idOrToken.slice(0, 20)}…` : idOrToken);
    revokeToken(this.deps.store, record.id, this.deps.clock.now());
    this.deps.log('info', 'client token revoked', { token: record.id });
    return { id: record.id, revoked: true };
  }

  verify(token: string): Verified {
    if (!TOKEN.test(token)) return { ok: false, code: 'UNAUTHORIZED', message: 'missing or wrong token' };
    const record = findTokenByHash(this.deps.store, token);
    if (record === undefined) return { ok: false, code: 'UNAUTHORIZED', message: 'unknown client token' };
    if (record.revoked !== undefined) return { ok: false, code: 'UNAUTHORIZED', message: 'client token was revoked' };
    if (record.expires <= this.deps.clock.now()) return { ok: false, code: 'TOKEN_EXPIRED', message: `client token ${record.id} has expired` };
    return { ok: true, auth: Object.freeze({ kind: 'client', tokenId: record.id, expires: record.expires, scopes: Object.freeze(record.scopes) }) };
  }
}
