// printer.get and printer.command over a real /v1/client socket: the
// command is relayed to the device as control `printer.command` {port, data,
// emergency?}, and the device's answer (G-code lines, bytes written) comes
// back as the result; refusals keep the device's code, an offline device is
// DEVICE_OFFLINE, a silent one TIMEOUT.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, registerDevice } from './peers.js';

type Err = { code: string; message: string };

describe('api: printer.get and printer.command', () => {
  let t: TestServer;
  let dev: FakeDevice;
  let client: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    registerDevice(t, 'pc-off');
    dev = await FakeDevice.connect(t, 'pc-1', registerDevice(t, 'pc-1'), {
      ports: [{ port: 0, dialect: 'gcode', name: 'prusa' }, { port: 1, dialect: 'escpos' }],
    });
    client = await TestClient.connect(t);
  });
  after(() => t.close());

  function control(): Promise<Record<string, unknown>> {
    return dev.json((m) => m['t'] === 'control', 'control');
  }

  it('printer.get answers one printer, and UNKNOWN_PRINTER / BAD_FIELD for bad ones', async () => {
    const p = await client.call<Record<string, unknown>>('printer.get', { printer: 'pc-1/0' });
    assert.equal(p['id'], 'pc-1/0');
    assert.equal(p['dialect'], 'gcode');
    assert.equal(p['name'], 'prusa');
    assert.equal(p['online'], true);
    for (const [printer, code] of [['pc-1/7', 'UNKNOWN_PRINTER'], ['nobody/0', 'UNKNOWN_PRINTER'], ['pc-1', 'BAD_FIELD']]) {
      const r = await client.request('printer.get', { printer });
      assert.equal((r['error'] as Err).code, code, printer);
    }
  });

  it('relays a G-code line and answers with the printer\'s lines', async () => {
    const pending = client.call<Record<string, unknown>>('printer.command', { printer: 'pc-1/0', data: 'M105' });
    const m = await control();
    assert.equal(m['name'], 'printer.command');
    assert.deepEqual(m['args'], { port: 0, data: 'M105' });
    dev.sendJson({ t: 'control.result', ref: m['ref'], ok: true, data: { lines: ['T:21.0 /0.0 B:20.5 /0.0', 'ok'] } });
    const result = await pending;
    assert.deepEqual(result, { lines: ['T:21.0 /0.0 B:20.5 /0.0', 'ok'], printer: 'pc-1/0', ref: m['ref'] });
  });

  it('passes emergency and takes raw bytes as base64 (one byte per character to the device)', async () => {
    const urgent = client.call('printer.command', { printer: 'pc-1/0', data: 'M112', emergency: true });
    const m1 = await control();
    assert.deepEqual(m1['args'], { port: 0, data: 'M112', emergency: true });
    dev.sendJson({ t: 'control.result', ref: m1['ref'], ok: true, data: { written: 5 } });
    assert.equal(((await urgent) as { written: number }).written, 5);

    const status = client.call('printer.command', { printer: 'pc-1/1', bytes: Buffer.from([0x10, 0x04, 0x01, 0xff]).toString('base64') });
    const m2 = await control();
    assert.deepEqual(m2['args'], { port: 1, data: '\u0010\u0004\u0001\u00ff' });
    dev.sendJson({ t: 'control.result', ref: m2['ref'], ok: true, data: { written: 4 } });
    assert.deepEqual(await status, { written: 4, printer: 'pc-1/1', ref: m2['ref'] });
  });

  it('answers a device refusal with the device\'s own code and message', async () => {
    const pending = client.request('printer.command', { printer: 'pc-1/1', data: 'x' });
    const m = await control();
    dev.sendJson({ t: 'control.result', ref: m['ref'], ok: false, code: 'PORT_BUSY', message: 'printer port is busy with another job: printer is busy with a job' });
    const reply = await pending;
    assert.deepEqual(reply['error'], { code: 'PORT_BUSY', message: 'printer port is busy with another job: printer is busy with a job' });
  });

  it('DEVICE_OFFLINE for a device that is not connected, TIMEOUT for one that does not answer', async () => {
    const offline = await client.request('printer.command', { printer: 'pc-off/0', data: 'M105' });
    assert.equal((offline['error'] as Err).code, 'DEVICE_OFFLINE');
    const silent = client.request('printer.command', { printer: 'pc-1/0', data: 'G28', timeout: 50 });
    await control(); // delivered, never answered
    assert.equal(((await silent)['error'] as Err).code, 'TIMEOUT');
  });

  it('refuses bad commands before anything reaches the device', async () => {
    const code = async (fields: Record<string, unknown>): Promise<string> => ((await client.request('printer.command', { printer: 'pc-1/0', ...fields }))['error'] as Err).code;
    assert.equal(await code({}), 'MISSING_FIELD');
    assert.equal(await code({ data: 'M105', bytes: 'TTEwNQ==' }), 'BAD_FIELD');
    assert.equal(await code({ data: '' }), 'BAD_FIELD');
    assert.equal(await code({ data: 'x'.repeat(257) }), 'BAD_FIELD');
    assert.equal(await code({ bytes: 'not base64!' }), 'BAD_FIELD');
    assert.equal(await code({ data: 'M117 €' }), 'UNENCODABLE');
    assert.equal(await code({ data: 'M105', timeout: 0 }), 'BAD_FIELD');
    assert.equal(await code({ data: 'M105', emergency: 'yes' }), 'BAD_FIELD');
    // Nothing was relayed for any of them.
    dev.sendJson({ t: 'ping' });
    await dev.json((m) => m['t'] === 'pong');
    assert.equal(dev.inbox.items.filter((x) => x.kind === 'text' && x.json['t'] === 'control').length, 0);
  });
});
