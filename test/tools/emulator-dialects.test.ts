// The label and receipt dialects of the emulator as real processes on TCP:
// ESC/POS Automatic Status Back, TSPL ESC ! ?, ZPL ~HS and ~HQES (with the
// silent-~HS fault), and the TSPL status over a PTY.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { emulatorHarness, ptyEmulator, received, replies, tcpEmulator } from './emulator-fixture.js';

const { procs, dir, connect, openSerial } = emulatorHarness();

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

test('escpos: GS a n turns Automatic Status Back on (4 bytes at once and on every change) and off', async () => {
  const emu = await tcpEmulator(procs, dir);
  const socket = await connect(emu.port);
  const answers = replies(socket);

  socket.write(bytes(0x1d, 0x61, 0x0f));
  assert.deepEqual(await answers.take(4), [0x10, 0x00, 0x00, 0x00], 'first ASB: online, no error, paper present');
  await emu.proc.waitForEvent({ event: 'asb', enabled: true });

  emu.proc.send('set paper-out');
  assert.deepEqual(await answers.take(4), [0x18, 0x00, 0x0f, 0x00], 'offline; roll paper near end and end');
  emu.proc.send('set cover-open');
  assert.deepEqual(await answers.take(4), [0x38, 0x00, 0x00, 0x00], 'offline, cover open');
  emu.proc.send('set error');
  assert.deepEqual(await answers.take(4), [0x18, 0x08, 0x00, 0x00], 'offline, autocutter error');
  emu.proc.send('set paper-low');
  assert.deepEqual(await answers.take(4), [0x10, 0x00, 0x03, 0x00], 'online, near end only');
  // ASB bytes are told from DLE EOT answers by bits 0, 1, 4, 7 of the first byte.
  socket.write(bytes(0x10, 0x04, 0x01));
  assert.deepEqual(await answers.take(1), [0x12]);

  socket.write(bytes(0x1d, 0x61, 0x00));
  await emu.proc.waitForEvent({ event: 'asb', enabled: false });
  {
    const from = emu.proc.mark();
    emu.proc.send('set cover-open');
    await emu.proc.waitForEvent({ event: 'condition', name: 'cover-open' }, { from });
  }
  socket.write(bytes(0x10, 0x04, 0x02));
  assert.deepEqual(await answers.take(1), [0x16], 'the next byte is the DLE EOT 2 answer, not an ASB push');
});

test('tspl: ESC ! ? answers one status byte per condition, with the printing bit after PRINT', async () => {
  const emu = await tcpEmulator(procs, dir, ['--print-ms', '600000'], 'tspl');
  const socket = await connect(emu.port);
  const answers = replies(socket);
  const query = (): Promise<number[]> => {
    socket.write(bytes(0x1b, 0x21, 0x3f));
    return answers.take(1);
  };

  assert.deepEqual(await query(), [0x00], 'ready');
  const expected: Record<string, number> = {
    'head-open': 0x01, jam: 0x02, 'paper-out': 0x04, 'ribbon-out': 0x08, pause: 0x10, 'cover-open': 0x40,
  };
  for (const [condition, bit] of Object.entries(expected)) {
    {
      const from = emu.proc.mark();
      emu.proc.send(`set ${condition}`);
      await emu.proc.waitForEvent({ event: 'condition', name: condition }, { from });
    }
    assert.deepEqual(await query(), [bit], condition);
  }
  // Label data while paused waits in the buffer: not printing.
  const label = 'SIZE 40 mm,30 mm\r\nCLS\r\nTEXT 10,10,"3",0,1,1,"hi"\r\nPRINT 1\r\n';
  socket.write(label);
  assert.deepEqual(await query(), [0x40], 'cover open: data waits, printing bit clear');
  {
    const from = emu.proc.mark();
    emu.proc.send('set ok');
    await emu.proc.waitForEvent({ event: 'condition', name: 'ok' }, { from });
  }
  assert.deepEqual(await query(), [0x20], 'printing: the mechanism took the label and PRINT');
  // A query split across writes is still recognised.
  socket.write(bytes(0x1b));
  await received(emu.proc, label.length + 9 * 3 + 1);
  socket.write(bytes(0x21, 0x3f));
  assert.deepEqual(await answers.take(1), [0x20]);
});

