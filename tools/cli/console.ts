// `printbridge console`: an interactive WebSocket console, like
// `python -m websockets URL`. Lines typed (or piped) are sent as frames, raw
// JSON or `op key=value` shorthand; every frame received is printed as it
// arrives. It ends on Ctrl-C, Ctrl-D, end of input or .exit (closing with
// 1000 and waiting for the server's close), or when the server closes.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { clearLine, createInterface, cursorTo } from 'node:readline';
import type WebSocket from 'ws';
import { closeName, CLOSE } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { openSocket } from '../client/client.js';
import { EXIT_FAILURE, EXIT_OK, integer, note, parse, UsageError, type Command } from './command.js';
import { CONSOLE_SYNTAX, readInput, RequestIds, showBinary, showFrame, showSent, type Style } from './console-lines.js';
import { clientToken, optionalToken, SERVER_HELP, SERVER_OPTIONS, serverUrl } from './server-options.js';
import { urlOption } from './url-option.js';

const HELP = `Usage: printbridge console [--server URL | --url WS_URL] [options]

An interactive console on the server's client API (/v1/client), or on any
WebSocket with --url. It sends {"op":"hello"} first (unless --no-hello), then
sends each line you type and prints every reply and event as it arrives:
"< #3 ok {...}" for a reply to id 3, "< #3 UNKNOWN_JOB no such job" for an
error, "< job.updated {...}" for an event. Subscribe to see events:  subscribe

${CONSOLE_SYNTAX}

Input can be piped too: it is read line by line, and when it ends the console
waits (up to --wait) for the replies still due before closing.
Exit status: 0 closed normally, 1 could not connect or the server closed the
connection with an error code, 2 usage error.

Options:
${SERVER_HELP}
  --url WS_URL          connect to this WebSocket URL instead (the token, when
                        given, is still sent as a bearer token)
  --no-hello            do not send hello first
  --json                print frames exactly as received, one per line, and
                        no echo of shorthand requests (for scripts)
  --wait MS             after the input ends, wait this long at most for
                        outstanding replies (default 5000)
  -h, --help            show this help

History is kept in ~/.printbridge_history (env PRINTBRIDGE_HISTORY; empty to
keep none) when the console runs on a terminal.`;

const HISTORY_SIZE = 500;

function historyFile(): string | undefined {
  const env = process.env['PRINTBRIDGE_HISTORY'];
  if (env !== undefined) return env === '' ? undefined : env;
  return join(homedir(), '.printbridge_history');
}

function loadHistory(file: string | undefined): string[] {
  if (file === undefined || !existsSync(file)) return [];
  try {
    // Stored oldest first; readline wants newest first.
    return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

function saveHistory(file: string | undefined, history: string[]): void {
  if (file === undefined) return;
  try {
    writeFileSync(file, `${[...history].reverse().join('\n')}\n`, { mode: 0o600 });
  } catch {
    // History is a convenience; a read-only home must not fail the session.
  }
}

function closeText(code: number, reason: string): string {
  const name = closeName(code);
  const known = name === undefined ? '' : ` ${name}`;
  return `connection closed: ${code}${known}${reason ? ` (${reason})` : ''}`;
}

export const console_: Command = {
  name: 'console',
  summary: 'interactive WebSocket console: type JSON, see replies and events',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...SERVER_OPTIONS, url: { type: 'string' }, 'no-hello': { type: 'boolean' }, json: { type: 'boolean' }, wait: { type: 'string' },
    }, true);
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    if (values.url !== undefined && values.server !== undefined) throw new UsageError('give --server or --url, not both');
    let url: string;
    let token: string | undefined;
    if (values.url !== undefined) {
      url = urlOption(values.url, { what: '--url', schemes: ['ws', 'wss'] }).href;
      token = optionalToken(values);
    } else {
      token = clientToken(values);
      url = serverUrl(values);
    }
    const wait = integer(values.wait, '--wait', 0, 600_000) ?? 5000;
    const raw = values.json === true;
    const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
    const style: Style = {
      color: process.stdout.isTTY === true && !process.env['NO_COLOR'] && !raw,
      width: process.stdout.isTTY === true ? process.stdout.columns || 80 : 0,
    };

    const ws = await openSocket(url, token);
    if (tty) note(`connected to ${url}; .help for the syntax, Ctrl-D to quit`);
    return session(ws, { raw, tty, style, wait, hello: values['no-hello'] !== true });
  },
};

interface SessionOptions {
  raw: boolean;
  tty: boolean;
  style: Style;
  wait: number;
  hello: boolean;
}

