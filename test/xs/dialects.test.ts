// Dialects on the real XS engine. A board's build carries only the dialect
// drivers its manifest lists (the generated device/hosts/moddable/board-
// dialects module; the other XS tests give their board escpos only). Here: a
// build with every dialect prints through the G-code and ZPL drivers to the
// matching emulators, and a build that lacks the configured dialect says so
// at boot, comes online anyway and fails the job with UNSUPPORTED.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { PrinterView } from '../../protocol/client-messages.js';
import { DIALECTS } from '../../protocol/device-messages.js';
import { online, printed, startFixture, submit, type Fixture } from './fixture.js';

const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const dec = (b: Uint8Array): string => String.fromCharCode(...b);

describe('XS firmware built with every dialect', () => {
  let f: Fixture | undefined;
  after(() => f?.close());

  test('streams a G-code job line by line with numbers and checksums, done on the last ok', async () => {
    f = await startFixture({ printer: 'gcode', board: { dialects: DIALECTS, config: { dialect: 'gcode', poll: 0 } } });
    await f.board.waitFor('online', () => online(f as Fixture));
    const id = await submit(f, enc('; a comment\nG28\nG1 X10 Y10 F3000\n\nM104 S0\n'));
    await f.board.waitFor(`job ${id} done`, () => f?.jobs.get(id)?.state === 'done', 30_000);
    const out = dec(printed(f));
    for (const line of ['M110 N0', 'G28', 'G1 X10 Y10 F3000', 'M104 S0']) assert.ok(out.includes(line), `${line} in ${JSON.stringify(out)}`);
    assert.match(out, /N\d+ G1 X10 Y10 F3000\*\d+\n/);
    assert.ok(!out.includes('comment'));
    assert.deepEqual(f.board.fatals, []);
    await f.close();
    f = undefined;
  });

  test('prints a ZPL label and confirms it by status polls', async () => {
    f = await startFixture({ printer: 'zpl', board: { dialects: DIALECTS, config: { dialect: 'zpl', poll: 500 } } });
    await f.board.waitFor('online', () => online(f as Fixture));
    const label = enc('^XA^FO50,50^A0N,40,40^FDHello XS^FS^XZ\n');
    const id = await submit(f, label);
    await f.board.waitFor(`job ${id} done`, () => f?.jobs.get(id)?.state === 'done', 30_000);
    assert.ok(dec(printed(f)).includes('^FDHello XS^FS^XZ'));
    const printers = (await f.client.request('printers.list')) as PrinterView[];
    assert.equal(printers[0]?.confirms, true, 'zpl announces confirmation');
    assert.deepEqual(f.board.fatals, []);
  });
});

describe('XS firmware built without its configured dialect', () => {
  let f: Fixture | undefined;
  after(() => f?.close());

  test('says so at boot, comes online with the printer in error, and fails jobs UNSUPPORTED', async () => {
    f = await startFixture({ board: { dialects: ['escpos'], config: { dialect: 'tspl' } } });
    const fx = f;
    assert.ok(fx.board.traces.some((t) => t.includes('error: port 0: dialect tspl is not in this build (it has escpos)')), fx.board.traces.join(''));
    await fx.board.waitFor('online', () => online(fx));
    let printer: PrinterView | undefined;
    // The server learns the port's state from the first status report; ask until it has it.
    for (let i = 0; i < 100 && printer?.status !== 'error'; i++) {
      printer = ((await fx.client.request('printers.list')) as PrinterView[])[0];
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(printer?.status, 'error');
    assert.match(printer?.detail ?? '', /dialect tspl is not in this build/);
    const id = await submit(fx, enc('PRINT 1\n'));
    await fx.board.waitFor(`job ${id} failed`, () => fx.jobs.get(id)?.state === 'failed', 30_000);
    assert.equal(fx.jobs.get(id)?.error?.code, 'UNSUPPORTED');
    assert.equal(printed(fx).length, 0, 'nothing reached the printer');
    assert.deepEqual(fx.board.fatals, []);
  });
});
