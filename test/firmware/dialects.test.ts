// Every dialect driver the Linux-host build carries, on the SDK's real
// runtime, each against the matching emulator on a PTY: raw and ESC/POS
// byte streams, TSPL and ZPL labels (ZPL confirmed by status polls), and
// G-code streamed line by line with numbers and checksums, one line in
// flight, done on the last `ok`.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Dialect } from '../../protocol/device-messages.js';
import { printed, startWorld, submit, until, type WorldOptions } from './fixture.js';

const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const dec = (b: Uint8Array): string => String.fromCharCode(...b);

interface Case {
  readonly dialect: Dialect;
  readonly job: string;
  readonly options?: WorldOptions;
  readonly check: (out: string) => void;
}

const CASES: readonly Case[] = [
  { dialect: 'raw', job: 'raw bytes\n\x00\x01\x02\xff\n', check: (out) => assert.equal(out, 'raw bytes\n\x00\x01\x02\xff\n') },
  { dialect: 'escpos', job: '\x1b@Hello receipt\n\x1dV\x00', options: { config: { poll: 1_000 } }, check: (out) => assert.equal(out, '\x1b@Hello receipt\n\x1dV\x00') },
  { dialect: 'tspl', job: 'SIZE 50 mm,30 mm\r\nCLS\r\nTEXT 10,10,"3",0,1,1,"Hi"\r\nPRINT 1\r\n', options: { config: { poll: 1_000 } }, check: (out) => assert.ok(out.includes('TEXT 10,10,"3",0,1,1,"Hi"'), JSON.stringify(out)) },
  { dialect: 'zpl', job: '^XA^FO50,50^A0N,40,40^FDHello SDK^FS^XZ\n', options: { config: { poll: 500 } }, check: (out) => assert.ok(out.includes('^FDHello SDK^FS^XZ'), JSON.stringify(out)) },
  {
    dialect: 'gcode', job: '; a comment\nG28\nG1 X10 Y10 F3000\n\nM104 S0\n',
    check: (out) => {
      for (const line of ['G28', 'G1 X10 Y10 F3000', 'M104 S0']) assert.ok(out.includes(line), `${line} in ${JSON.stringify(out)}`);
      assert.match(out, /N\d+ G1 X10 Y10 F3000\*\d+\n/);
      assert.ok(!out.includes('comment'));
    },
  },
];

describe('firmware on the SDK runtime: every dialect', () => {
  for (const c of CASES) {
    test(`${c.dialect}: a job reaches the ${c.dialect} printer and is done`, async () => {
      const w = await startWorld({ dialect: c.dialect, ...c.options });
      try {
        await w.fw.waitFor(/link online/, 60_000, 0);
        const id = await submit(w, enc(c.job));
        const job = await until(`job ${id} to end`, () => {
          const j = w.jobs.get(id);
          return j !== undefined && ['done', 'failed', 'canceled'].includes(j.state) ? j : undefined;
        }, 60_000);
        assert.equal(job.state, 'done', JSON.stringify(job));
        // The emulator writes its record a moment after it answers; give the file that moment.
        await until('the printer to have all of it', () => {
          try {
            c.check(dec(printed(w)));
            return true;
          } catch {
            return false;
          }
        }, 10_000).catch(() => undefined);
        c.check(dec(printed(w)));
      } finally {
        await w.close();
      }
    });
  }
});
