// The data folder holds the admin token and the database, which holds the
// bytes of every unfinished job and the hashes of device tokens: only the
// server's user may read them. Folders are 0700 and files 0600 whatever the
// umask, and ones an older version (or a hand) made wider are narrowed on
// every start.

import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and its parents, which keep the umask's mode) if missing; makes it 0700. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  narrow(dir, PRIVATE_DIR_MODE);
}

/** Creates `path` empty if missing; makes it 0600. */
export function privateFile(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  narrow(path, PRIVATE_FILE_MODE);
}

/** Makes `path` 0600 if it exists (SQLite's -wal and -shm files come and go). */
export function privateIfPresent(path: string): void {
  try {
    narrow(path, PRIVATE_FILE_MODE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** A file system that cannot hold modes (a FAT stick, some network mounts) or a folder we do not own is left as it is. */
const CANNOT = new Set(['EPERM', 'EROFS', 'ENOTSUP']);

function narrow(path: string, mode: number): void {
  if ((statSync(path).mode & 0o777) === mode) return;
  try {
    chmodSync(path, mode);
  } catch (e) {
    if (!CANNOT.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
}
