// The printbridge command as a user runs it: real processes, a real server on
// port 0 with a temporary data directory, real exit codes.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connectClient } from '../../tools/client/client.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { fileHash, received, sha256, tcpEmulator, tempDir } from './emulator-fixture.js';

const procs = new Processes();
const tmp = tempDir();
after(async () => {
  await procs.killAll();
  tmp.cleanup();
});

let dirs = 0;
function dataDir(): string {
  return join(tmp.dir, `data-${++dirs}`);
}

interface Served {
  proc: Proc;
  port: number;
  token: string;
  dir: string;
}

async function serve(dir = dataDir(), env: Record<string, string | undefined> = {}): Promise<Served> {
  const proc = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', dir], { env: { PRINTBRIDGE_ADMIN_TOKEN: undefined, ...env } });
  const line = await proc.waitForLine(/clients: ws:\/\/127\.0\.0\.1:\d+\/v1\/client/);
  const port = Number(/:(\d+)\//.exec(line)?.[1]);
  const token = (await proc.waitForLine(/admin token: /)).split('admin token: ')[1]!.trim();
  return { proc, port, token, dir };
}

const COMMANDS = ['serve', 'devices', 'bridge', 'print', 'emulate'];

describe('help and usage errors', () => {
  for (const name of COMMANDS) {
    test(`${name} --help explains the command and exits 0`, async () => {
      const r = await procs.run([name, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Usage:[\\s\\S]*printbridge ${name}`));
      assert.match(r.stdout, /--help/);
      assert.equal(r.stderr, '');
    });
  }

  test('the command list names every command', async () => {
    const r = await procs.run(['--help']);
    assert.equal(r.code, 0);
    for (const name of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'));
  });

  const mistakes: [string, string[], RegExp][] = [
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['an unknown option', ['serve', '--colour'], /--colour/],
    ['a port that is not a number', ['serve', '--port', 'eighty'], /--port must be an integer/],
    ['a bridge without a server', ['bridge', '--id', 'x', '--token', 't', '--printer', 'tcp://h:9100'], /--server is required/],
    ['a bad printer address', ['bridge', '--server', 'ws://h:1', '--id', 'x', '--token', 't', '--printer', 'lpt1'], /tcp:\/\/HOST:PORT/],
    ['dialects not matching printers', ['bridge', '--server', 'ws://h:1', '--id', 'x', '--token', 't', '--printer', 'tcp://a:1', '--printer', 'tcp://b:1', '--dialect', 'raw', '--dialect', 'zpl', '--dialect', 'raw'], /one per --printer/],
    ['devices without an action', ['devices'], /add, list or remove/],
    ['emulate with two transports', ['emulate', '--tcp', '127.0.0.1:0', '--pty', '/tmp/x'], /exactly one of/],
    ['print without a file', ['print', '--printer', 'a/0', '--token', 't'], /FILE is required/],
    ['print to a malformed printer', ['print', '--printer', 'a', '--token', 't', 'f'], /DEVICE\/PORT/],
  ];
  for (const [what, args, message] of mistakes) {
    test(`${what} is a usage error: exit 2, one line on stderr`, async () => {
      const r = await procs.run(args, { env: { PRINTBRIDGE_TOKEN: undefined } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
  }
});

describe('devices', () => {
  test('add prints only the token; list --json shows the device; remove deletes it', async () => {
    const dir = dataDir();
    const add = await procs.run(['devices', 'add', 'shop-1', '--tag', 'front', '--tag', 'eu', '--data', dir]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^[A-Za-z0-9_-]{20,}\n$/, 'the token alone, so T=$(printbridge devices add x) works');

    const list = await procs.run(['devices', 'list', '--json', '--data', dir]);
    assert.equal(list.code, 0, list.stderr);
    const devices = JSON.parse(list.stdout) as { id: string; tags: string[] }[];
    assert.deepEqual(devices.map((d) => [d.id, d.tags]), [['shop-1', ['front', 'eu']]]);
    assert.ok(!list.stdout.includes(add.stdout.trim()), 'the token is not stored, so it cannot be listed');

    const table = await procs.run(['devices', 'list', '--data', dir]);
    assert.match(table.stdout, /^shop-1\s+front,eu/m);

    const again = await procs.run(['devices', 'add', 'shop-1', '--data', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /DEVICE_EXISTS/);

    const badTag = await procs.run(['devices', 'add', 'shop-2', '--tag', 'no spaces', '--data', dir]);
    assert.equal(badTag.code, 2, 'a malformed tag is a usage error');
    assert.match(badTag.stderr, /tag must match/);
    assert.equal(again.stdout, '');

    assert.equal((await procs.run(['devices', 'remove', 'shop-1', '--offline', '--data', dir])).code, 0);
    assert.deepEqual(JSON.parse((await procs.run(['devices', 'list', '--json', '--data', dir])).stdout), []);
    const missing = await procs.run(['devices', 'remove', 'shop-1', '--offline', '--data', dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^printbridge devices: error UNKNOWN_DEVICE: no such device: shop-1 in .*'printbridge devices list' lists them/);
  });

  test('PRINTBRIDGE_DATA chooses the data directory', async () => {
    const dir = dataDir();
    assert.equal((await procs.run(['devices', 'add', 'env-1'], { env: { PRINTBRIDGE_DATA: dir } })).code, 0);
    const list = await procs.run(['devices', 'list', '--json', '--data', dir]);
    assert.deepEqual((JSON.parse(list.stdout) as { id: string }[]).map((d) => d.id), ['env-1']);
  });
});

describe('serve', () => {
  test('prints its URLs on the bound port and the admin token, keeps the token, stops on SIGTERM', async () => {
    const dir = dataDir();
    const first = await serve(dir);
    assert.ok(first.port > 0);
    assert.match(first.proc.stdout, new RegExp(`http:\\s+http://127\\.0\\.0\\.1:${first.port}\\b`));
    assert.match(first.proc.stdout, new RegExp(`devices: ws://127\\.0\\.0\\.1:${first.port}/v1/device`));
    assert.match(first.proc.stdout, /generated now and kept in .*admin-token/);
    assert.ok(first.proc.stdout.includes(`dashboard: http://127.0.0.1:${first.port}/#token=${encodeURIComponent(first.token)}`), 'the dashboard link carries the token');
    assert.equal(readFileSync(join(dir, 'admin-token'), 'utf8').trim(), first.token);

    const client = await connectClient(`ws://127.0.0.1:${first.port}/v1/client`, first.token);
    assert.equal(await client.request('ping'), 'pong');
    await client.close();

    assert.deepEqual(await first.proc.kill('SIGTERM'), { code: 0, signal: null });

    const second = await serve(dir);
    assert.ok(!second.proc.stdout.includes(first.token), 'the kept token is not shown again');
    assert.match(second.proc.stdout, /admin token: not shown \(kept in .*admin-token\)/);
    const again = await connectClient(`ws://127.0.0.1:${second.port}/v1/client`, first.token);
    assert.equal(await again.request('ping'), 'pong', 'the kept token is reused');
    await again.close();
    assert.deepEqual(await second.proc.kill('SIGINT'), { code: 0, signal: null });
  });

  test('--json prints the same facts as one JSON line; PRINTBRIDGE_ADMIN_TOKEN sets the token, which is not printed', async () => {
    const proc = procs.cli(['serve', '--json'], {
      env: { PRINTBRIDGE_HOST: '127.0.0.1', PRINTBRIDGE_PORT: '0', PRINTBRIDGE_DATA: dataDir(), PRINTBRIDGE_ADMIN_TOKEN: 'admin-secret' },
    });
    const e = await proc.waitForEvent<{ event: string; port: number; client: string; adminToken: string; adminTokenGenerated: boolean }>('listening');
    assert.equal(e.client, `ws://127.0.0.1:${e.port}/v1/client`);
    assert.equal(e.adminToken, undefined);
    assert.equal(e.adminTokenGenerated, false);
    const client = await connectClient(e.client, 'admin-secret');
    assert.equal(await client.request('ping'), 'pong');
    await client.close();
    assert.deepEqual(await proc.kill('SIGTERM'), { code: 0, signal: null });
  });

  test('a port in use is a failure with one clear line', async () => {
    const running = await serve();
    const r = await procs.run(['serve', '--host', '127.0.0.1', '--port', String(running.port), '--data', dataDir()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /EADDRINUSE/);
  });
});

describe('print', () => {
  test('prints a file through server, bridge and emulator, and exits 0 when done', async () => {
    const server = await serve();
    const token = (await procs.run(['devices', 'add', 'desk', '--data', server.dir])).stdout.trim();
    const emu = await tcpEmulator(procs, tmp.dir);
    const bridge = procs.cli(
      ['bridge', '--server', `ws://127.0.0.1:${server.port}`, '--id', 'desk', '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', 'escpos', '--poll', '0'],
      { env: { PRINTBRIDGE_TOKEN: token } },
    );
    await bridge.waitForLine(/link online/, { stream: 'stderr' });

    const file = join(tmp.dir, 'receipt.bin');
    const payload = randomBytes(64 * 1024);
    writeFileSync(file, payload);
    const r = await procs.run(['print', '--server', `http://127.0.0.1:${server.port}`, '--token', server.token, '--printer', 'desk/0', '--json', file]);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout) as { state: string; size: number; written: number };
    assert.equal(job.state, 'done');
    assert.equal(job.written, payload.length);
    await received(emu.proc, payload.length);
    assert.equal(fileHash(emu.out), sha256(payload));

    // Stdin works too, and the job id alone is printed without --json.
    const piped = await procs.run(['print', '--server', `http://127.0.0.1:${server.port}`, '--printer', 'desk/0', '-'], {
      input: 'hello\n',
      env: { PRINTBRIDGE_CLIENT_TOKEN: server.token },
    });
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stdout, /^\S+\n$/);
    await received(emu.proc, payload.length + 6);
  });

  test('a refused job exits 1 with the error code', async () => {
    const server = await serve();
    const file = join(tmp.dir, 'small.txt');
    writeFileSync(file, 'x');
    const r = await procs.run(['print', '--server', `http://127.0.0.1:${server.port}`, '--token', server.token, '--printer', 'nobody/0', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^printbridge print: error UNKNOWN_\w+: /);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  });

  test('a wrong token exits 1 with UNAUTHORIZED', async () => {
    const server = await serve();
    const file = join(tmp.dir, 'small.txt');
    writeFileSync(file, 'x');
    const r = await procs.run(['print', '--server', `http://127.0.0.1:${server.port}`, '--token', 'wrong', '--printer', 'desk/0', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /UNAUTHORIZED/);
  });
});
