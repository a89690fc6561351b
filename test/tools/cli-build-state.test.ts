// When bin/printbridge.js may run dist/cli: only while no file the build
// recorded has changed since the build started, and none is gone.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CLI_STAMP, cliBuildState } from '../../bin/cli-build.js';
import { tempDir } from '../helpers/server.js';

const root = tempDir('printbridge-cli-build-');
const rootUrl = pathToFileURL(`${root}/`);
after(() => rmSync(root, { recursive: true, force: true }));

function at(path: string, seconds: number): void {
  utimesSync(join(root, path), seconds, seconds);
}

test('missing without a build, current while the sources are older, stale after a change or a removal', () => {
  assert.equal(cliBuildState(rootUrl), 'missing');

  mkdirSync(join(root, 'dist/cli'), { recursive: true });
  mkdirSync(join(root, 'src'), { recursive: true });
  writeFileSync(join(root, 'src/a.ts'), '');
  writeFileSync(join(root, 'src/b.ts'), '');
  writeFileSync(join(root, 'dist/cli/main.js'), '');
  const started = 1_700_000_000;
  writeFileSync(join(root, 'dist/cli', CLI_STAMP), JSON.stringify({ started: started * 1000, inputs: ['src/a.ts', 'src/b.ts'] }));
  at('src/a.ts', started - 60);
  at('src/b.ts', started - 60);
  assert.equal(cliBuildState(rootUrl), 'current');

  at('src/b.ts', started + 1);
  assert.equal(cliBuildState(rootUrl), 'stale', 'a source changed after the build started');
  at('src/b.ts', started - 60);
  assert.equal(cliBuildState(rootUrl), 'current');

  rmSync(join(root, 'src/a.ts'));
  assert.equal(cliBuildState(rootUrl), 'stale', 'a source the build read is gone');

  rmSync(join(root, 'dist/cli/main.js'));
  assert.equal(cliBuildState(rootUrl), 'missing');
});
