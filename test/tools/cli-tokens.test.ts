// `printbridge tokens` and `clients` as real processes: a client token is
// issued, used, listed among the connected clients and revoked (which also
// closes a console using it); a token with the tokens scope may issue, but
// never a scope it lacks itself.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ClientView, IssuedToken } from '../../protocol/client-messages.js';
import { startServe, type Served } from './cli-fixture.js';

describe('tokens and clients', () => {
  let s: Served;
  before(async () => {
    s = await startServe();
  });
  after(() => s.stop());

  test('issue prints the token alone; it works, shows in clients, cannot issue more, and revoke ends it', async () => {
    // clients needs the tokens scope; --scope replaces the default, so print is named too.
    const issued = await s.run(['tokens', 'issue', '--ttl', '600', '--scope', 'print', '--scope', 'tokens']);
    assert.equal(issued.code, 0, issued.stderr);
    assert.match(issued.stdout, /^\S{20,}\n$/);
    const token = issued.stdout.trim();

    const used = await s.run(['printers', '--json', '--token', token]);
    assert.equal(used.code, 0, used.stderr);

    const listed = await s.run(['clients', '--json', '--token', token]);
    assert.equal(listed.code, 0, listed.stderr);
    const me = (JSON.parse(listed.stdout) as ClientView[]).filter((c) => c.token === 'client');
    assert.equal(me.length, 1, listed.stdout);
    assert.equal(me[0]!.transport, 'ws');

    const forbidden = await s.run(['tokens', 'issue', '--scope', 'devices', '--token', token]);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /^printbridge tokens: error FORBIDDEN: .*needs the scope devices/);
    const unknown = await s.run(['tokens', 'issue', '--scope', 'everything']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--scope "everything": say one of print, jobs:any/);

    // A console on the token is closed when it is revoked.
    const con = s.cli(['console', '--token', token]);
    await con.waitForLine(/^< #1 ok/);

    const revoked = await s.run(['tokens', 'revoke', me[0]!.tokenId!]);
    assert.deepEqual([revoked.code, revoked.stdout], [0, `${me[0]!.tokenId} revoked (1 connection(s) closed)\n`]);
    assert.equal((await con.waitForExit()).code, 1, 'closed by the server with a non-normal code');
    assert.match(con.stderr, /connection closed: 4006 REVOKED/);

    const after = await s.run(['printers', '--token', token]);
    assert.equal(after.code, 1);
    assert.match(after.stderr, /UNAUTHORIZED/);
    const again = await s.run(['tokens', 'revoke', 'no-such-token', '--json']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /UNKNOWN_TOKEN/);
  });

  test('issue --json shows id, token, expiry and label; revoke takes the token itself', async () => {
    const before = Date.now();
    const r = await s.run(['tokens', 'issue', '--ttl', '60', '--label', 'kiosk', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const t = JSON.parse(r.stdout) as IssuedToken;
    assert.equal(t.label, 'kiosk');
    assert.deepEqual(t.scopes, ['print'], 'printing only unless --scope says more');
    assert.ok(t.expires >= before + 59_000 && t.expires <= Date.now() + 61_000, String(t.expires));
    const revoked = await s.run(['tokens', 'revoke', t.token, '--json']);
    assert.deepEqual(JSON.parse(revoked.stdout), { id: t.id, revoked: true, closed: 0 });
  });

  test('clients lists this connection as a table', async () => {
    const r = await s.run(['clients']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID +ADDRESS +ENDPOINT +TOKEN +EVENTS +SINCE/);
    assert.match(r.stdout, /^\S+ +127\.0\.0\.1 +ws +admin +no +\d{4}-/m);
  });

  test('usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['tokens'], /say issue or revoke/],
      [['tokens', 'mint'], /unknown action "mint"/],
      [['tokens', 'issue', '--ttl', '0'], /--ttl must be an integer from 1 to 86400/],
      [['tokens', 'revoke'], /needs a token or its id/],
      [['tokens', 'revoke', 'x', '--ttl', '5'], /--ttl only applies to issue/],
      [['clients', 'extra'], /unexpected argument/],
    ];
    for (const [args, message] of cases) {
      const r = await s.run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
