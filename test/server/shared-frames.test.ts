// A broadcast's frame is built once and written to every device's socket
// (server/transports/ws-frame.ts, DeviceSocket.sendShared). Read back by
// the real ws client: every length class of the header, text that is not
// ASCII, over TLS, and in order behind job data that a slow reader left
// queued in the socket.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { serverTextFrame } from '../../server/transports/ws-frame.js';
import { startTestServer } from '../helpers/server.js';
import { createTestPki } from '../helpers/tls-certs.js';
import { tempDir } from '../helpers/server.js';
import { FakeDevice, TestClient, registerDevice, reportPorts, type Item } from './peers.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A bare server that answers the handshake by hand and then writes `frames` as they are. */
async function rawServer(frames: Buffer[]): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', (head) => {
      const key = /sec-websocket-key: *(\S+)/i.exec(head.toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      for (const f of frames) socket.write(f);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

test('a prebuilt text frame reads back as the same text for every header length', async (ctx) => {
  const texts = [
    '',
    'x',
    'a'.repeat(125),
    'b'.repeat(126),
    'c'.repeat(127),
    'd'.repeat(0xffff),
    'e'.repeat(0x10000),
    'f'.repeat(70_000),
    // 125 characters but more bytes: the length is the UTF-8 one.
    'é'.repeat(125),
    '{"t":"control","name":"héllo ✓ 🖨"}',
  ];
  const server = await rawServer(texts.map(serverTextFrame));
  ctx.after(() => server.close());
  const ws = new WebSocket(server.url);
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false);
      got.push(String(data));
      if (got.length === texts.length) resolve();
    });
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error(`closed ${code} after ${got.length} messages`)));
  });
  ws.terminate();
  assert.deepEqual(got.map((t) => t.length), texts.map((t) => t.length));
  assert.deepEqual(got, texts);
});

test('a broadcast reaches devices over TLS as the same text for each', async (ctx) => {
  const pki = createTestPki(tempDir('pb-shared-tls-'));
  const t = await startTestServer({ tls: pki.issue('server', 7), heartbeatMs: 60_000 });
  ctx.after(() => t.close());
  const ca = readFileSync(pki.caCert);
  const devices: FakeDevice[] = [];
  for (const id of ['tls-a', 'tls-b', 'tls-c']) devices.push(await FakeDevice.connect(t, id, registerDevice(t, id), { ws: { ca } }));
  const client = new TestClient(new WebSocket(t.wsUrl('/v1/client?token=test-admin-token'), { ca }));
  await once(client.ws, 'open');
  const args = { note: 'ünïcode ✓', pad: 'p'.repeat(300) };
  const pending = client.call<{ reports: { device: string; status: string }[] }>('control.send', { to: { all: true }, name: 'bench', args });
  const raws: string[] = [];
  for (const dev of devices) {
    const item = (await dev.inbox.take((x) => x.kind === 'text' && x.json['t'] === 'control', 'control')) as Extract<Item, { kind: 'text' }>;
    assert.deepEqual(item.json['args'], args);
    raws.push(item.raw);
    dev.sendJson({ t: 'control.result', ref: item.json['ref'], ok: true });
  }
  assert.equal(new Set(raws).size, 1, 'every device got the same text');
  const result = await pending;
  assert.deepEqual(result.reports.map((r) => r.status), ['ok', 'ok', 'ok']);
});

test('broadcasts queued behind job data a slow device has not read arrive after it, intact and in order', async (ctx) => {
  const t = await startTestServer({ heartbeatMs: 60_000, controlTimeoutMs: 30_000, limits: { maxClientBuffer: 64 * 1024 * 1024 } });
  ctx.after(() => t.close());
  const token = registerDevice(t, 'slow');
  const dev = await FakeDevice.connect(t, 'slow', token, { window: 1 << 20, maxChunk: 16 * 1024 });
  reportPorts(t, 'slow');
  const client = await TestClient.connect(t);
  const job = await client.call<{ id: string }>('job.submit', { printer: 'slow/0', data: Buffer.alloc(1 << 20, 0x41).toString('base64') });
  assert.equal((await dev.jobStart())['id'], job.id);
  // Stop reading: the job's frames go first, then the broadcasts' fill the
  // kernel's buffers and queue in the socket behind them.
  dev.socket?.pause();
  dev.sendJson({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
  await new Promise((r) => setTimeout(r, 200));
  const count = 60;
  const pad = 'p'.repeat(100 * 1024);
  const pending = Array.from({ length: count }, (_, n) => client.call<{ reports: { status: string }[] }>('control.send', { to: { all: true }, name: 'queued', args: { n, pad } }));
  await new Promise((r) => setTimeout(r, 500));
  dev.socket?.resume();
  let binaryBefore = -1;
  for (let n = 0; n < count; n++) {
    const item = (await dev.inbox.take((x) => x.kind === 'text' && x.json['t'] === 'control', `control ${n}`)) as Extract<Item, { kind: 'text' }>;
    if (n === 0) binaryBefore = dev.inbox.items.filter((x) => x.kind === 'binary').length;
    assert.deepEqual(item.json['args'], { n, pad }, `control ${n} arrives in order and intact`);
    dev.sendJson({ t: 'control.result', ref: item.json['ref'], ok: true });
  }
  assert.ok(binaryBefore > 0, 'job data sent before the broadcasts arrived before them');
  for (const result of await Promise.all(pending)) assert.deepEqual(result.reports.map((r) => r.status), ['ok']);
  assert.equal(dev.ws.readyState, WebSocket.OPEN);
});
