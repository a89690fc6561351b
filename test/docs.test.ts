// The README promises the full table of error and close codes; this keeps
// that promise true when a code is added.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CLOSE, ERRORS } from '../protocol/errors.js';

const readme = readFileSync('README.md', 'utf8');

test('README lists every error code', () => {
  const missing = Object.keys(ERRORS).filter((code) => !readme.includes(`| \`${code}\` |`));
  assert.deepEqual(missing, []);
});

test('README lists every close code with its number', () => {
  const missing = Object.entries(CLOSE).filter(([name, c]) => !readme.includes(`| ${c.code} | \`${name}\` |`)).map(([n]) => n);
  assert.deepEqual(missing, []);
});

test('README shows the two commands a new user runs', () => {
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /npm install && npm test/);
});

test('CI runs the README\'s set-up and nothing else: npm ci (npm install for a lockfile), then npm test', () => {
  const commands = readFileSync('.ci/run', 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#') && !/^(set|cd) /.test(l));
  assert.deepEqual(commands, ['npm ci --no-audit --no-fund', 'npm test']);
});
