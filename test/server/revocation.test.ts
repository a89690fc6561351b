// Revoking a client token ends its sessions on every transport that serves
// clients, and every such session is listed in clients.list with its
// transport before: /v1/client, the Printerlynx-style /api/v1/ws and the
// PrinterWebSocket compat listener (a client token in ?token=). Each closes
// with 4006 REVOKED; the token is refused from then on everywhere.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClientView, IssuedToken, RevokedToken } from '../../protocol/client-messages.js';
import { CLOSE } from '../../protocol/errors.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Conn, TestClient, eventually, refusedStatus, registerDevice, reportPorts } from './peers.js';

async function lynxOpen(t: TestServer, token: string): Promise<Conn> {
  const c = await Conn.open(t.wsUrl('/api/v1/ws'), { headers: { 'user-agent': 'lynx-front/1.0' } });
  c.sendJson({ type: 'authentication', data: { token } });
  const auth = await c.json((m) => m['type'] === 'authentication', 'the authentication reply');
  assert.deepEqual(auth['data'], { status: 'OK' });
  return c;
}

describe('revocation', () => {
  let t: TestServer;
  let admin: TestClient;

  before(async () => {
    t = await startTestServer({ compat: { port: 0 } });
    admin = await TestClient.connect(t);
    await admin.call('subscribe');
    registerDevice(t, 'rv-1');
    reportPorts(t, 'rv-1');
  });
  after(async () => {
    admin?.close();
    await t?.close();
  });

  it('every client session is in clients.list with its transport, and revoking its token closes them all with 4006', async () => {
    const { id, token } = await admin.call<IssuedToken>('token.issue', { label: 'pos-7' });
    const other = await admin.call<IssuedToken>('token.issue', {});
    const compat = t.server.compat;
    assert.ok(compat !== undefined);

    const ws = await TestClient.connect(t, token);
    const lynx = await lynxOpen(t, token);
    const pws = await Conn.open(`${compat.url}?token=${encodeURIComponent(token)}`, { headers: { 'user-agent': 'pos-page/3' } });
    const bystander = await lynxOpen(t, other.token);

    let mine: ClientView[] = [];
    await eventually(async () => {
      mine = (await admin.call<ClientView[]>('clients.list')).filter((c) => c.tokenId === id);
      return mine.length === 3;
    }, 'the three sessions of the token are listed');
    assert.deepEqual(mine.map((c) => c.transport).sort(), ['compat', 'printerlynx', 'ws']);
    for (const c of mine) {
      assert.equal(c.token, 'client');
      assert.deepEqual(c.scopes, ['print']);
      assert.equal(c.address, '127.0.0.1');
    }
    assert.equal(mine.find((c) => c.transport === 'printerlynx')?.userAgent, 'lynx-front/1.0');
    assert.equal(mine.find((c) => c.transport === 'compat')?.userAgent, 'pos-page/3');

    // The Printerlynx session could print before; it cannot after.
    lynx.sendJson({ type: 'print_job', data: { type: 'START', printer_uuid: 'rv-1/0', file: 'before\n' } });
    assert.equal(((await lynx.json((m) => m['type'] === 'print_job', 'the START reply'))['data'] as Record<string, unknown>)['status'], 'OK');

    const gone = admin.event('client.disconnected', (e) => (e['client'] as ClientView).transport === 'printerlynx' && (e['client'] as ClientView).tokenId === id);
    const revoked = await admin.call<RevokedToken>('token.revoke', { token: id });
    assert.deepEqual(revoked, { id, revoked: true, closed: 3 });
    assert.equal(await ws.closeCode(), CLOSE.REVOKED.code);
    assert.equal(await lynx.closeCode(), CLOSE.REVOKED.code);
    assert.equal(await pws.closeCode(), CLOSE.REVOKED.code);
    await gone;

    const left = await admin.call<ClientView[]>('clients.list');
    assert.ok(!left.some((c) => c.tokenId === id), JSON.stringify(left));
    assert.ok(left.some((c) => c.tokenId === other.id && c.transport === 'printerlynx'), 'another token\'s session stays');
    bystander.sendJson({ type: 'printer_status', data: {} });
    assert.equal(((await bystander.json((m) => m['type'] === 'printer_status' && (m['data'] as Record<string, unknown>)['status'] === 'OK', 'the refresh reply'))['data'] as Record<string, unknown>)['status'], 'OK');

    // And the token is refused everywhere from now on.
    assert.equal(await refusedStatus(t.wsUrl(`/v1/client?token=${encodeURIComponent(token)}`)), 401);
    assert.equal(await refusedStatus(`${compat.url}?token=${encodeURIComponent(token)}`), 401);
    const again = await Conn.open(t.wsUrl('/api/v1/ws'));
    again.sendJson({ type: 'authentication', data: { token } });
    const refused = await again.json((m) => m['type'] === 'authentication', 'the refusal');
    assert.equal((refused['data'] as Record<string, unknown>)['status'], 'ERROR');
    assert.equal(await again.closeCode(), CLOSE.POLICY.code);
    bystander.close();
  });

  it('compat sessions let in by the listener itself are listed too, and print only', async () => {
    const compat = t.server.compat;
    assert.ok(compat !== undefined);
    const pws = await Conn.open(compat.url);
    let found: ClientView | undefined;
    await eventually(async () => {
      found = (await admin.call<ClientView[]>('clients.list')).find((c) => c.transport === 'compat');
      return found !== undefined;
    }, 'the compat session is listed');
    assert.deepEqual([found?.token, found?.scopes], ['listener', ['print']]);
    pws.close();
    await eventually(async () => !(await admin.call<ClientView[]>('clients.list')).some((c) => c.transport === 'compat'), 'the closed compat session is no longer listed');
  });
});
