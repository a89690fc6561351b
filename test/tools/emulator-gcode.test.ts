// The Marlin-like G-code emulator as a real process, over a PTY (written to
// through serialport, as the Node bridge does) and over TCP: ok per line,
// line numbers and checksums, Resend on faults (a line damaged, garbled or
// lost on the wire), ADVANCED_OK's counts, temperatures, busy, M108, M112,
// and the --lines-out record of what ran.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Gcode } from '../../device/core/dialects/gcode.js';
import { bytesFeed } from '../core/dialect-harness.js';
import { executed, lessFence, numbered } from '../helpers/gcode.js';
import type { Proc } from '../helpers/processes.js';
import { emulatorHarness, ptyEmulator, received, replies, tcpEmulator } from './emulator-fixture.js';

const { procs, dir, connect, openSerial } = emulatorHarness();

interface Link {
  emu: { proc: Proc };
  /** Writes one line and its LF. */
  send(line: string): void;
  /** Bytes sent so far. */
  sent(): number;
  /** The next answer line (without LF). */
  line(): Promise<string>;
}

/** A G-code emulator and a host's end of its line: the PTY opened through serialport, or a TCP connection. */
async function overLink(kind: 'pty' | 'tcp', extra: string[] = []): Promise<Link> {
  const emu = kind === 'pty' ? await ptyEmulator(procs, dir, extra, 'gcode') : await tcpEmulator(procs, dir, extra, 'gcode');
  const wire = 'path' in emu ? await openSerial(emu.path) : await connect(emu.port);
  const answers = replies(wire);
  let sent = 0;
  const send = (l: string): void => {
    sent += l.length + 1;
    wire.write(`${l}\n`);
  };
  return { emu, send, sent: () => sent, line: async () => (await answers.until('\n')).slice(0, -1) };
}
const overPty = (extra?: string[]): Promise<Link> => overLink('pty', extra);
const overTcp = (extra?: string[]): Promise<Link> => overLink('tcp', extra);

test('gcode over a PTY: ok per line, M105 temperatures after M104/M140, comments and blank lines unanswered', async () => {
  const { send, line } = await overPty();
  send('M105');
  assert.equal(await line(), 'ok T:21.0 /0.0 B:21.0 /0.0');
  send('; a comment line gets no answer');
  send('');
  send('M104 S210 ; hotend');
  assert.equal(await line(), 'ok', 'the comment and the blank line were skipped; M104 answered');
  send('M140 S60');
  assert.equal(await line(), 'ok');
  send('M105');
  assert.equal(await line(), 'ok T:210.0 /210.0 B:60.0 /60.0');
});

test('gcode: numbered lines with checksums; wrong number, missing or bad checksum ask Resend of last+1', async () => {
  const { send, line } = await overTcp();
  const expectResend = async (error: RegExp, n: number): Promise<void> => {
    assert.match(await line(), error);
    assert.equal(await line(), `Resend: ${n}`);
    assert.equal(await line(), 'ok', 'a bare ok, as Marlin 2.1 sends after Resend');
  };
  send(numbered(0, 'M110 N0'));
  assert.equal(await line(), 'ok');
  send(numbered(1, 'G1 X1'));
  assert.equal(await line(), 'ok');
  send(numbered(3, 'G1 X3'));
  await expectResend(/^Error:Line Number is not Last Line Number\+1, Last Line: 1$/, 2);
  send('N2 G1 X2');
  await expectResend(/^Error:No Checksum with line number, Last Line: 1$/, 2);
  send(numbered(2, 'G1 X2').replace(/\*\d+$/, (m) => `*${(Number(m.slice(1)) + 1) % 256}`));
  await expectResend(/^Error:checksum mismatch, Last Line: 1$/, 2);
  send('G1 X2*99');
  await expectResend(/^Error:No Line Number with checksum, Last Line: 1$/, 2);
  send(numbered(2, 'G1 X2'));
  assert.equal(await line(), 'ok');
  // M110 sets the line number whatever N the line itself carries.
  send(numbered(7, 'M110 N100'));
  assert.equal(await line(), 'ok');
  send(numbered(101, 'G1 X4'));
  assert.equal(await line(), 'ok');
});

