#!/usr/bin/env node
// The package's command: runs the compiled CLI in dist/cli, which npm builds
// when the package is packed and when it is installed from git.
//
// A git checkout has the TypeScript sources beside the build, and they may
// have changed since it was made. An outdated build must not run as if it
// were the code in front of you, and rebuilding here would race the other
// printbridge processes sharing the tree (the tests start dozens at once), so
// a checkout whose sources are newer than its build runs the sources through
// tsx, a dev dependency, as development always has. An installed package has
// no sources and runs its build as it is.
import { existsSync } from 'node:fs';
import { cliBuildState } from './cli-build.js';

const root = new URL('../', import.meta.url);
const source = new URL('tools/cli/main.ts', root);
const state = existsSync(source) ? cliBuildState(root) : 'current';

if (state === 'current') {
  await import('../dist/cli/main.js');
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    tsx = undefined;
  }
  if (tsx !== undefined) {
    tsx.register();
    await import(source.href);
  } else if (state === 'stale') {
    process.stderr.write("printbridge: warning: dist/cli is older than the sources, and tsx (a dev dependency) is not installed to run them; running the older build ('npm run build:cli' updates it)\n");
    await import('../dist/cli/main.js');
  } else {
    process.stderr.write("printbridge: dist/cli is not built and tsx (a dev dependency) is not installed to run the sources; run 'npm install', or 'npm run build:cli'\n");
    process.exit(1);
  }
}