test('tspl over a PTY: ESC ! ? through the serial port', async () => {
  const emu = await ptyEmulator(procs, dir, [], 'tspl');
  const port = await openSerial(emu.path);
  const answers = replies(port);
  {
    const from = emu.proc.mark();
    emu.proc.send('set paper-out');
    await emu.proc.waitForEvent({ event: 'condition', name: 'paper-out' }, { from });
  }
  port.write(bytes(0x1b, 0x21, 0x3f));
  assert.deepEqual(await answers.take(1), [0x04]);
});

/** ~HS: three STX…ETX CR LF strings, split into their comma-separated fields. */
async function hostStatus(socket: net.Socket, answers: ReturnType<typeof replies>): Promise<string[][]> {
  socket.write('~HS');
  const strings: string[][] = [];
  for (let i = 0; i < 3; i++) {
    const s = await answers.until('\x03\r\n');
    assert.match(s, /^\x02[^\x02\x03]*\x03\r\n$/, `string ${i + 1} is STX … ETX CR LF`);
    strings.push(s.slice(1, -3).split(','));
  }
  return strings;
}

test('zpl: ~HS answers three strings in Zebra field order; ~HQES answers the error flags', async () => {
  const emu = await tcpEmulator(procs, dir, ['--print-ms', '600000'], 'zpl');
  const socket = await connect(emu.port);
  const answers = replies(socket);

  let [s1, s2, s3] = await hostStatus(socket, answers);
  assert.equal(s1!.length, 12, 'aaa,b,c,dddd,eee,f,g,h,iii,j,k,l');
  assert.equal(s2!.length, 11, 'mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www');
  assert.equal(s3!.length, 2, 'xxxx,y');
  assert.deepEqual([s1![1], s1![2], s1![4], s1![5], s1![7], s1![8]], ['0', '0', '000', '0', '0', '000'], 'no paper out, pause, formats, buffer full, partial');
  assert.deepEqual([s2![2], s2![3], s2![8], s2![9]], ['0', '0', '00000000', '1'], 'head down, ribbon in, no labels remaining');

  const flags: Array<[string, (a: string[], b: string[]) => string]> = [
    ['paper-out', (a) => a[1]!], ['pause', (a) => a[2]!], ['head-open', (_a, b) => b[2]!], ['ribbon-out', (_a, b) => b[3]!],
  ];
  for (const [condition, field] of flags) {
    {
      const from = emu.proc.mark();
      emu.proc.send(`set ${condition}`);
      await emu.proc.waitForEvent({ event: 'condition', name: condition }, { from });
    }
    [s1, s2] = await hostStatus(socket, answers);
    assert.equal(field(s1!, s2!), '1', `${condition} flag`);
  }

  // Paused: two formats (a batch of 5 and a single label) wait in the buffer; a third is half sent.
  {
    const from = emu.proc.mark();
    emu.proc.send('set pause');
    await emu.proc.waitForEvent({ event: 'condition', name: 'pause' }, { from });
  }
  socket.write('^XA^FO20,20^FDone^FS^PQ5^XZ^XA^FDtwo^FS^XZ^XA^FDthree');
  [s1, s2] = await hostStatus(socket, answers);
  assert.equal(s1![4], '002', 'formats in receive buffer');
  assert.equal(s1![7], '1', 'partial format in progress');
  {
    const from = emu.proc.mark();
    emu.proc.send('set ok');
    await emu.proc.waitForEvent({ event: 'condition', name: 'ok' }, { from });
  }
  [s1, s2] = await hostStatus(socket, answers);
  assert.equal(s1![4], '000', 'the mechanism took both formats');
  assert.equal(s2![8], '00000006', 'labels remaining in batch (5 + 1; one label per --print-ms)');

  const errors = async (): Promise<string> => {
    socket.write('~HQES');
    const text = await answers.until('\x03\r\n');
    assert.match(text, /^\x02\r\nPRINTER STATUS\r\n/);
    return /ERRORS:\s+(\d \d{8} [0-9A-F]{8})/.exec(text)?.[1] ?? text;
  };
  assert.equal(await errors(), '0 00000000 00000000');
  for (const [condition, bits] of [['paper-out', '00000001'], ['ribbon-out', '00000002'], ['head-open', '00000004'], ['cutter', '00000008']]) {
    {
      const from = emu.proc.mark();
      emu.proc.send(`set ${condition}`);
      await emu.proc.waitForEvent({ event: 'condition', name: condition! }, { from });
    }
    assert.equal(await errors(), `1 00000000 ${bits}`, condition);
  }
});