test('gcode faults: corrupt@N*K and resend@N make the host resend; --lines-out has each command once, in order', async () => {
  const linesOut = join(dir, 'lines-corrupt.txt');
  const { emu, send, line } = await overPty(['--fault', 'corrupt@2*2', '--fault', 'resend@4', '--lines-out', linesOut]);
  const program = ['M110 N0', 'G28', 'G1 X10 Y10 F3000', 'G1 X20', 'G1 X30', 'M84'];
  let resends = 0;
  // A minimal one-line-in-flight host: send, wait for ok, follow Resend.
  let n = 0;
  while (n < program.length) {
    send(numbered(n, program[n]!));
    let resendTo: number | undefined;
    for (;;) {
      const answer = await line();
      const m = /^Resend: (\d+)$/.exec(answer);
      if (m) resendTo = Number(m[1]);
      if (answer.startsWith('ok')) break;
    }
    if (resendTo !== undefined) {
      resends++;
      assert.equal(resendTo, n, 'the printer asks for the line it rejected');
    } else n++;
  }
  assert.equal(resends, 3, 'line 2 twice (corrupt*2), line 4 once');
  const faults = emu.proc.events().filter((e) => e['event'] === 'fault').map((e) => `${e['name']}@${e['line']}`);
  assert.deepEqual(faults, ['corrupt@2', 'corrupt@2', 'resend@4']);
  await emu.proc.waitForEvent({ event: 'gcode', executed: program.length, resends: 3 }, { timeout: 5_000 });
  assert.deepEqual(executed(linesOut), program);

  // `fault corrupt` on stdin hits the next numbered line.
  emu.proc.send('fault corrupt');
  await emu.proc.waitForEvent({ event: 'armed', name: 'corrupt' });
  send(numbered(6, 'M105'));
  assert.match(await line(), /^Error:checksum mismatch, Last Line: 5$/);
  assert.equal(await line(), 'Resend: 6');
});

test('gcode: --ok-delay queues lines sent without waiting and answers each in order; long commands send busy', async () => {
  const { emu, send, line } = await overTcp(['--ok-delay', '20', '--long-ms', '400', '--busy-every', '100']);
  send('G1 X1');
  send('G1 X2');
  send('M105');
  assert.equal(await line(), 'ok');
  assert.equal(await line(), 'ok');
  assert.match(await line(), /^ok T:/);
  await emu.proc.waitForEvent((e) => e['event'] === 'gcode' && e['executed'] === 3 && (e['maxQueued'] as number) >= 2);
  send('G28');
  assert.equal(await line(), 'echo:busy: processing', 'a long command reports busy before its ok');
  let answer = await line();
  while (answer === 'echo:busy: processing') answer = await line();
  assert.equal(answer, 'ok');
});

test('gcode: M108 ends an M109 wait; M112 halts the printer until it is reset', async () => {
  const linesOut = join(dir, 'lines-halt.txt');
  const { emu, send, sent, line } = await overPty(['--long-ms', '600000', '--busy-every', '600000', '--lines-out', linesOut]);
  send('M109 S200');
  send('M108');
  assert.equal(await line(), 'ok', 'M109 done early');
  assert.equal(await line(), 'ok', 'M108 itself');
  send('M105');
  assert.equal(await line(), 'ok T:200.0 /200.0 B:21.0 /0.0');

  send('G1 X5');
  assert.equal(await line(), 'ok');
  send('M112');
  assert.equal(await line(), 'Error:Printer halted. kill() called!');
  await emu.proc.waitForEvent({ event: 'condition', name: 'halted' });
  send('M105');
  // The reset must come after the printer has the line it ignores.
  await received(emu.proc, sent());
  emu.proc.send('set ok');
  await emu.proc.waitForEvent({ event: 'condition', name: 'ok' });
  assert.equal(await line(), 'start', 'the M105 sent while halted got no answer; the reset says start');
  send('M105');
  assert.match(await line(), /^ok T:/);
  assert.deepEqual(executed(linesOut), ['M109 S200', 'M108', 'M105', 'G1 X5', 'M112', 'M105']);
});

