// `printbridge devices remove` as real processes against a real server: it
// goes through the server (device.remove), so the device's open connection
// is closed with 4006 REVOKED; the admin token may come from the data
// directory's admin-token file; a client token is refused. With no server
// answering, or --offline, it edits the store and fails the device's
// unfinished jobs there.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { CLOSE } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { openStore } from '../../server/store/db.js';
import { addDevice, getDevice } from '../../server/store/devices.js';
import { getJob, insertJob } from '../../server/store/jobs.js';
import { startServe, type Served } from './cli-fixture.js';

/** A device connection by hand: authenticated, hello said, welcome received. */
async function onlineDevice(port: number, id: string, token: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/device?id=${id}&token=${encodeURIComponent(token)}`);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await once(ws, 'open');
  ws.send(JSON.stringify({ t: 'hello', v: PROTOCOL_VERSION, id, fw: 'test-1', caps: [], window: 8192, maxChunk: 1024, ports: [{ port: 0, dialect: 'raw' }] }));
  await new Promise<void>((resolve) => ws.on('message', (data) => {
    if ((JSON.parse(String(data)) as { t?: string }).t === 'welcome') resolve();
  }));
  return { ws, closed };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('devices remove', () => {
  let s: Served;
  before(async () => {
    s = await startServe();
  });
  after(() => s.stop());

  test('through the running server: the connection closes with 4006 and the token is dead', async () => {
    const token = await s.addDevice('cli-rm-1');
    const dev = await onlineDevice(s.port, 'cli-rm-1', token);
    const r = await s.run(['devices', 'remove', 'cli-rm-1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^device cli-rm-1 removed; its connection was closed \(1\)\n$/);
    assert.equal(await dev.closed, CLOSE.REVOKED.code);
    const list = await s.run(['devices', 'list', '--json', '--data', s.dir]);
    assert.ok(!(JSON.parse(list.stdout) as { id: string }[]).some((d) => d.id === 'cli-rm-1'));

    const again = await s.run(['devices', 'remove', 'cli-rm-1']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^printbridge devices: error UNKNOWN_DEVICE: /);
  });

  test('without a token it uses the admin-token file in --data', async () => {
    const token = await s.addDevice('cli-rm-2');
    const dev = await onlineDevice(s.port, 'cli-rm-2', token);
    const r = await s.run(['devices', 'remove', 'cli-rm-2', '--data', s.dir], { env: { PRINTBRIDGE_CLIENT_TOKEN: undefined } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await dev.closed, CLOSE.REVOKED.code);
  });

  test('a client token or a wrong token is refused, and the store is left alone', async () => {
    await s.addDevice('cli-rm-3');
    const issued = await s.run(['tokens', 'issue', '--ttl', '60']);
    const forbidden = await s.run(['devices', 'remove', 'cli-rm-3', '--token', issued.stdout.trim()]);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /^printbridge devices: error FORBIDDEN: /);
    const wrong = await s.run(['devices', 'remove', 'cli-rm-3', '--token', 'not-the-token']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /UNAUTHORIZED/);
    const none = await s.run(['devices', 'remove', 'cli-rm-3', '--data', join(s.tmp, 'empty')], { env: { PRINTBRIDGE_CLIENT_TOKEN: undefined } });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /needs the admin token .*--offline edits the store alone/);
    const store = openStore(s.dir);
    try {
      assert.notEqual(getDevice(store, 'cli-rm-3'), undefined);
    } finally {
      store.close();
    }
  });

  test('no server answering: the store is edited and the unfinished jobs fail there', async () => {
    const dir = join(s.tmp, 'offline');
    const store = openStore(dir);
    addDevice(store, 'desk', []);
    const job = insertJob(store, { id: 'j-1', device: 'desk', port: 0, data: new Uint8Array([1, 2, 3]) }, Date.now());
    store.close();

    const server = `http://127.0.0.1:${await closedPort()}`;
    const r = await s.run(['devices', 'remove', 'desk', '--server', server, '--data', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no server answered at ws:\/\/127\.0\.0\.1:\d+\/v1\/client \(ECONNREFUSED\); editing the store/);
    assert.match(r.stderr, /device desk removed from .*; 1 unfinished job\(s\) failed/);
    const after = openStore(dir);
    try {
      assert.equal(getDevice(after, 'desk'), undefined);
      const failed = getJob(after, job.id);
      assert.deepEqual([failed?.state, failed?.error?.code, failed?.error?.message], ['failed', 'DEVICE_REMOVED', 'device was removed while the job was unfinished: desk']);
    } finally {
      after.close();
    }
  });

  test('--offline edits the store even while the server runs; the server then closes the device with 4006 within seconds', async () => {
    const token = await s.addDevice('cli-rm-4');
    const dev = await onlineDevice(s.port, 'cli-rm-4', token);
    const r = await s.run(['devices', 'remove', 'cli-rm-4', '--offline', '--data', s.dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^device cli-rm-4 removed from /);
    const removedAt = Date.now();
    const code = await Promise.race([dev.closed, new Promise<string>((resolve) => setTimeout(() => resolve('still connected after 5 s'), 5000).unref())]);
    assert.equal(code, CLOSE.REVOKED.code);
    assert.ok(Date.now() - removedAt < 5000);
  });

  test('usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['devices', 'remove', 'x', '--offline', '--server', 'http://h'], /--offline asks no server/],
      [['devices', 'list', '--offline'], /--offline only applies to remove/],
      [['devices', 'add', 'x', '--server', 'http://h'], /--server only applies to remove/],
      [['devices', 'remove', 'x', '--server', 'ftp://h'], /--server must be an http:\/\/ URL .*; use http:\/\/h /],
    ];
    for (const [args, message] of cases) {
      const r = await s.run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    }
  });
});
