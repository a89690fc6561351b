// `printbridge emulate`: a fake printer on a TCP port or a PTY, for trying a
// bridge without hardware and for tests. Events go to stdout as JSON lines;
// stdin takes operator commands (see HELP).

import { fstatSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { EMULATED_DIALECTS } from '../emulator/dialects/index.js';
import { runEmulator, type Emulator, type EmulatorEvent } from '../emulator/emulator.js';
import { EXIT_FAILURE, EXIT_OK, integer, parse, untilSignal, UsageError, type Command } from './command.js';

const HELP = `Usage: printbridge emulate [--dialect D] (--tcp HOST:PORT | --pty PATH) [options]

Plays a printer. Every byte it receives is appended to --out; status queries
of the dialect are answered (ESC/POS: DLE EOT n). Events are printed to stdout
as JSON lines: listening {port} or pty {path}, connected and disconnected
(TCP only: a PTY has no connections), stalled {bytes}, resumed, received
{bytes} (total so far; at most every 100 ms, and on stall, disconnect, exit),
condition {name}.

Options:
  --dialect D         ${Object.keys(EMULATED_DIALECTS).join(' | ')} (default escpos)
  --tcp HOST:PORT     listen like a :9100 printer, one connection at a time;
                      port 0 picks a free one (printed in the listening event)
  --pty PATH          create a serial port at PATH (a symlink to a PTY, via socat)
  --out FILE          append every received byte to FILE
  --stall-after N     stop reading after N bytes in total, so the sender feels
                      backpressure (once)
  --stall-for MS      resume that stall after MS milliseconds (default: stay
                      stalled until a 'resume' command)
  --baud N            consume at most N/10 bytes per second, like an 8N1 line
  -h, --help          show this help

Commands on stdin, one per line:
  stall | resume      stop or restart reading
  set CONDITION       ${Object.values(EMULATED_DIALECTS).map((d) => `${d.name}: ${d.conditions.join(', ')}`).join('; ')}
  drop                cut the current TCP connection

Stops on SIGINT, SIGTERM, or when stdin (a pipe or terminal) ends.`;

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
  const [verb, arg] = line.trim().split(/\s+/);
  switch (verb) {
    case undefined:
    case '':
      return;
    case 'stall':
      return emulator.stall();
    case 'resume':
      return emulator.resume();
    case 'drop':
      return emulator.dropHost();
    case 'set':
      if (arg !== undefined && emulator.setCondition(arg)) return;
      return emitLine({ event: 'error', message: `unknown condition ${JSON.stringify(arg ?? '')}; known: ${emulator.conditions.join(', ')}` });
    default:
      return emitLine({ event: 'error', message: `unknown command ${JSON.stringify(verb)}` });
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
  summary: 'run a printer emulator on a TCP port or a PTY',
  help: HELP,
  async run(args) {
    const { values } = parse(args, {
      dialect: { type: 'string', default: 'escpos' },
      tcp: { type: 'string' },
      pty: { type: 'string' },
      out: { type: 'string' },
      'stall-after': { type: 'string' },
      'stall-for': { type: 'string' },
      baud: { type: 'string' },
    });
    if (!EMULATED_DIALECTS[values.dialect]) {
      throw new UsageError(`unknown dialect ${JSON.stringify(values.dialect)}; known: ${Object.keys(EMULATED_DIALECTS).join(', ')}`);
    }
    if ((values.tcp === undefined) === (values.pty === undefined)) throw new UsageError('give exactly one of --tcp HOST:PORT or --pty PATH');
    const stallAfter = integer(values['stall-after'], '--stall-after', 0, Number.MAX_SAFE_INTEGER);
    const stallFor = integer(values['stall-for'], '--stall-for', 0, 2 ** 31 - 1);
    if (stallFor !== undefined && stallAfter === undefined) throw new UsageError('--stall-for needs --stall-after');

    // Listen for signals before the emulator announces itself: whoever reads
    // its first event may stop it at once.
    const signalled = untilSignal().then(() => EXIT_OK);
    const emulator = await runEmulator({
      dialect: values.dialect,
      tcp: values.tcp === undefined ? undefined : hostPort(values.tcp),
      pty: values.pty,
      out: values.out,
      stallAfter,
      stallFor,
      baud: integer(values.baud, '--baud', 50, 100_000_000),
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