test('zpl: ~PP pauses, ~PS resumes, ~JA drops the formats held; none of them is print data', async () => {
  const emu = await tcpEmulator(procs, dir, ['--print-ms', '600000'], 'zpl');
  const socket = await connect(emu.port);
  const answers = replies(socket);
  const format = '^XA^FDkept^FS^PQ3^XZ';
  {
    const from = emu.proc.mark();
    socket.write(`~PP${format}`);
    await emu.proc.waitForEvent({ event: 'command', command: '~PP', condition: 'pause' }, { from });
  }
  let [s1, s2] = await hostStatus(socket, answers);
  assert.equal(s1![2], '1', 'paused by ~PP');
  assert.equal(s1![4], '001', 'the format waits while paused');
  {
    const from = emu.proc.mark();
    socket.write('~PS');
    await emu.proc.waitForEvent({ event: 'command', command: '~PS', condition: 'ok' }, { from });
  }
  [s1, s2] = await hostStatus(socket, answers);
  assert.equal(s1![2], '0', 'printing again after ~PS');
  assert.equal(s2![8], '00000003', 'its three labels are being printed');
  {
    const from = emu.proc.mark();
    socket.write('~JA');
    await emu.proc.waitForEvent({ event: 'command', command: '~JA' }, { from });
  }
  [s1, s2] = await hostStatus(socket, answers);
  assert.deepEqual([s1![4], s2![8]], ['000', '00000000'], 'nothing held after ~JA');
  const record = await eventuallyRead(emu.printed, format.length);
  assert.equal(record, format, 'the record holds the format alone');
});

/** The record file once it holds at least `n` bytes. */
async function eventuallyRead(path: string, n: number): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const text = existsSync(path) ? readFileSync(path, 'latin1') : '';
    if (text.length >= n) return text;
    await new Promise((r) => setTimeout(r, 25));
  }
  return existsSync(path) ? readFileSync(path, 'latin1') : '';
}

test('zpl silent-hs: no ~HS answer in paper-out or head-open, ~HQES still answers; answered again when healthy', async () => {
  const emu = await tcpEmulator(procs, dir, ['--fault', 'silent-hs'], 'zpl');
  const socket = await connect(emu.port);
  const answers = replies(socket);

  for (const condition of ['paper-out', 'head-open']) {
    {
      const from = emu.proc.mark();
      emu.proc.send(`set ${condition}`);
      await emu.proc.waitForEvent({ event: 'condition', name: condition }, { from });
    }
    const mark = emu.proc.mark();
    socket.write('~HS~HQES');
    await emu.proc.waitForEvent({ event: 'unanswered', query: '~HS', condition }, { from: mark });
    const next = await answers.until('\x03\r\n');
    assert.match(next, /^\x02\r\nPRINTER STATUS/, `the first answer is ~HQES's: ~HS went unanswered in ${condition}`);
  }
  {
    const from = emu.proc.mark();
    emu.proc.send('set ok');
    await emu.proc.waitForEvent({ event: 'condition', name: 'ok' }, { from });
  }
  const [s1] = await hostStatus(socket, answers);
  assert.equal(s1!.length, 12);

  // `fault silent-hs off` makes a faulted printer answer again.
  const mark = emu.proc.mark();
  emu.proc.send('fault silent-hs off');
  emu.proc.send('set paper-out');
  await emu.proc.waitForEvent({ event: 'condition', name: 'paper-out' }, { from: mark });
  const [p1] = await hostStatus(socket, answers);
  assert.equal(p1![1], '1');
});
