// Whether dist/cli (the compiled CLI, built by tools/build-cli.ts) matches
// the sources beside it. Plain JavaScript, because bin/printbridge.js asks
// before anything can compile TypeScript; the build asks too (--if-stale).
import { readFileSync, statSync } from 'node:fs';

/** Written by the build into dist/cli: `{ started, inputs }`. */
export const CLI_STAMP = 'build.json';

/**
 * 'missing' without a build; 'stale' when a file the build read (it lists
 * them) changed after the build started, or is gone; else 'current'.
 * Costs one stat per source file, about a millisecond.
 */
export function cliBuildState(rootUrl) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(new URL(`dist/cli/${CLI_STAMP}`, rootUrl), 'utf8'));
    statSync(new URL('dist/cli/main.js', rootUrl));
  } catch {
    return 'missing';
  }
  for (const input of stamp.inputs) {
    try {
      if (statSync(new URL(input, rootUrl)).mtimeMs > stamp.started) return 'stale';
    } catch {
      return 'stale';
    }
  }
  return 'current';
}
