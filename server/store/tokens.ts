// Short-lived client tokens (token.issue). Only a SHA-256 of each token is
// stored: the token itself is shown once, in the token.issue reply, and a
// stolen database does not let anyone use it. A row outlives its expiry
// until the next issue prunes it; a revoked row stays until it expires, so
// that revoking twice is still answered for what it is. Scopes are a JSON
// array; a row from before scopes (migration 4) reads as printing only.

import { createHash } from 'node:crypto';
import { DEFAULT_SCOPES, SCOPES, type Scope } from '../../protocol/client-messages.js';
import type { Store } from './db.js';

export interface TokenRecord {
  id: string;
  label: string | undefined;
  created: number;
  expires: number;
  revoked: number | undefined;
  scopes: Scope[];
}

interface TokenRow {
  id: string;
  label: string | null;
  created: number;
  expires: number;
  revoked: number | null;
  scopes: string;
}

const COLUMNS = 'id, label, created, expires, revoked, scopes';

export function hashClientToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function fromRow(row: TokenRow): TokenRecord {
  return { id: row.id, label: row.label ?? undefined, created: row.created, expires: row.expires, revoked: row.revoked ?? undefined, scopes: parseScopes(row.scopes) };
}

/** A scope this server no longer knows is dropped rather than trusted; a row that is not a list grants the default. */
function parseScopes(text: string): Scope[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [...DEFAULT_SCOPES];
  }
  if (!Array.isArray(value)) return [...DEFAULT_SCOPES];
  return value.filter((s): s is Scope => (SCOPES as readonly unknown[]).includes(s));
}

export function insertToken(store: Store, id: string, token: string, label: string | undefined, created: number, expires: number, scopes: readonly Scope[] = DEFAULT_SCOPES): void {
  store
    .stmt('INSERT INTO client_tokens (id, token_hash, label, created, expires, scopes) VALUES (?, ?, ?, ?, ?, ?)')
    .run(id, hashClientToken(token), label ?? null, created, expires, JSON.stringify(scopes));
}

export function findTokenByHash(store: Store, token: string): TokenRecord | undefined {
  const row = store.stmt(`SELECT ${COLUMNS} FROM client_tokens WHERE token_hash = ?`).get(hashClientToken(token)) as TokenRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

export function getToken(store: Store, id: string): TokenRecord | undefined {
  const row = store.stmt(`SELECT ${COLUMNS} FROM client_tokens WHERE id = ?`).get(id) as TokenRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

export function revokeToken(store: Store, id: string, now: number): void {
  store.stmt('UPDATE client_tokens SET revoked = ? WHERE id = ? AND revoked IS NULL').run(now, id);
}

/** Deletes tokens that expired before `before`; returns how many. */
export function pruneTokens(store: Store, before: number): number {
  return store.stmt('DELETE FROM client_tokens WHERE expires < ?').run(before).changes;
}
