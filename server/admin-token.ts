// The admin token lets clients use /v1/client. An operator can pass one or set
// PRINTBRIDGE_ADMIN_TOKEN; otherwise the first start generates one and keeps
// it in <dataDir>/admin-token (0600, in a 0700 folder), so restarts do not
// lock out clients that were already configured with it. Only that first
// start has reason to show the token (`generated`): it is a secret, and logs
// and terminals are read by others.

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateDir, privateIfPresent } from './store/private-files.js';

export function adminTokenPath(dataDir: string): string {
  return join(dataDir, 'admin-token');
}

export interface AdminToken {
  token: string;
  /** True only when this call created the token file, so a caller can show the token once. */
  generated: boolean;
}

export function loadOrCreateAdminToken(dataDir: string, explicit?: string): AdminToken {
  const given = explicit ?? process.env['PRINTBRIDGE_ADMIN_TOKEN'];
  if (given !== undefined && given !== '') return { token: given, generated: false };

  privateDir(dataDir);
  const path = adminTokenPath(dataDir);
  privateIfPresent(path);
  const existing = readToken(path);
  if (existing !== undefined) return { token: existing, generated: false };

  const token = randomBytes(32).toString('base64url');
  try {
    // 'wx' fails if another process won the race; then its token is the one to use.
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const raced = (e as NodeJS.ErrnoException).code === 'EEXIST' ? readToken(path) : undefined;
    if (raced === undefined) throw e;
    return { token: raced, generated: false };
  }
  return { token, generated: true };
}

function readToken(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const token = text.trim();
  if (token === '') throw new Error(`${path} is empty; delete it to generate a new admin token`);
  return token;
}
