// `npm test`: bring the system packages the chosen tests use, type-check
// every target, build the browser SDK and dashboard (build/web, which the
// server serves and test/web drives) and the compiled CLI (dist/cli, which
// the tests' `printbridge` processes run; a source changed during the run
// makes bin/printbridge.js run the sources instead), then run the test files
// under test/ with Node's test runner (TypeScript through tsx).
// Extra arguments narrow the run to files whose path contains one of them,
// e.g. `npm test -- core`.
//
// Nothing is left out quietly. What npm cannot bring (socat, Chromium,
// nginx, PostgreSQL…) comes from scripts/install-system-deps.sh: installed
// as root, otherwise one line names the command to run and the run stops
// before any test. The parts asked for are those the chosen files use, found by what
// their sources (and the test helpers they import) contain, so
// `npm test -- core` needs none. The firmware tests (test/firmware) run on
// the Moddable SDK's Linux host, prepared here before any test starts, so its
// one-time build (about two minutes) is visible and outside every test's
// time (scripts/moddable-sdk.sh: $MODDABLE, or the SDK shipped beside the
// project); without one the run stops with its reason. A test that skips
// itself or is marked todo fails the run, with its reason listed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const filters = process.argv.slice(2);

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// What a test file's source (or a test helper it imports) contains → the
// part of scripts/install-system-deps.sh it needs.
const SYSTEM_PARTS = [
  [/--pty/, 'socat'],
  [/\/usr\/bin\/chromium/, 'chromium'],
  [/\/usr\/bin\/python3/, 'python3-websockets'],
  [/['`]openssl['`]/, 'openssl'],
  [/\/usr\/sbin\/nginx/, 'nginx'],
  // test/helpers/postgres.ts, the throwaway cluster.
  [/\/usr\/lib\/postgresql/, 'postgresql'],
  // test/helpers/haproxy.ts, the cluster's load balancer.
  [/\/usr\/sbin\/haproxy/, 'haproxy'],
  // test/helpers/mosquitto.ts, the MQTT broker.
  [/\/usr\/sbin\/mosquitto/, 'mosquitto'],
  // test/helpers/cups.ts, the private CUPS scheduler.
  [/\/usr\/sbin\/cupsd/, 'cups'],
];
// The docs' examples run what the docs show: curl, openssl (deploy.md's CA),
// socat (the README's serial printer).
const DOCS_PARTS = ['curl', 'openssl', 'socat'];

/** The firmware tests run on the Moddable SDK, all but the codec's (pure TypeScript). */
const needsSdk = (f) => f.includes('/firmware/') && !f.endsWith('ws-codec.test.ts');

/** The test file and every file under test/ it imports, directly or not. */
function testSources(file, seen = new Set()) {
  const path = resolve(file);
  if (seen.has(path) || !path.startsWith(resolve('test')) || !existsSync(path)) return seen;
  seen.add(path);
  for (const [, spec] of readFileSync(path, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
    testSources(join(dirname(path), `${spec}.ts`), seen);
  }
  return seen;
}

function systemParts(files) {
  const parts = new Set();
  for (const file of files) {
    if (needsSdk(file)) parts.add('moddable');
    if (file.includes('docs-examples')) for (const part of DOCS_PARTS) parts.add(part);
    for (const source of testSources(file)) {
      const text = readFileSync(source, 'utf8');
      for (const [pattern, part] of SYSTEM_PARTS) if (pattern.test(text)) parts.add(part);
    }
  }
  return [...parts].sort();
}

let files = find('test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const parts = systemParts(files);
if (parts.length > 0) run('bash', ['scripts/install-system-deps.sh', ...parts]);

if (filters.length === 0 && !process.env.PRINTBRIDGE_SKIP_TYPECHECK) {
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.device.json']);
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.moddable.json']);
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.web.json']);
}
run(process.execPath, ['--import', 'tsx', 'tools/build-web.ts', ...(filters.length === 0 ? [] : ['--if-stale'])]);
run(process.execPath, ['--import', 'tsx', 'tools/build-cli.ts', '--if-stale']);

if (files.some(needsSdk)) {
  const sdk = spawnSync('bash', ['scripts/moddable-sdk.sh'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (sdk.status !== 0) {
    console.error('the firmware tests need the Moddable SDK (why it is missing: above); or leave them out: npm test -- core server tools …');
    process.exit(1);
  }
  console.error(`moddable-sdk: ${sdk.stdout.trim()}`);
}

// A second reporter writes TAP to a file, where skips and todos are read
// back after the run: the one on the terminal stays as readable as before.
const tapDir = mkdtempSync(join(tmpdir(), 'printbridge-tap-'));
const tapFile = join(tapDir, 'results.tap');
const tests = spawnSync(
  process.execPath,
  [
    '--import', 'tsx', '--test', '--test-concurrency=2',
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`, '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { stdio: 'inherit' },
);
const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
rmSync(tapDir, { recursive: true, force: true });
if (tests.status !== 0) process.exit(tests.status ?? 1);
const leftOut = tap.split('\n').filter((line) => /^\s*(not )?ok \d+ - .* # (SKIP|TODO)\b/.test(line));
if (leftOut.length > 0) {
  console.error(`\n${leftOut.length} test(s) did not run; each is a failure until what it needs is there:`);
  for (const line of leftOut) console.error(`  ${line.trim().replace(/^(not )?ok \d+ - /, '')}`);
  process.exit(1);
}
