// Short-lived client tokens and connected clients over real sockets:
// token.issue (admin only) → a token usable in ?token= on /v1/client and as
// Bearer on REST, stored hashed, expiring, revocable (revoking closes its
// connections with 4006); clients.list and the client.connected /
// client.disconnected events a dashboard shows.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { CLOSE } from '../../protocol/errors.js';
import { openStore } from '../../server/store/db.js';
import { insertToken } from '../../server/store/tokens.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Conn, TestClient, refusedStatus } from './peers.js';

type Issued = { id: string; token: string; expires: number };
type ClientView = { id: string; token: string; tokenId?: string; userAgent?: string; subscribed: boolean; since: number; address?: string; transport: string };
type Err = { code: string; message: string };

async function clientWith(t: TestServer, token: string, userAgent?: string): Promise<TestClient> {
  const ws = new WebSocket(t.wsUrl(`/v1/client?token=${encodeURIComponent(token)}`), { headers: userAgent === undefined ? {} : { 'user-agent': userAgent } });
  const c = new TestClient(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_q, res) => reject(new Error(`refused ${res.statusCode}`)));
  });
  return c;
}

async function restStatus(t: TestServer, token: string): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${t.server.url}/api/v1/printers`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { error?: Err };
  return { status: res.status, code: body.error?.code };
}

describe('api: client tokens and connected clients', () => {
  let t: TestServer;
  let admin: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    admin = await TestClient.connect(t);
    await admin.call('subscribe');
  });
  after(() => t.close());

  it('issues a token for 300 s by default, shown once and stored only as a hash', async () => {
    const before = Date.now();
    const issued = await admin.call<Issued>('token.issue', {});
    const afterIssue = Date.now();
    assert.match(issued.token, /^pbc\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    assert.ok(issued.token.includes(issued.id));
    assert.ok(issued.expires >= before + 300_000 && issued.expires <= afterIssue + 300_000, `expires ${issued.expires}`);
    const custom = await admin.call<Issued>('token.issue', { ttl: 86_400, label: 'kiosk' });
    assert.ok(custom.expires >= before + 86_400_000);
    const store = openStore(t.dataDir);
    try {
      const rows = store.db.prepare('SELECT * FROM client_tokens').all() as Record<string, unknown>[];
      assert.ok(rows.length >= 2);
      assert.ok(!JSON.stringify(rows).includes(issued.token.split('.')[2] as string), 'the secret is not in the database');
      assert.equal(rows.find((r) => r['id'] === custom.id)?.['label'], 'kiosk');
    } finally {
      store.close();
    }
    for (const ttl of [0, 86_401, 1.5, '60']) {
      assert.equal(((await admin.request('token.issue', { ttl }))['error'] as Err).code, 'BAD_FIELD', String(ttl));
    }
  });

  it('a client token opens /v1/client in the query and REST as Bearer; it cannot issue or revoke tokens', async () => {
    const { token } = await admin.call<Issued>('token.issue', { ttl: 60 });
    const browser = await clientWith(t, token);
    assert.equal(await browser.call('ping'), 'pong');
    assert.equal(((await browser.request('token.issue', {}))['error'] as Err).code, 'FORBIDDEN');
    assert.equal(((await browser.request('token.revoke', { token }))['error'] as Err).code, 'FORBIDDEN');
    assert.deepEqual(await restStatus(t, token), { status: 200, code: undefined });
    browser.close();
  });

  it('refuses wrong, expired and revoked tokens; revoking closes the connections the token opened with 4006', async () => {
    assert.equal(await refusedStatus(t.wsUrl('/v1/client?token=pbc.0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')), 401);
    assert.deepEqual(await restStatus(t, 'nope'), { status: 401, code: 'UNAUTHORIZED' });

    // An expired token, put in the store the way token.issue does, with its expiry already past.
    const expired = `pbc.${'e'.repeat(16)}.${'A'.repeat(43)}`;
    const store = openStore(t.dataDir);
    try {
      insertToken(store, 'e'.repeat(16), expired, undefined, 1, 2);
    } finally {
      store.close();
    }
    assert.equal(await refusedStatus(t.wsUrl(`/v1/client?token=${expired}`)), 401);
    assert.deepEqual(await restStatus(t, expired), { status: 401, code: 'TOKEN_EXPIRED' });

    const { id, token } = await admin.call<Issued>('token.issue', { ttl: 60 });
    const a = await clientWith(t, token);
    const b = await clientWith(t, token);
    const other = await clientWith(t, (await admin.call<Issued>('token.issue', {})).token);
    const revoked = await admin.call<{ id: string; revoked: boolean; closed: number }>('token.revoke', { token: id });
    assert.deepEqual(revoked, { id, revoked: true, closed: 2 });
    assert.equal(await a.closeCode(), CLOSE.REVOKED.code);
    assert.equal(await b.closeCode(), CLOSE.REVOKED.code);
    assert.equal(await other.call('ping'), 'pong', 'another token is untouched');
    assert.equal(await refusedStatus(t.wsUrl(`/v1/client?token=${encodeURIComponent(token)}`)), 401);
    assert.deepEqual(await restStatus(t, token), { status: 401, code: 'UNAUTHORIZED' });
    // Revoking by the token itself works too, and again is no error.
    assert.equal((await admin.call<{ id: string }>('token.revoke', { token })).id, id);
    assert.equal(((await admin.request('token.revoke', { token: 'ffffffffffffffff' }))['error'] as Err).code, 'UNKNOWN_TOKEN');
    other.close();
  });

  it('clients.list shows every connection with its address, user agent, token kind and subscription', async () => {
    // clients.list needs the tokens scope (a default token only prints).
    const { id: tokenId, token } = await admin.call<Issued>('token.issue', { scopes: ['print', 'tokens'] });
    const connected = admin.event('client.connected', (e) => (e['client'] as ClientView).userAgent === 'pos-terminal/2.1');
    const pos = await clientWith(t, token, 'pos-terminal/2.1');
    const joined = (await connected)['client'] as ClientView;
    assert.equal(joined.token, 'client');
    assert.equal(joined.tokenId, tokenId);
    assert.equal(joined.transport, 'ws');
    assert.equal(joined.subscribed, false);

    await pos.call('subscribe');
    const list = await pos.call<ClientView[]>('clients.list');
    const me = list.find((c) => c.id === joined.id);
    const them = list.find((c) => c.token === 'admin' && c.subscribed);
    assert.ok(me !== undefined && them !== undefined, JSON.stringify(list));
    assert.equal(me.subscribed, true);
    assert.equal(me.address, '127.0.0.1');
    assert.equal(me.since, joined.since);
    assert.equal(them.tokenId, undefined);

    const gone = admin.event('client.disconnected', (e) => (e['client'] as ClientView).id === joined.id);
    pos.close();
    assert.equal(((await gone)['client'] as ClientView).userAgent, 'pos-terminal/2.1');
    assert.ok(!(await admin.call<ClientView[]>('clients.list')).some((c) => c.id === joined.id));
  });

  it('the subscribe snapshot lists the connected clients', async () => {
    const late = await Conn.open(t.wsUrl('/v1/client?token=test-admin-token'));
    late.sendJson({ id: 1, op: 'subscribe' });
    const reply = await late.json((m) => m['re'] === 1);
    const clients = (reply['result'] as { clients: ClientView[] }).clients;
    assert.ok(clients.length >= 2 && clients.every((c) => typeof c.id === 'string'));
    late.close();
  });
});