test('gcode --advanced-ok: ok N P B with the line that ran and Marlin\'s free counts; lines sent beyond the free slots are lost and counted as overruns', async () => {
  const { emu, send, line } = await overTcp(['--advanced-ok', '--bufsize', '4', '--planner', '16', '--ok-delay', '200']);
  send(numbered(0, 'M110 N0'));
  assert.equal(await line(), 'ok N0 P15 B3', 'Marlin answers while the command holds its slot; its planner keeps one block unused');
  // Six lines at once into four slots: the first runs, three wait, two are lost.
  for (let n = 1; n <= 6; n++) send(numbered(n, `G1 X${n}`));
  assert.equal(await line(), 'ok N1 P11 B0', 'G1 X1 answered while it and X2 to X4 hold every slot and four planner blocks');
  await emu.proc.waitForEvent((e) => e['event'] === 'gcode' && e['overruns'] === 2);
  const lost = emu.proc.events().filter((e) => e['event'] === 'overrun').map((e) => e['line']);
  assert.deepEqual(lost, [5, 6]);
  assert.equal(await line(), 'ok N2 P12 B1');
  assert.equal(await line(), 'ok N3 P13 B2');
  assert.equal(await line(), 'ok N4 P14 B3');
  send('G92 E0');
  assert.equal(await line(), 'ok P15 B3', 'an unnumbered line names no line, as Marlin\'s ok from its command buffer');
  send(numbered(7, 'G1 X7'));
  assert.match(await line(), /^Error:Line Number is not Last Line Number\+1, Last Line: 4$/);
  assert.equal(await line(), 'Resend: 5');
  assert.equal(await line(), 'ok', 'a refused line\'s ok is bare: it ran nothing');
});

test('gcode drop-line@N: line N vanishes on the wire, unanswered; each line behind it is refused for its number; sent again, it runs once', async () => {
  const linesOut = join(dir, 'lines-drop.txt');
  const { emu, send, line } = await overTcp(['--advanced-ok', '--bufsize', '8', '--fault', 'drop-line@2', '--lines-out', linesOut]);
  send('M110 N0');
  assert.equal(await line(), 'ok P15 B7');
  for (let n = 1; n <= 4; n++) send(numbered(n, `G1 X${n}`));
  assert.equal(await line(), 'ok N1 P14 B7');
  for (const n of [3, 4]) {
    assert.equal(await line(), 'Error:Line Number is not Last Line Number+1, Last Line: 1', `line ${n} refused`);
    assert.equal(await line(), 'Resend: 2');
    assert.equal(await line(), 'ok');
  }
  const faults = emu.proc.events().filter((e) => e['event'] === 'fault').map((e) => `${e['name']}@${e['line']}`);
  assert.deepEqual(faults, ['drop-line@2']);
  for (let n = 2; n <= 4; n++) send(numbered(n, `G1 X${n}`));
  for (let n = 2; n <= 4; n++) assert.match(await line(), new RegExp(`^ok N${n} `), 'the second time it arrives');
  await emu.proc.waitForEvent({ event: 'gcode', executed: 5 });
  assert.deepEqual(executed(linesOut), ['M110 N0', 'G1 X1', 'G1 X2', 'G1 X3', 'G1 X4']);
});

/**
 * Streams `program` with the device core's gcode dialect over TCP until its
 * verdict; returns the most lines it had unanswered. `stallAfter`: once that
 * many lines went out, the dialect's clock jumps past its line time limit, so
 * to the dialect the printer has been silent too long while it still holds
 * the lines in flight.
 */
