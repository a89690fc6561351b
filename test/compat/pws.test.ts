// The PrinterWebSocket.js-style `call` API (serve --compat-port), driven the
// way that API's own client drives it: one `uid` per connection reused for
// every call, `printers.find` and `server.version` answered with `result`,
// `print` with params.printer.name and params.data lines, `printerStatus`
// with a top-level PrinterName, status broadcasts to every connection.
// Everything real: serve, bridge and a TSPL printer emulator as processes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { Processes } from '../helpers/processes.js';
import { startTestServer } from '../helpers/server.js';
import { JsonClient, startShop, type Msg, type Shop } from './fixture.js';

const procs = new Processes();
let shop: Shop;

before(async () => {
  shop = await startShop(procs, { dialect: 'tspl', name: 'Label-1' });
});
after(async () => {
  await procs.killAll();
  shop?.cleanup();
});

/** A page's connection: like PrinterWebSocket.js, one uid for the whole connection. */
async function page(): Promise<{ c: JsonClient; uid: string }> {
  const c = await JsonClient.open(`ws://127.0.0.1:${shop.compatPort}/`);
  return { c, uid: `uid-${Math.random().toString(36).slice(2, 18)}` };
}

function printed(): string {
  try {
    return readFileSync(shop.emu.out, 'latin1');
  } catch {
    return '';
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(cond(), `never saw ${what}`);
}

test('printers.find lists the printer by its configured name; server.version answers like the original', async () => {
  const { c, uid } = await page();
  c.send({ call: 'printers.find', uid });
  const found = await c.next((m) => Array.isArray(m['result']), 'the printer list');
  assert.deepEqual(found, { uid, result: ['Label-1'], status_code: 0 });

  const from = c.messages.length;
  c.send({ call: 'server.version', uid });
  const version = await c.next((m) => m['info'] === 'serverVersion', 'the version', from);
  assert.equal(version['uid'], uid);
  assert.equal(version['status_code'], 0);
  assert.match(String(version['result']), /^\d+\.\d+\.\d+/);
  c.close();
});

test('print: TSPL lines reach the printer joined with CR LF; in progress (1), then success (0); others hear the broadcasts', async () => {
  const { c, uid } = await page();
  const watcher = (await page()).c;
  const label = ['SIZE 50 mm, 30 mm', 'GAP 3 mm, 0', 'CLS', 'TEXT 10,10,"3",0,1,1,"compat 1"', 'PRINT 1,1'];
  c.send({ call: 'print', uid, params: { printer: { name: 'Label-1' }, data: label } });

  // The page hears the broadcasts too: replies are the messages with its uid.
  const started = await c.next((m) => m['uid'] === uid && m['status_code'] === 1, 'the in-progress reply');
  assert.equal(started['status'], 'Printing job started on Label-1');
  const done = await c.next((m) => m['uid'] === uid && m['status'] === 'success', 'the success reply');
  assert.deepEqual({ ...done, job: undefined }, { uid, status: 'success', message: 'Printed on Label-1', status_code: 0, job: undefined });
  assert.equal(done['job'], started['job']);
  // That API's client takes any message carrying `result` for the printer list: a print never sends one.
  assert.ok(c.messages.every((m) => !('result' in m)), JSON.stringify(c.messages));

  await until(() => printed().includes(`${label.join('\r\n')}\r\n`), 'the label at the emulator');

  const printing = await watcher.next((m) => m['status'] === 'Printer status changed' && m['status_code'] === 1, 'a printing broadcast');
  assert.equal(printing['PrinterName'], 'Label-1');
  assert.equal('uid' in printing, false);
  const idx = watcher.messages.indexOf(printing);
  await watcher.next((m) => m['status'] === 'Printer status changed' && m['status_code'] === 0, 'the idle broadcast after the job', idx + 1);
  c.close();
  watcher.close();
});

test('printerStatus reports paper out (2) when the printer is out of paper, and ready (0) again after', async () => {
  const { c, uid } = await page();
  c.send({ call: 'printerStatus', uid, PrinterName: 'Label-1' });
  const ready = await c.next((m) => m['status'] === 'Printer status retrieved', 'the status reply');
  assert.equal(ready['status_code'], 0);
  assert.equal(ready['PrinterName'], 'Label-1');

  shop.emu.proc.send('set paper-out');
  const broadcast = await c.next((m) => m['status'] === 'Printer status changed' && m['status_code'] === 2, 'the paper-out broadcast');
  assert.equal(broadcast['PrinterName'], 'Label-1');
  let from = c.messages.length;
  c.send({ call: 'printerStatus', uid, PrinterName: 'Label-1' });
  const out = await c.next((m) => m['status'] === 'Printer status retrieved', 'the paper-out status', from);
  assert.deepEqual(
    { code: out['status_code'], state: out['state'], name: out['PrinterName'], uid: out['uid'] },
    { code: 2, state: 'paper-out', name: 'Label-1', uid },
  );

  shop.emu.proc.send('set ok');
  from = c.messages.length;
  await c.next((m) => m['status'] === 'Printer status changed' && m['status_code'] === 0, 'the ready broadcast', from);
  c.close();
});

test('a print that ends without printing gets status_code 3 with the reason (canceled through the client API)', async () => {
  const { c, uid } = await page();
  shop.emu.proc.send('set paper-out');
  await c.next((m) => m['status_code'] === 2 && m['status'] === 'Printer status changed', 'paper out');
  c.send({ call: 'print', uid, params: { printer: { name: 'Label-1' }, data: ['CLS', 'PRINT 1,1'] } });
  const started = await c.next((m) => m['status_code'] === 1 && m['uid'] === uid, 'the in-progress reply');

  const admin = await JsonClient.open(`ws://127.0.0.1:${shop.port}/v1/client?token=${shop.admin}`);
  admin.send({ op: 'job.cancel', id: 1, job: started['job'] });
  const canceled = await admin.next((m) => m['re'] === 1, 'the cancel reply');
  assert.equal(canceled['ok'], true, JSON.stringify(canceled));

  const end = await c.next((m) => m['uid'] === uid && m['status'] === 'error', 'the error reply');
  assert.deepEqual({ code: end['code'], status_code: end['status_code'], job: end['job'] }, { code: 'JOB_CANCELED', status_code: 3, job: started['job'] });
  shop.emu.proc.send('set ok');
  admin.close();
  c.close();
});

test('what the original ignored is answered: malformed JSON, unknown calls, binary frames, bad print requests', async () => {
  const { c, uid } = await page();
  const reply = async (send: () => void, what: string): Promise<Msg> => {
    const from = c.messages.length;
    send();
    return c.next(() => true, what, from);
  };
  assert.deepEqual(await reply(() => c.send('{"call": "printers.find", '), 'a reply to malformed JSON'), {
    uid: null, status: 'error', message: 'message is not valid JSON', status_code: 3, code: 'BAD_JSON',
  });
  const deep = await reply(() => c.send(`{"call":"printers.find","x":${'['.repeat(5000)}${']'.repeat(5000)}}`), 'a reply to JSON nested too deep');
  assert.deepEqual([deep['uid'], deep['status_code'], deep['code']], [null, 3, 'TOO_DEEP']);
  const unknown = await reply(() => c.send({ call: 'printers.explode', uid }), 'a reply to an unknown call');
  assert.deepEqual([unknown['uid'], unknown['status_code'], unknown['code']], [uid, 3, 'UNKNOWN_TYPE']);
  const noCall = await reply(() => c.send([1, 2]), 'a reply to a non-object');
  assert.deepEqual([noCall['status_code'], noCall['code']], [3, 'BAD_MESSAGE']);
  const binary = await reply(() => c.ws.send(Buffer.from([1, 2, 3])), 'a reply to a binary frame');
  assert.deepEqual([binary['status_code'], binary['code']], [3, 'BINARY_NOT_EXPECTED']);
  const noData = await reply(() => c.send({ call: 'print', uid, params: { printer: { name: 'Label-1' } } }), 'a reply to a print without data');
  assert.deepEqual([noData['uid'], noData['status'], noData['status_code'], noData['code']], [uid, 'error', 3, 'BAD_FIELD']);
  const nobody = await reply(() => c.send({ call: 'print', uid, params: { printer: { name: 'Nobody' }, data: ['x'] } }), 'a reply for an unknown printer');
  assert.deepEqual([nobody['status_code'], nobody['code']], [3, 'UNKNOWN_PRINTER']);
  const noName = await reply(() => c.send({ call: 'printerStatus', uid }), 'a reply to printerStatus without PrinterName');
  assert.deepEqual([noName['status_code'], noName['message']], [3, 'PrinterName not provided']);
  // The connection is still good after all that.
  const ok = await reply(() => c.send({ call: 'printers.find', uid }), 'printers.find after the errors');
  assert.deepEqual(ok['result'], ['Label-1']);
  c.close();
});

test('the listener binds 127.0.0.1 by default; a compat token and allowed origins are enforced in the upgrade', async () => {
  const open = await startTestServer({ compat: { port: 0 } });
  try {
    assert.equal(open.server.compat?.host, '127.0.0.1');
    assert.equal(open.server.compat?.tokenRequired, false);
  } finally {
    await open.close();
  }
  const t = await startTestServer({ compat: { port: 0, token: 'pos-secret', origins: ['https://pos.example'] } });
  try {
    const base = `ws://127.0.0.1:${t.server.compat?.port}/`;
    await assert.rejects(JsonClient.open(base), /HTTP 401/);
    await assert.rejects(JsonClient.open(`${base}?token=wrong`), /HTTP 401/);
    await assert.rejects(JsonClient.open(`${base}?token=pos-secret`, { origin: 'https://evil.example' }), /HTTP 403/);
    const c = await JsonClient.open(`${base}?token=pos-secret`, { origin: 'https://pos.example' });
    c.send({ call: 'printers.find', uid: 'u1' });
    assert.deepEqual(await c.next((m) => m['uid'] === 'u1', 'printers.find'), { uid: 'u1', result: [], status_code: 0 });
    // Server shutdown closes compat connections with 1001.
    const closed = c.waitClosed();
    await t.server.close();
    assert.equal((await closed).code, 1001);
    assert.equal(c.ws.readyState, WebSocket.CLOSED);
  } finally {
    await t.close();
  }
});
