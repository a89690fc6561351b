// Properties of the two compatibility adapters' input decoding, driven over
// real sockets of a real server with a device that completes its jobs:
// the Printerlynx API on /api/v1/ws (server/compat/printerlynx.ts) and the
// PrinterWebSocket API on the compat listener (server/compat/pws.ts). Every
// hostile message gets exactly one well-typed answer with a stable code from
// protocol/errors.ts, an authenticated connection stays open whatever it
// sends, an unauthenticated one is answered and closed, and the server logs
// no error. Through sockets rather than the session classes, so that the
// properties hold for the adapters as deployed, whatever their internals.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { isErrorCode } from '../../protocol/errors.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Conn, registerDevice } from '../server/peers.js';
import { fuzzRuns, fuzzSeed, hostileText, messageText, mutated, objectText, valueText } from './arbitraries.js';
import { autoDevice, type AutoDevice } from './auto-device.js';

const ADMIN = 'test-admin-token';
/** An answer is due well within this; it only turns a hang into a readable failure. */
const ANSWER_MS = 3000;

const LYNX_TYPES = ['authentication', 'print_job', 'printer_command', 'agent_status', 'printer_status', 'error', 'ping'];
const LYNX_FIELDS = ['token', 'type', 'printer_uuid', 'agent_uuid', 'job_uuid', 'file', 'file_base64', 'print_file_uuid', 'file_name', 'name', 'command'];
const PWS_CALLS = ['printers.find', 'server.version', 'print', 'printerStatus'];
const PWS_FIELDS = ['call', 'uid', 'params', 'PrinterName'];
const PWS_PARAMS = ['printer', 'data', 'lineEnding', 'encoding', 'name'];