async function streamWithDialect(port: number, program: string, stallAfter?: number): Promise<{ ok: boolean; maxInFlight: number }> {
  const socket = await connect(port);
  const dialect = new Gcode(0);
  let skew = 0;
  const now = (): number => performance.now() + skew;
  dialect.begin(now());
  const feed = bytesFeed(new TextEncoder().encode(program));
  let sentLines = 0;
  let oks = 0;
  let maxInFlight = 0;
  let rx = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('stream timed out')), 60_000);
    const pump = (): void => {
      for (;;) {
        const bytes = dialect.write(4096, feed, now());
        if (bytes === undefined) break;
        for (const b of bytes) if (b === 0x0a) sentLines++;
        maxInFlight = Math.max(maxInFlight, sentLines - oks);
        socket.write(bytes);
        if (stallAfter !== undefined && skew === 0 && sentLines >= stallAfter && sentLines - oks >= 3) skew = 31_000;
      }
      const v = dialect.verdict(feed.length === 0);
      if (v !== undefined) {
        clearTimeout(timer);
        dialect.end();
        socket.destroy();
        resolve({ ok: v.ok, maxInFlight });
      }
    };
    socket.on('data', (chunk: Buffer) => {
      rx += chunk.toString('latin1');
      let i;
      while ((i = rx.indexOf('\n')) >= 0) {
        if (rx.startsWith('ok')) oks++;
        rx = rx.slice(i + 1);
      }
      dialect.input(chunk, now());
      pump();
    });
    pump();
  });
}

test('gcode --advanced-ok driven by the device core: several lines in flight, the record is the exact job, no overrun, no line twice', async () => {
  const linesOut = join(dir, 'lines-advanced.txt');
  const emu = await tcpEmulator(procs, dir, ['--advanced-ok', '--bufsize', '4', '--ok-delay', '3', '--fault', 'corrupt@40', '--fault', 'resend@90*2', '--lines-out', linesOut], 'gcode');
  const job: string[] = [];
  for (let i = 1; i <= 150; i++) job.push(`G1 X${i} Y${(i * 7) % 100} E${(i * 0.05).toFixed(2)}`);
  const { ok, maxInFlight } = await streamWithDialect(emu.port, `; a comment\n${job.join('\n')}\n`);
  assert.ok(ok, 'the job is done');
  assert.ok(maxInFlight >= 3, `several lines in flight (at most ${maxInFlight})`);
  const report = await emu.proc.waitForEvent((e) => e['event'] === 'gcode' && Number(e['executed']) >= job.length + 1);
  assert.equal(report['overruns'], 0, 'never more than the printer had room for');
  assert.ok((report['resends'] as number) >= 3, 'the faults made the printer ask for lines (and refuse those in flight behind them)');
  assert.deepEqual(lessFence(executed(linesOut)), ['M110 N0', ...job], 'each line once, in order');
});

test('gcode --advanced-ok driven by the device core through a stall: the lines the printer still holds stay counted, no job line overruns it', async () => {
  const linesOut = join(dir, 'lines-stall.txt');
  const emu = await tcpEmulator(procs, dir, ['--advanced-ok', '--bufsize', '4', '--ok-delay', '40', '--lines-out', linesOut], 'gcode');
  const job = Array.from({ length: 40 }, (_, i) => `G1 X${i + 1} Y${i % 9}`);
  const { ok } = await streamWithDialect(emu.port, job.join('\n'), 10);
  assert.ok(ok, 'the job is done');
  await emu.proc.waitForEvent((e) => e['event'] === 'gcode' && Number(e['executed']) >= job.length + 1);
  // The emulator has no serial receive buffer: the tickle sent into full slots may be lost there (Marlin's would hold it).
  const lost = emu.proc.events().filter((e) => e['event'] === 'overrun' && e['line'] !== null).map((e) => e['line']);
  assert.deepEqual(lost, [], 'no job line was sent beyond the room the printer reported');
  assert.deepEqual(executed(linesOut).filter((l) => l !== 'M105'), ['M110 N0', ...job], 'each line once, in order');
});

test('gcode without --advanced-ok driven by the device core: one line in flight', async () => {
  const linesOut = join(dir, 'lines-plain.txt');
  const emu = await tcpEmulator(procs, dir, ['--ok-delay', '1', '--lines-out', linesOut], 'gcode');
  const job = Array.from({ length: 30 }, (_, i) => `G1 X${i + 1}`);
  const { ok, maxInFlight } = await streamWithDialect(emu.port, job.join('\n'));
  assert.ok(ok);
  assert.equal(maxInFlight, 1);
  await emu.proc.waitForEvent((e) => e['event'] === 'gcode' && e['executed'] === job.length + 1);
  assert.deepEqual(executed(linesOut), ['M110 N0', ...job]);
});
