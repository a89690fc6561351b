// The package as npm publishes it: packed (prepack compiles the CLI and the
// web build) and installed into a temporary folder with its runtime
// dependencies only, where no tsx, esbuild or TypeScript can be found. Its
// command answers --help, and it serves, registers a device and takes a
// bridge online: compiled JavaScript all the way, the store and the
// WebSocket server included.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addDevice, serve, sinkPrinter, timeBridgeOnline, timeNode, watch } from '../../tools/bench/startup.js';
import { packAndInstall, type InstalledPackage } from '../../tools/build-package.js';
import { Processes } from '../helpers/processes.js';
import { tempDir } from '../helpers/server.js';

const procs = new Processes();
const dir = tempDir('printbridge-package-');
let pkg: InstalledPackage;

before(() => {
  pkg = packAndInstall(join(dir, 'pack'));
});
after(async () => {
  await procs.killAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  test('holds the compiled command and the web build, no TypeScript and no tests', () => {
    assert.ok(pkg.files.includes('bin/printbridge.js'));
    assert.ok(pkg.files.includes('dist/cli/main.js'));
    assert.ok(pkg.files.includes('build/web/index.html'));
    assert.ok(pkg.files.includes('build/web/sdk/printbridge.mjs'));
    assert.deepEqual(pkg.files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), []);
    assert.deepEqual(pkg.files.filter((f) => f.startsWith('test/') || f.startsWith('tools/') || f.startsWith('.cache/')), []);
  });

  test('needs no tsx at run time: none is installed beside it', () => {
    const require = createRequire(join(pkg.root, 'package.json'));
    for (const dev of ['tsx', 'esbuild', 'typescript']) assert.throws(() => require.resolve(dev), { code: 'MODULE_NOT_FOUND' }, dev);
  });

  test('printbridge --help and --version run', async () => {
    const help = await procs.run(['--help'], { env: { NODE_OPTIONS: undefined } });
    assert.equal(help.code, 0, help.stderr);
    const installed = procs.spawn(process.execPath, [pkg.bin, '--help'], { env: { NODE_OPTIONS: undefined } });
    installed.closeStdin();
    assert.equal((await installed.waitForExit()).code, 0, installed.tail());
    assert.equal(installed.stdout, help.stdout, 'the same command list as this tree');
    assert.equal(installed.stderr, '');
    await timeNode([pkg.bin, '--version']);
  });

  test('serves the dashboard, registers a device and takes a bridge online', async () => {
    const server = await serve(procs, pkg.bin, join(dir, 'data'));
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script[^>]+src="\/app\/dashboard-/);
    const health = (await (await fetch(`${server.url}/healthz`)).json()) as { version?: string };
    assert.equal(typeof health.version, 'string');

    const token = await addDevice(procs, pkg.bin, server, 'pkg-1');
    const printer = await sinkPrinter();
    const watcher = await watch(server);
    try {
      const online = await timeBridgeOnline(procs, pkg.bin, server, watcher, 'pkg-1', token, printer.port);
      assert.ok(online.seconds > 0);
    } finally {
      await watcher.close();
      await printer.close();
      await server.proc.kill();
    }
  });

  test('a bridge reaches serial ports through the native binding left in node_modules', async () => {
    const bridge = procs.spawn(
      process.execPath,
      [pkg.bin, 'bridge', '--server', 'ws://127.0.0.1:1', '--id', 'pkg-serial', '--printer', `serial:${join(dir, 'no-such-tty')}@9600`],
      { env: { NODE_OPTIONS: undefined, PRINTBRIDGE_TOKEN: 't' } },
    );
    // The binding's own error for a missing device: it was loaded and asked to open.
    await bridge.waitForLine(/printer 0 .* offline: .*No such file or directory, cannot open/, { stream: 'stderr' });
    await bridge.kill();
  });
});
