// `printbridge emulate`: a fake printer on a TCP port or a PTY, for trying a
// bridge without hardware and for tests. Events go to stdout as JSON lines;
// stdin takes operator commands (see HELP).

import { fstatSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { EMULATED_DIALECTS } from '../emulator/dialects/index.js';
import { DEFAULT_BUFFER, runEmulator, type Emulator, type EmulatorEvent } from '../emulator/emulator.js';
import { COMMON_FAULTS, DEFAULT_POWER_OFF_MS, parseFault } from '../emulator/faults.js';
import { EXIT_FAILURE, EXIT_OK, integer, parse, untilSignal, UsageError, type Command } from './command.js';
import { runWeblinkEmulator, WEBLINK_HELP } from './emulate-weblink.js';
import { didYouMean } from './suggest.js';

const dialectLines = Object.values(EMULATED_DIALECTS)
  .map((d) => `  ${d.name.padEnd(8)}${d.conditions.join(', ')}${Object.values(d.faults).map((f) => `\n${' '.repeat(10)}fault ${f}`).join('')}`)
  .join('\n');

const HELP = `Usage: printbridge emulate [--dialect D] (--tcp HOST:PORT | --pty PATH) [options]

Plays a printer. What it prints is appended to --out: every byte its
mechanism takes from the input buffer except the status queries it answered
(so a file sent through a polling bridge is recorded exactly as sent, and
what a power cycle lost is not there); --raw-out keeps every byte received.
Queries are answered as the dialect's printers do: escpos DLE EOT n and
Automatic Status Back (GS a n); tspl ESC ! ?; zpl ~HS and ~HQES; gcode ok /
Resend: / temperatures, Marlin style (see tools/emulator/dialects/*.ts).
Received bytes go through an input buffer that the "mechanism" empties; a
condition such as paper-out stops the mechanism, so the buffer fills and the
printer stops reading (or sends XOFF with --xonxoff).

Events are printed to stdout as JSON lines: listening {port} or pty {path},
connected and disconnected (TCP only: a PTY has no connections), stalled
{bytes}, resumed, received {bytes, since, at} (total so far, first and last
byte times in ms since the epoch; at most every 100 ms, and on stall,
disconnect, exit), printed {bytes} (taken by the mechanism, queries
included; throttled the same way), condition {name}, fault {name, at}
(applied; at: bytes received then), armed {name, at} (waiting), paused,
unpaused, xoff {buffered}, xon {buffered, afterXoff}, disappeared,
reappeared, power-off {lost, bytes} (lost: buffered bytes never printed),
power-on {dropped} (bytes that arrived while off); per dialect: asb
{enabled}, unanswered {query}, resend {line, reason}, gcode {executed,
resends, maxQueued, firstAt, at}, quickstop.

Options:
  --dialect D         ${Object.keys(EMULATED_DIALECTS).join(' | ')} (default escpos)
  --tcp HOST:PORT     listen like a :9100 printer, one connection at a time;
                      port 0 picks a free one (printed in the listening event)
  --pty PATH          create a serial port at PATH (a symlink to a PTY, via socat)
  --out FILE          append the printed data (what the mechanism took, less
                      answered status queries) to FILE
  --raw-out FILE      append every received byte to FILE
  --baud N            take bytes off the wire at 8N1 timing (N/10 bytes per second)
  --buffer N          input buffer size in bytes (default ${DEFAULT_BUFFER})
  --print-rate N      the mechanism takes N bytes per second from the buffer
                      (default: as fast as they come)
  --xonxoff           send XOFF (DC3) when the buffer passes 3/4 full and XON
                      (DC1) when it drains to 1/4
  --fault SPEC        a fault, repeatable: NAME[@N][+MS][~MS][*K]; see "Faults"
  --stall-after N     same as --fault stall@N
  --stall-for MS      end a stall@N / --stall-after stall after MS milliseconds
                      (default: stay stalled until a 'resume' command)
  --ok-delay MS       gcode: time each command takes before its ok (default 0)
  --long-ms MS        gcode: time of G28, G29, M109, M190, M400, M600 (default 3000)
  --busy-every MS     gcode: echo:busy: processing interval (default 2000)
  --advanced-ok       gcode: answer ok N.. P.. B.. (Marlin's ADVANCED_OK) with the
                      free counts of a command queue and a planner, and lose
                      lines sent while the queue is full
  --bufsize N         gcode: --advanced-ok command queue slots (default 4)
  --planner N         gcode: --advanced-ok planner blocks (default 16)
  --lines-out FILE    gcode: append each command that ran (no N, no checksum)
  --print-ms MS       tspl: printing bit after PRINT; zpl: time per label
  -h, --help          show this help

Faults (NAME@N: when N bytes have been received, without @N: at once;
+MS: that many ms later; ~MS: undone after MS, e.g. stall@8000~2000):
  ${Object.values(COMMON_FAULTS).join('\n  ')}
  CONDITION@N[~MS]  enter a condition of the dialect, e.g. paper-out@5000;
                ~MS: back to ok after MS
  Stall then drop: --fault stall@N --fault drop@N+MS
Dialects (conditions for set, CONDITION@N; own faults):
${dialectLines}

Commands on stdin, one per line:
  stall | resume      stop or restart reading
  pause | unpause     stop or restart the mechanism (the buffer fills)
  set CONDITION       enter a condition (set ok clears it; gcode: resets a halt)
  fault SPEC          as --fault: fault paper-out, fault corrupt@12*3, fault silent-hs off
  drop                cut the current TCP connection
  disappear           the printer goes away (TCP: drop, refuse; PTY: device removed)
  reappear            it comes back at the same port or path
  power-cycle [MS]    switch it off and on again after MS (default ${DEFAULT_POWER_OFF_MS})
  power-off | power-on  switch it off, or on again (see power-cycle@N)

Stops on SIGINT, SIGTERM, or when stdin (a pipe or terminal) ends.

${WEBLINK_HELP}`;

function hostPort(value: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(value);
  if (!m) throw new UsageError(`--tcp must be HOST:PORT, not ${JSON.stringify(value)}`);
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  return { host, port: integer(m[2], '--tcp port', 0, 65535)! };
}

function emitLine(e: EmulatorEvent): void {
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

function command(emulator: Emulator, line: string): void {
  const [verb, ...rest] = line.trim().split(/\s+/);
  const arg = rest.join(' ');
  const problem = (message: string): void => emitLine({ event: 'error', message });
  switch (verb) {
    case undefined:
    case '':
      return;
    case 'stall':
      return emulator.stall();
    case 'resume':
      return emulator.resume();
    case 'pause':
      return emulator.pause();
    case 'unpause':
      return emulator.unpause();
    case 'drop':
      return emulator.dropHost();
    case 'disappear':
      return void emulator.vanish().catch((e: Error) => problem(e.message));
    case 'reappear':
      return void emulator.reappear().catch((e: Error) => problem(e.message));
    case 'power-cycle': {
      if (arg !== '' && !/^\d+$/.test(arg)) return problem(`power-cycle takes milliseconds, not ${JSON.stringify(arg)}`);
      return void emulator.powerCycle(arg === '' ? undefined : Number(arg)).catch((e: Error) => problem(e.message));
    }
    case 'power-off':
      return void emulator.powerOff().catch((e: Error) => problem(e.message));
    case 'power-on':
      return void emulator.powerOn().catch((e: Error) => problem(e.message));
    case 'set':
      if (arg !== '' && emulator.setCondition(arg)) return;
      return problem(`unknown condition ${JSON.stringify(arg)}; known: ${emulator.conditions.join(', ')}`);
    case 'fault': {
      let error: string | undefined;
      try {
        error = emulator.fault(parseFault(arg));
      } catch (e) {
        error = (e as Error).message;
      }
      if (error !== undefined) problem(error);
      return;
    }
    default:
      return problem(`unknown command ${JSON.stringify(verb)}`);
  }
}

/**
 * Only a pipe, socket or terminal on stdin is a controller whose end means
 * "stop"; /dev/null (a backgrounded shell job) ends at once and would
 * otherwise kill the emulator on start.
 */
function stdinIsController(): boolean {
  try {
    const s = fstatSync(0);
    return s.isFIFO() || s.isSocket() || process.stdin.isTTY === true;
  } catch {
    return false;
  }
}

export const emulate: Command = {
  name: 'emulate',
  summary: 'run a printer emulator on a TCP port or a PTY, or a Weblink printer',
  help: HELP,
  async run(args) {
    if (args.some((a) => a === '--weblink' || a.startsWith('--weblink='))) return runWeblinkEmulator(args, stdinIsController());
    const { values } = parse(args, {
      dialect: { type: 'string', default: 'escpos' },
      tcp: { type: 'string' },
      pty: { type: 'string' },
      out: { type: 'string' },
      'raw-out': { type: 'string' },
      'stall-after': { type: 'string' },
      'stall-for': { type: 'string' },
      baud: { type: 'string' },
      buffer: { type: 'string' },
      'print-rate': { type: 'string' },
      xonxoff: { type: 'boolean', default: false },
      fault: { type: 'string', multiple: true },
      'ok-delay': { type: 'string' },
      'long-ms': { type: 'string' },
      'busy-every': { type: 'string' },
      'lines-out': { type: 'string' },
      'advanced-ok': { type: 'boolean', default: false },
      bufsize: { type: 'string' },
      planner: { type: 'string' },
      'print-ms': { type: 'string' },
    });
    if (!EMULATED_DIALECTS[values.dialect]) {
      throw new UsageError(`unknown dialect ${JSON.stringify(values.dialect)}${didYouMean(values.dialect, Object.keys(EMULATED_DIALECTS))} (dialects: ${Object.keys(EMULATED_DIALECTS).join(', ')})`);
    }
    if ((values.tcp === undefined) === (values.pty === undefined)) throw new UsageError('give exactly one of --tcp HOST:PORT or --pty PATH');
    const stallAfter = integer(values['stall-after'], '--stall-after', 0, Number.MAX_SAFE_INTEGER);
    const stallFor = integer(values['stall-for'], '--stall-for', 0, 2 ** 31 - 1);
    const faults = (values.fault ?? []).map((spec) => {
      try {
        return parseFault(spec);
      } catch (e) {
        throw new UsageError(`--fault: ${(e as Error).message}`);
      }
    });
    if (stallFor !== undefined && stallAfter === undefined && !faults.some((f) => f.name === 'stall')) {
      throw new UsageError('--stall-for needs --stall-after or --fault stall@N');
    }
    const ms = (name: string): number | undefined => integer(values[name as 'ok-delay'], `--${name}`, 0, 2 ** 31 - 1);

    // Listen for signals before the emulator announces itself: whoever reads
    // its first event may stop it at once.
    const signalled = untilSignal().then(() => EXIT_OK);
    const emulator = await runEmulator({
      dialect: values.dialect,
      tcp: values.tcp === undefined ? undefined : hostPort(values.tcp),
      pty: values.pty,
      out: values.out,
      rawOut: values['raw-out'],
      stallAfter,
      stallFor,
      baud: integer(values.baud, '--baud', 50, 100_000_000),
      buffer: integer(values.buffer, '--buffer', 1, 1 << 30),
      printRate: integer(values['print-rate'], '--print-rate', 1, 1 << 30),
      xonxoff: values.xonxoff,
      faults,
      settings: {
        okDelay: ms('ok-delay'), longMs: ms('long-ms'), busyEvery: integer(values['busy-every'], '--busy-every', 1, 2 ** 31 - 1),
        linesOut: values['lines-out'], printMs: ms('print-ms'),
        advancedOk: values['advanced-ok']
          ? { bufsize: integer(values.bufsize, '--bufsize', 1, 1024), planner: integer(values.planner, '--planner', 1, 1024) }
          : undefined,
      },
      emit: emitLine,
    });

    const stopped: Promise<number>[] = [signalled, emulator.failed.then(() => EXIT_FAILURE)];
    if (stdinIsController()) {
      const lines = createInterface({ input: process.stdin });
      lines.on('line', (line) => command(emulator, line));
      stopped.push(new Promise((resolve) => lines.once('close', () => resolve(EXIT_OK))));
    }
    const code = await Promise.race(stopped);
    await emulator.close();
    return code;
  },
};
