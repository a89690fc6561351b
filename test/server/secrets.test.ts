// Quiet secrets: `printbridge serve` shows the admin token only when it has
// just generated it, and the data folder (the admin token, the database with
// every unfinished job's bytes) is private to the server's user, whatever the
// umask and whatever modes an older version left. Real processes for what
// the CLI prints; a server in this process for the modes it fixes.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CLI, Processes } from '../helpers/processes.js';
import { startTestServer, tempDir } from '../helpers/server.js';

const procs = new Processes();
const dirs: string[] = [];
after(async () => {
  await procs.killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = tempDir('printbridge-secrets-');
  dirs.push(d);
  return d;
}

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(4, '0');
}

/** `printbridge serve` under a umask that would make files world-readable. */
function serve(data: string, env: Record<string, string | undefined>, extra: string[] = []) {
  const args = ['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, ...extra].map((a) => `'${a}'`).join(' ');
  return procs.spawn('sh', ['-c', `umask 022; exec '${process.execPath}' '${CLI}' ${args}`], { env, name: 'printbridge serve' });
}

test('an admin token from PRINTBRIDGE_ADMIN_TOKEN is never printed, as text or as JSON', async () => {
  const secret = 'env-secret-4f1c9e7a2b';
  const text = serve(join(scratch(), 'data'), { PRINTBRIDGE_ADMIN_TOKEN: secret });
  await text.waitForLine(/dashboard: /);
  await text.kill();
  assert.ok(!text.stdout.includes(secret) && !text.stderr.includes(secret), text.stdout);
  assert.match(text.stdout, /admin token: not shown \(from PRINTBRIDGE_ADMIN_TOKEN\)/);

  const json = serve(join(scratch(), 'data'), { PRINTBRIDGE_ADMIN_TOKEN: secret }, ['--json']);
  const e = await json.waitForEvent('listening');
  assert.equal(e['adminTokenGenerated'], false);
  assert.equal(e['adminToken'], undefined);
  await json.kill();
  assert.ok(!json.stdout.includes(secret) && !json.stderr.includes(secret), json.stdout);
});

test('a generated admin token is shown once, on the start that generated it, and not on the next', async () => {
  const data = join(scratch(), 'data');
  const first = serve(data, { PRINTBRIDGE_ADMIN_TOKEN: undefined });
  const token = (await first.waitForLine(/admin token: /)).split('admin token: ')[1]!.trim();
  assert.match(token, /^[A-Za-z0-9_-]{40,}$/);
  await first.waitForLine(/dashboard: /);
  await first.kill();

  const second = serve(data, { PRINTBRIDGE_ADMIN_TOKEN: undefined });
  await second.waitForLine(/dashboard: /);
  await second.kill();
  assert.ok(!second.stdout.includes(token), second.stdout);
  assert.match(second.stdout, /admin token: not shown \(kept in .*admin-token\)/);
});

test('a new data folder is 0700 and the database, its WAL files and the admin token 0600, under umask 022', async () => {
  const data = join(scratch(), 'data');
  const proc = serve(data, { PRINTBRIDGE_ADMIN_TOKEN: undefined });
  await proc.waitForLine(/dashboard: /);
  try {
    assert.equal(mode(data), '0700');
    for (const f of ['printbridge.db', 'printbridge.db-wal', 'printbridge.db-shm', 'admin-token']) {
      assert.ok(existsSync(join(data, f)), `${f} exists while the server runs`);
      assert.equal(mode(join(data, f)), '0600', f);
    }
  } finally {
    await proc.kill();
  }
});

test('a data folder an older version left readable by others is made private on start', async () => {
  const data = join(scratch(), 'data');
  delete process.env['PRINTBRIDGE_ADMIN_TOKEN']; // so that the server keeps its token in the folder
  const first = await startTestServer({ dataDir: data, adminToken: undefined });
  await first.server.close();
  chmodSync(data, 0o755);
  for (const f of ['printbridge.db', 'admin-token']) chmodSync(join(data, f), 0o644);

  const t = await startTestServer({ dataDir: data, adminToken: undefined });
  try {
    assert.equal(mode(data), '0700');
    for (const f of ['printbridge.db', 'admin-token']) assert.equal(mode(join(data, f)), '0600', f);
    for (const f of ['printbridge.db-wal', 'printbridge.db-shm']) if (existsSync(join(data, f))) assert.equal(mode(join(data, f)), '0600', f);
  } finally {
    await t.close();
  }
});
