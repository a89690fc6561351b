// `printbridge serve --trust-proxy` and PRINTBRIDGE_TRUST_PROXY as an
// operator meets them: a bad entry is a usage error (exit 2) that names it
// and where it came from, before anything listens; the environment's list
// (commas or spaces) is taken whole. The flag through nginx is in
// test/e2e/nginx.test.ts.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Processes } from '../helpers/processes.js';
import { tempDir } from '../helpers/server.js';
import { Conn } from './peers.js';

const procs = new Processes();
const dir = tempDir();
after(async () => {
  await procs.killAll();
  rmSync(dir, { recursive: true, force: true });
});

for (const [how, args, env, named] of [
  ['--trust-proxy', ['--trust-proxy', '127.0.0.1', '--trust-proxy', '10.0.0.0/33'], {}, '--trust-proxy: trusted proxy "10.0.0.0/33"'],
  ['PRINTBRIDGE_TRUST_PROXY', [], { PRINTBRIDGE_TRUST_PROXY: '127.0.0.1, nginx.local' }, 'PRINTBRIDGE_TRUST_PROXY: trusted proxy "nginx.local"'],
] as const) {
  test(`a bad entry in ${how} stops serve with exit 2, naming it`, async () => {
    const r = await procs.run(['serve', '--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'bad'), ...args], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(named), r.stderr);
    assert.equal(r.stdout, '', 'nothing listened');
  });
}

test('PRINTBRIDGE_TRUST_PROXY, a comma and space separated list: every entry is trusted', async () => {
  const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'env'), '--json'], {
    env: { PRINTBRIDGE_ADMIN_TOKEN: 'env-admin', PRINTBRIDGE_TRUST_PROXY: ' 10.0.0.0/8,127.0.0.2  ::1, ' },
  });
  const { port } = await serve.waitForEvent<{ port: number }>('listening', { timeout: 20_000 });
  const client = await Conn.open(`ws://127.0.0.1:${port}/v1/client?token=env-admin`, { localAddress: '127.0.0.2', headers: { 'x-forwarded-for': '203.0.113.7' } });
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/clients`, { headers: { authorization: 'Bearer env-admin' } });
  const list = (await res.json()) as { address?: string }[];
  assert.deepEqual(list.map((c) => c.address), ['203.0.113.7']);
  client.close();
});