function session(ws: WebSocket, o: SessionOptions): Promise<number> {
  const history = o.tty ? historyFile() : undefined;
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: o.tty,
    history: o.tty ? loadHistory(history) : [],
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
  });
  rl.setPrompt('> ');
  const ids = new RequestIds();
  let sent = 0;
  let replies = 0;
  let quitting = false;
  let inputEnded = false;
  let drainTimer: NodeJS.Timeout | undefined;

  // Printing while the user types: clear the prompt line, print, redraw it.
  const out = (line: string): void => {
    if (o.tty) {
      clearLine(process.stdout, 0);
      cursorTo(process.stdout, 0);
    }
    process.stdout.write(`${line}\n`);
    if (o.tty && !quitting) rl.prompt(true);
  };

  const send = (text: string): void => {
    sent++;
    ws.send(text);
  };

  return new Promise<number>((resolve) => {
    let exitCode = EXIT_OK;
    const quit = (): void => {
      if (quitting) return;
      quitting = true;
      clearTimeout(drainTimer);
      if (o.tty) saveHistory(history, (rl as unknown as { history: string[] }).history ?? []);
      rl.close();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
        // Polite: send 1000 and wait for the server's close frame; give up after a while.
        const hard = setTimeout(() => ws.terminate(), 3000);
        ws.once('close', () => clearTimeout(hard));
        ws.close(CLOSE.NORMAL.code, 'console done');
      }
    };
    // After the input ends, stay for the replies still due, then close.
    const drain = (): void => {
      if (quitting || !inputEnded) return;
      if (replies >= sent) return quit();
      drainTimer ??= setTimeout(() => {
        note(`printbridge console: ${sent - replies} repl${sent - replies === 1 ? 'y' : 'ies'} still due after ${o.wait} ms; closing`);
        quit();
      }, o.wait);
    };

    ws.on('message', (data, isBinary) => {
      const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (isBinary) {
        out(o.raw ? JSON.stringify({ binary: bytes.toString('base64') }) : showBinary(bytes.length, o.style));
        return;
      }
      const text = bytes.toString('utf8');
      if (isReply(text)) replies++;
      out(o.raw ? text : showFrame(text, o.style));
      drain();
    });
    ws.on('error', (e) => note(`printbridge console: ${e.message}`));
    ws.on('close', (code, reasonBuf) => {
      const reason = reasonBuf.toString();
      // A normal close the user asked for (Ctrl-C, Ctrl-D, .exit, the end of
      // piped input) is no news; the server closing, or closing badly, is.
      const news = !quitting || code !== CLOSE.NORMAL.code;
      if (!quitting) {
        // The server closed first: say why, and fail unless it was a normal close.
        exitCode = code === CLOSE.NORMAL.code || code === CLOSE.GOING_AWAY.code ? EXIT_OK : EXIT_FAILURE;
        quitting = true;
        clearTimeout(drainTimer);
        if (o.tty) saveHistory(history, (rl as unknown as { history: string[] }).history ?? []);
        rl.close();
      }
      if (news) note(closeText(code, reason));
      resolve(exitCode);
    });

    rl.on('line', (line) => {
      if (quitting) return;
      const input = readInput(line, ids);
      switch (input.kind) {
        case 'send':
          if (input.built !== undefined && !o.raw) out(showSent(input.built, o.style));
          send(input.text);
          break;
        case 'exit':
          return quit();
        case 'help':
          out(CONSOLE_SYNTAX);
          break;
        case 'error':
          note(`printbridge console: ${input.message} (not sent)`);
          break;
        case 'skip':
          break;
      }
      if (o.tty) rl.prompt();
    });
    rl.on('SIGINT', () => {
      // Ctrl-C clears a half-typed line; on an empty one it quits.
      if (rl.line !== '') {
        (rl as unknown as { line: string }).line = '';
        process.stdout.write('\n');
        rl.prompt();
      } else quit();
    });
    rl.on('close', () => {
      // Ctrl-D or the end of piped input.
      if (quitting) return;
      if (o.tty) process.stdout.write('\n');
      inputEnded = true;
      drain();
    });
    process.once('SIGTERM', quit);
    if (!o.tty) process.once('SIGINT', quit);

    if (o.hello) {
      const hello = { op: 'hello', v: PROTOCOL_VERSION, id: ids.next() };
      if (!o.raw) out(showSent(hello, o.style));
      send(JSON.stringify(hello));
    }
    if (o.tty) rl.prompt();
  });
}

/** A reply frame of the client API: a JSON object with `re`. */
function isReply(text: string): boolean {
  try {
    const m: unknown = JSON.parse(text);
    return typeof m === 'object' && m !== null && !Array.isArray(m) && 're' in m;
  } catch {
    return false;
  }
}
