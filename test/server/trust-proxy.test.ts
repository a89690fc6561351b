// The trustProxy option through a real server and real sockets: every place
// that keeps a peer's address (devices.list, clients.list for WebSocket and
// compatibility clients, the refused-login log line) keeps the one a trusted
// proxy forwarded for, and the socket's own otherwise. On one machine the
// proxy is 127.0.0.1 and a stranger is 127.0.0.2 (Linux routes all of
// 127/8 to loopback), each sending the X-Forwarded-For a proxy would.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { after, before, describe, it, test } from 'node:test';
import WebSocket from 'ws';
import type { ClientView, DeviceView } from '../../protocol/client-messages.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { deviceUrl, eventually, FakeDevice, refusedStatus, registerDevice, TestClient } from './peers.js';

const PROXY = '127.0.0.1';
const STRANGER = '127.0.0.2';
const PEER = '203.0.113.7';

/** A raw WebSocket from `local` carrying `xff`, open. */
async function openFrom(url: string, local: string, xff: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { localAddress: local, headers: { 'x-forwarded-for': xff } });
  await once(ws, 'open');
  return ws;
}

async function deviceAddress(admin: TestClient, id: string): Promise<string | undefined> {
  const list = await admin.call<DeviceView[]>('devices.list');
  return list.find((d) => d.id === id)?.address;
}

async function clientAddresses(admin: TestClient, transport: string): Promise<(string | undefined)[]> {
  return (await admin.call<ClientView[]>('clients.list')).filter((c) => c.transport === transport).map((c) => c.address);
}

function refusedAddresses(t: TestServer): unknown[] {
  return t.logs.filter((l) => l.msg === 'device login refused').map((l) => l.fields?.['address']);
}

async function helloFrom(t: TestServer, id: string, token: string, local: string, xff: string): Promise<FakeDevice> {
  const dev = new FakeDevice(new WebSocket(deviceUrl(t, id, token), { localAddress: local, headers: { 'x-forwarded-for': xff } }));
  await once(dev.ws, 'open');
  dev.sendJson({ t: 'hello', v: [1, 0], id, fw: 'fake-1.0', caps: [], window: 8192, maxChunk: 4096, ports: [{ port: 0, dialect: 'raw' }] });
  await dev.json((m) => m['t'] === 'welcome', 'welcome');
  return dev;
}

for (const trusting of [true, false]) {
  describe(trusting ? `a server that trusts ${PROXY}` : 'a server that trusts no proxy', () => {
    let t: TestServer;
    let admin: TestClient;
    const expected = (address: string): string => (trusting ? address : PROXY);

    before(async () => {
      t = await startTestServer({ compat: { port: 0 }, ...(trusting && { trustProxy: [PROXY, '10.0.0.0/8'] }) });
      admin = await TestClient.connect(t);
    });
    after(async () => {
      admin.close();
      await t.close();
    });

    it('a device through the proxy is listed with the address forwarded for', async () => {
      const token = registerDevice(t, 'shop-1');
      const dev = await helloFrom(t, 'shop-1', token, PROXY, `6.6.6.6, ${PEER}, 10.1.1.1`);
      await eventually(async () => (await deviceAddress(admin, 'shop-1')) === expected(PEER), `shop-1 at ${expected(PEER)}`);
      dev.close();
    });

    it('a refused device login is logged with the address forwarded for', async () => {
      assert.equal(await refusedStatus(deviceUrl(t, 'nobody', 'wrong'), { localAddress: PROXY, headers: { 'x-forwarded-for': PEER } }), 401);
      assert.deepEqual(refusedAddresses(t), [expected(PEER)]);
    });

    it('clients, Printerlynx-style and PrinterWebSocket-style clients are listed with the address forwarded for', async () => {
      const ws = await openFrom(t.wsUrl('/v1/client?token=test-admin-token'), PROXY, `${PEER}`);
      const lynx = await openFrom(t.wsUrl('/api/v1/ws'), PROXY, `${PEER}, 10.0.0.2`);
      lynx.send(JSON.stringify({ type: 'authentication', data: { token: 'test-admin-token' } }));
      await once(lynx, 'message');
      const pws = await openFrom(t.server.compat?.url ?? '', PROXY, `${PEER}`);
      const all = async (): Promise<unknown> => [await clientAddresses(admin, 'ws'), await clientAddresses(admin, 'printerlynx'), await clientAddresses(admin, 'compat')];
      await eventually(async () => JSON.stringify(await all()) === JSON.stringify([[PROXY, expected(PEER)], [expected(PEER)], [expected(PEER)]]), 'every client listed');
      for (const s of [ws, lynx, pws]) s.close();
    });

    it('a peer that is not a trusted proxy is known by its own address, whatever it forwards for', async () => {
      const token = registerDevice(t, 'shop-2');
      const dev = await helloFrom(t, 'shop-2', token, STRANGER, PEER);
      await eventually(async () => (await deviceAddress(admin, 'shop-2')) === STRANGER, `shop-2 at ${STRANGER}`);
      assert.equal(await refusedStatus(deviceUrl(t, 'nobody-else', 'wrong'), { localAddress: STRANGER, headers: { 'x-forwarded-for': PEER } }), 401);
      assert.equal(refusedAddresses(t).at(-1), STRANGER);
      dev.close();
    });
  });
}

test('a bad trusted-proxy entry stops the start with a message naming it', async () => {
  const dataDir = tempDir();
  try {
    await assert.rejects(startTestServer({ dataDir, trustProxy: ['127.0.0.1', '10.0.0.0/40'] }), /"10\.0\.0\.0\/40" is not an IP address or CIDR range/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
