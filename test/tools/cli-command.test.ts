// `printbridge command` and `print --text` as real processes against a real
// server, a Node bridge and printer emulators (Marlin-style G-code, ESC/POS).

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { lastReceived, received, type TcpEmulator } from './emulator-fixture.js';
import { startServe, type Served } from './cli-fixture.js';

describe('command and print --text', () => {
  let s: Served;
  let desk: TcpEmulator;
  before(async () => {
    s = await startServe();
    await s.bridge('maker', { dialect: 'gcode' });
    desk = (await s.bridge('desk')).emu;
    await s.addDevice('gone');
  });
  after(() => s.stop());

  test('a G-code line gets the printer\'s answer lines; --json has them as an array', async () => {
    const r = await s.run(['command', 'maker/0', 'M105']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /T:\d/);
    const json = await s.run(['command', 'maker/0', 'M105', '--json']);
    const answer = JSON.parse(json.stdout) as { lines: string[]; printer: string };
    assert.equal(answer.printer, 'maker/0');
    assert.ok(answer.lines.some((l) => /T:\d/.test(l)), json.stdout);
  });

  test('bytes in hex to a byte dialect: the count written', async () => {
    const r = await s.run(['command', 'desk/0', '--hex', '10 04 01']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '3 B written\n');
  });

  test('refusals exit 1 with the code; mistakes exit 2', async () => {
    const offline = await s.run(['command', 'gone/0', 'M105']);
    assert.equal(offline.code, 1);
    assert.match(offline.stderr, /^printbridge command: error (DEVICE_OFFLINE|UNKNOWN_PRINTER): /);
    const cases: [string[], RegExp][] = [
      [['command', 'maker/0'], /DATA is required/],
      [['command', 'maker'], /DEVICE\/PORT/],
      [['command', 'desk/0', '--hex', '1g'], /pairs of hex digits/],
      [['command', 'desk/0', 'x'.repeat(257)], /more than 256/],
    ];
    for (const [args, message] of cases) {
      const r = await s.run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  test('print --text sends text with the line ends and encoding asked for', async () => {
    const file = join(s.tmp, 'receipt.txt');
    writeFileSync(file, 'Grüße\nTotal 5 €\n');
    const before = lastReceived(desk.proc);

    const unencodable = await s.run(['print', '--printer', 'desk/0', '--text', '--encoding', 'cp437', file]);
    assert.equal(unencodable.code, 1);
    assert.match(unencodable.stderr, /UNENCODABLE/);

    writeFileSync(file, 'Grüße\nTotal 5\n');
    const r = await s.run(['print', '--printer', 'desk/0', '--text', '--eol', 'crlf', '--encoding', 'cp437', '--json', file]);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout) as JobView;
    const expected = Buffer.from([0x47, 0x72, 0x81, 0xe1, 0x65, 0x0d, 0x0a, ...Buffer.from('Total 5\r\n')]);
    assert.equal(job.size, expected.length);
    await received(desk.proc, before + expected.length);
    assert.deepEqual(readFileSync(desk.out).subarray(before), expected);

    const bad = await s.run(['print', '--printer', 'desk/0', '--eol', 'crlf', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--eol and --encoding apply to --text/);
    const badEol = await s.run(['print', '--printer', 'desk/0', '--text', '--eol', 'dos', file]);
    assert.equal(badEol.code, 2);
    assert.match(badEol.stderr, /--eol must be one of lf, crlf, cr, none/);
  });
});
