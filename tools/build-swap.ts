// A build is made in a folder of its own and swapped into place when it is
// complete: the old build stays usable until then, so a process that starts
// meanwhile never finds half a build.

import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

/** Moves the finished build in `tmp` to `outDir`, replacing what was there. */
export function swapInto(tmp: string, outDir: string): void {
  const old = `${outDir}.old-${process.pid}-${Date.now()}`;
  mkdirSync(dirname(outDir), { recursive: true });
  if (existsSync(outDir)) renameSync(outDir, old);
  renameSync(tmp, outDir);
  rmSync(old, { recursive: true, force: true });
}
