// Refused device logins in the server's log: one line per id and reason per
// window, the next one counting those held back, bounded memory whatever ids
// a peer makes up; and, through a real server, every reason an upgrade to
// /v1/device is refused, with the token nowhere in the log.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import type { LogLevel } from '../../server/core/context.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { LoginRefusals, REFUSAL_WINDOW_MS } from '../../server/transports/login-refusals.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Entry {
  level: LogLevel;
  msg: string;
  fields: Record<string, unknown> | undefined;
}

function harness(maxKeys?: number): { refusals: LoginRefusals; lines: Entry[]; advance(ms: number): void } {
  let now = 1_000_000;
  const lines: Entry[] = [];
  const refusals = new LoginRefusals((level, msg, fields) => lines.push({ level, msg, fields }), () => now, REFUSAL_WINDOW_MS, maxKeys);
  return { refusals, lines, advance: (ms) => void (now += ms) };
}

test('one line per id and reason per minute; the next counts the ones held back', () => {
  const h = harness();
  for (let i = 0; i < 30; i++) {
    h.refusals.refused('shop-1', '10.0.0.7', 'wrong token');
    h.advance(2_000);
  }
  assert.deepEqual(h.lines, [{ level: 'warn', msg: 'device login refused', fields: { device: 'shop-1', address: '10.0.0.7', reason: 'wrong token' } }]);
  h.advance(REFUSAL_WINDOW_MS);
  h.refusals.refused('shop-1', '10.0.0.7', 'wrong token');
  assert.equal(h.lines.length, 2);
  assert.deepEqual(h.lines[1]?.fields, { device: 'shop-1', address: '10.0.0.7', reason: 'wrong token', suppressed: 29 });
});

test('another id or another reason is its own line', () => {
  const h = harness();
  h.refusals.refused('shop-1', '10.0.0.7', 'wrong token');
  h.refusals.refused('shop-2', '10.0.0.8', 'wrong token');
  h.refusals.refused('shop-1', '10.0.0.7', 'unknown device');
  h.refusals.refused(undefined, '10.0.0.9', 'no credentials');
  assert.deepEqual(h.lines.map((l) => [l.fields?.['device'], l.fields?.['reason']]), [
    ['shop-1', 'wrong token'], ['shop-2', 'wrong token'], ['shop-1', 'unknown device'], ['(none)', 'no credentials'],
  ]);
});

test('made-up ids cannot grow its memory: past the bound they share one line per reason and window', () => {
  const h = harness(100);
  for (let i = 0; i < 10_000; i++) h.refusals.refused(`fake-${i}`, '10.6.6.6', 'unknown device');
  assert.equal(h.lines.length, 101, 'the first hundred ids, then one line for the many');
  assert.equal(h.lines.at(-1)?.fields?.['device'], '(many ids)');
  // Once the window has passed, old ids are forgotten and new ones are told again.
  h.advance(REFUSAL_WINDOW_MS);
  h.refusals.refused('fresh', '10.6.6.6', 'unknown device');
  assert.equal(h.lines.at(-1)?.fields?.['device'], 'fresh');
  // A long id is cut.
  h.refusals.refused('x'.repeat(5000), '10.6.6.6', 'bad id');
  assert.equal(String(h.lines.at(-1)?.fields?.['device']).length, 65);
});

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

/** Tries an upgrade to /v1/device; resolves with the HTTP status it was refused with. */
function refusedWith(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      resolve(res.statusCode ?? 0);
    });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => {});
  });
}

test('a real server logs each kind of refused device login once, with id, address and reason, never the token', async () => {
  const srv = await startTestServer();
  servers.push(srv);
  const store = openStore(srv.dataDir);
  addDevice(store, 'front-desk', []);
  store.close();
  const url = (id: string): string => srv.wsUrl(`/v1/device?id=${encodeURIComponent(id)}`);
  const wrong = 'wrong-token-value-123';
  for (let i = 0; i < 3; i++) {
    assert.equal(await refusedWith(url('front-desk'), { authorization: `Bearer ${wrong}` }), 401);
    assert.equal(await refusedWith(url('ghost'), { authorization: `Bearer ${wrong}` }), 401);
    assert.equal(await refusedWith(url('bad id!'), { authorization: `Bearer ${wrong}` }), 400);
    assert.equal(await refusedWith(url('front-desk'), {}), 401);
  }
  const refused = srv.logs.filter((l) => l.msg === 'device login refused');
  assert.deepEqual(refused.map((l) => [l.level, l.fields?.['device'], l.fields?.['address'], l.fields?.['reason']]), [
    ['warn', 'front-desk', '127.0.0.1', 'wrong token'],
    ['warn', 'ghost', '127.0.0.1', 'unknown device'],
    ['warn', 'bad id!', '127.0.0.1', 'bad id'],
    ['warn', 'front-desk', '127.0.0.1', 'no credentials'],
  ]);
  assert.ok(!JSON.stringify(srv.logs).includes(wrong), 'the token is never logged');
});
