// Which web pages may use the PrinterWebSocket.js-style listener. Any page
// open in the POS machine's browser can open a WebSocket to 127.0.0.1:8765,
// so a browser (it always sends its page's Origin) is refused unless its
// origin was configured; a program that sends no Origin is let in.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { refusedStatus } from '../server/peers.js';
import { JsonClient } from './fixture.js';

async function withCompat(origins: string[] | undefined, run: (url: string, t: TestServer) => Promise<void>): Promise<void> {
  const t = await startTestServer({ compat: { port: 0, ...(origins && { origins }) } });
  try {
    await run(`ws://127.0.0.1:${t.server.compat?.port}/`, t);
  } finally {
    await t.close();
  }
}

async function works(url: string, headers: Record<string, string> = {}): Promise<void> {
  const c = await JsonClient.open(url, headers);
  c.send({ call: 'printers.find', uid: 'u1' });
  assert.deepEqual(await c.next((m) => m['uid'] === 'u1', 'printers.find'), { uid: 'u1', result: [], status_code: 0 });
  c.close();
}

test('by default a page from any origin is refused with 403, and a client without an Origin is let in', async () => {
  await withCompat(undefined, async (url) => {
    assert.equal(await refusedStatus(url, { headers: { origin: 'https://evil.example' } }), 403);
    assert.equal(await refusedStatus(url, { headers: { origin: 'null' } }), 403);
    await works(url);
  });
});

test('configured origins are let in (null for file:// pages), others still refused', async () => {
  await withCompat(['https://pos.example', 'null'], async (url) => {
    await works(url, { origin: 'https://pos.example' });
    await works(url, { origin: 'null' });
    assert.equal(await refusedStatus(url, { headers: { origin: 'https://pos.example.evil.example' } }), 403);
    assert.equal(await refusedStatus(url, { headers: { origin: 'http://pos.example' } }), 403);
  });
});

test('* lets in a page from any origin, as the original server did', async () => {
  await withCompat(['*'], async (url) => {
    await works(url, { origin: 'https://anywhere.example' });
  });
});