/** Waits for the first message that satisfies `pred`, failing after ANSWER_MS. */
async function answer(c: Conn, pred: (m: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      c.json(pred, what),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${what} within ${ANSWER_MS} ms`)), ANSWER_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function errorLines(t: TestServer): string[] {
  return t.logs.filter((l) => l.level === 'error').map((l) => `${l.msg} ${JSON.stringify(l.fields)}`);
}

/** A Printerlynx message: `{type, data}` with `data` drawn like any message's fields. */
const lynxMessage = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...LYNX_TYPES), messageText('type', ['START', 'PAUSE', 'RESUME', 'CANCEL'], LYNX_FIELDS)).map(([type, data]) => objectText([['type', JSON.stringify(type)], ['data', data]])) },
  { weight: 2, arbitrary: hostileText('type', LYNX_TYPES, ['data']) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...LYNX_TYPES), valueText).map(([type, data]) => objectText([['type', JSON.stringify(type)], ['data', data]])) },
);

describe('compatibility adapters under fuzz', () => {
  let t: TestServer;
  let printer: AutoDevice;
  before(async () => {
    t = await startTestServer({ compat: { port: 0 } });
    const token = registerDevice(t, 'fuzz-dev');
    printer = await autoDevice(t, 'fuzz-dev', token, [{ port: 0, dialect: 'escpos', name: 'till' }, { port: 1, dialect: 'gcode' }]);
  });
  after(async () => {
    printer.device.terminate();
    await t.close();
  });

  test('Printerlynx: an authenticated connection answers every message, typed, and stays open', async () => {
    const c = await Conn.open(t.wsUrl('/api/v1/ws'));
    c.sendJson({ type: 'authentication', data: { token: ADMIN } });
    await answer(c, (m) => m['type'] === 'authentication', 'authentication reply');
    const seen = new Set<string>();
    const valid = fc.oneof(
      fc.record({ type: fc.constant('print_job'), data: fc.record({ type: fc.constant('START'), printer_uuid: fc.constantFrom('fuzz-dev/0', 'till', 'fuzz-dev/1'), file: fc.string({ maxLength: 40 }) }) }),
      fc.record({ type: fc.constant('print_job'), data: fc.record({ type: fc.constantFrom('PAUSE', 'RESUME', 'CANCEL'), printer_uuid: fc.constant('fuzz-dev/0') }) }),
      fc.record({ type: fc.constant('printer_command'), data: fc.record({ printer_uuid: fc.constant('fuzz-dev/1'), command: fc.constantFrom('M105', 'G28\nM105', 'M112') }) }),
      fc.record({ type: fc.constantFrom('agent_status', 'printer_status'), data: fc.constant({}) }),
    );
    await fc.assert(fc.asyncProperty(fc.oneof(lynxMessage, mutated(valid)), async (text) => {
      c.sendRaw(text);
      const reply = await answer(c, (m) => {
        const data = m['data'] as Record<string, unknown> | undefined;
        return data?.['status'] === 'OK' || data?.['status'] === 'ERROR';
      }, `reply to ${text.slice(0, 120)}`);
      assert.equal(typeof reply['type'], 'string');
      const data = reply['data'] as Record<string, unknown>;
      seen.add(String(data['status']));
      if (data['status'] === 'ERROR') {
        assert.ok(isErrorCode(data['code']), `code ${String(data['code'])} for ${text.slice(0, 120)}`);
        assert.equal(typeof data['message'], 'string');
      }
      assert.equal(c.ws.readyState, c.ws.OPEN, `closed after ${text.slice(0, 120)}`);
    }), { seed: fuzzSeed(0xa11), numRuns: fuzzRuns(400) });
    // The fuzz reached both what the adapter accepts and what it refuses.
    assert.deepEqual([...seen].sort(), ['ERROR', 'OK']);
    assert.ok(printer.done.size > 0, 'no job printed');
    assert.deepEqual(errorLines(t), []);
    c.close();
  });

  test('Printerlynx: before authentication every other message is answered with a typed error and the connection closed', async () => {
    await fc.assert(fc.asyncProperty(lynxMessage, async (text) => {
      const c = await Conn.open(t.wsUrl('/api/v1/ws'));
      c.sendRaw(text);
      const code = await c.closeCode();
      // 1008 for a refusal; a bound on pre-login frames or connections may close it another way first.
      assert.ok([1008, 1009, 1013, 4003].includes(code), `close ${code} after ${text.slice(0, 120)}`);
      const replies = c.inbox.items.flatMap((x) => (x.kind === 'text' ? [x.json] : []));
      for (const r of replies) {
        const data = r['data'] as Record<string, unknown> | undefined;
        assert.equal(data?.['status'], 'ERROR', `pre-login reply ${JSON.stringify(r).slice(0, 200)}`);
        assert.ok(isErrorCode(data['code']));
      }
      if (code === 1008) assert.equal(replies.length, 1, `one reply before close 1008 for ${text.slice(0, 120)}`);
    }), { seed: fuzzSeed(0xa12), numRuns: fuzzRuns(120) });
    assert.deepEqual(errorLines(t), []);
  });

  test('PrinterWebSocket: every call is answered with its uid and a status_code, typed, and the connection stays open', async () => {
    const compat = t.server.compat;
    assert.ok(compat !== undefined);
    const c = await Conn.open(compat.url);
    const seen = new Set<string>();
    const printedBefore = printer.done.size;
    const params = messageText('lineEnding', ['crlf', 'lf', 'none', 'cr'], PWS_PARAMS);
    const pwsMessage = fc.oneof(
      { weight: 3, arbitrary: hostileText('call', PWS_CALLS, PWS_FIELDS) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...PWS_CALLS), valueText, params).map(([call, uid, p]) => objectText([['call', JSON.stringify(call)], ['uid', uid], ['params', p]])) },
    );
    const valid = fc.oneof(
      fc.record({ call: fc.constantFrom('printers.find', 'server.version'), uid: fc.oneof(fc.string(), fc.integer()) }),
      fc.record({ call: fc.constant('printerStatus'), uid: fc.string(), PrinterName: fc.constantFrom('till', 'fuzz-dev/1') }),
      fc.record({
        call: fc.constant('print'), uid: fc.string(),
        params: fc.record({ printer: fc.record({ name: fc.constant('till') }), data: fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 3 }), lineEnding: fc.constantFrom('crlf', 'lf', 'none') }),
      }),
    );
    await fc.assert(fc.asyncProperty(fc.oneof(pwsMessage, mutated(valid)), async (text) => {
      c.sendRaw(text);
      // The final reply of an earlier print (status success/error with its job) may come at any time; the answer to this call is the other kind.
      const reply = await answer(c, (m) => 'uid' in m && !((m['status'] === 'success' || m['status'] === 'error') && 'job' in m), `reply to ${text.slice(0, 120)}`);
      assert.ok([0, 1, 2, 3].includes(reply['status_code'] as number), `status_code ${String(reply['status_code'])}`);
      if (reply['status'] === 'error') assert.ok(isErrorCode(reply['code']), `code ${String(reply['code'])} for ${text.slice(0, 120)}`);
      seen.add(reply['status'] === 'error' ? 'error' : 'ok');
      const uid = reply['uid'];
      assert.ok(uid === null || typeof uid === 'number' || (typeof uid === 'string' && uid.length <= 256));
      assert.equal(c.ws.readyState, c.ws.OPEN, `closed after ${text.slice(0, 120)}`);
    }), { seed: fuzzSeed(0xa13), numRuns: fuzzRuns(400) });
    assert.deepEqual([...seen].sort(), ['error', 'ok']);
    assert.ok(printer.done.size > printedBefore, 'no job printed');
    // Every message the listener sent, pushes and final replies too, has a valid status code.
    for (const x of c.inbox.items) if (x.kind === 'text') assert.ok([0, 1, 2, 3].includes(x.json['status_code'] as number), x.raw.slice(0, 200));
    assert.deepEqual(errorLines(t), []);
    c.close();
  });
});
