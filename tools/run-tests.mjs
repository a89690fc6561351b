// `npm test`: type-check every target, build the browser SDK and dashboard
// (build/web, which the server serves and test/web drives) and the compiled
// CLI (dist/cli, which the tests' `printbridge` processes run; a source
// changed during the run makes bin/printbridge.js run the sources instead),
// then run every test file under test/ with Node's test runner (TypeScript
// through tsx).
// Extra arguments narrow the run to files whose path contains one of them,
// e.g. `npm test -- core`.
//
// The firmware tests (test/firmware) run the firmware on the Moddable SDK's
// Linux host. The SDK is prepared here, before any test starts, so its
// one-time build (about two minutes) is visible and outside every test's
// time: scripts/moddable-sdk.sh uses $MODDABLE, or unpacks and builds the SDK
// shipped beside the project. Without an SDK those files are left out with
// a message saying so, except in CI, where that is a failure.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

if (filters.length === 0 && !process.env.PRINTBRIDGE_SKIP_TYPECHECK) {
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.device.json']);
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.moddable.json']);
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.web.json']);
}
run(process.execPath, ['--import', 'tsx', 'tools/build-web.ts', ...(filters.length === 0 ? [] : ['--if-stale'])]);
run(process.execPath, ['--import', 'tsx', 'tools/build-cli.ts', '--if-stale']);

let files = find('test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.some((f) => f.includes('/firmware/'))) {
  const sdk = spawnSync('bash', ['scripts/moddable-sdk.sh'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (sdk.status !== 0) {
    if (process.env.CI) {
      console.error('the Moddable SDK could not be prepared (see above): the firmware tests cannot run');
      process.exit(1);
    }
    const needsSdk = (f) => f.includes('/firmware/') && !f.endsWith('ws-codec.test.ts');
    const left = files.filter(needsSdk);
    console.error(`\n*** no Moddable SDK: leaving out ${left.length} firmware test files (${left.join(', ')}).`);
    console.error('*** Set $MODDABLE to a Moddable SDK with built tools (docs/firmware.md) to run them.\n');
    files = files.filter((f) => !needsSdk(f));
  } else {
    console.error(`moddable-sdk: ${sdk.stdout.trim()}`);
  }
}
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files]);
