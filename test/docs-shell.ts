// A reader's terminal for the docs' shell examples: a real bash in a folder
// of its own, fed one command at a time as if pasted, each command's output
// and exit status read back. A command that keeps running (the server, a
// bridge, an emulator, or anything ending in `&`) runs in the background the
// way a second terminal would, and the next command waits until it is ready:
// the server listening, the emulator listening, the bridge online.
//
// What is rewritten, and only this: a server's, emulator's or compat
// listener's port in a command is replaced by 0, so the system picks a free
// one, and the port it then listens on replaces the documented one (8080,
// 9100…) in every later command; `PRINTBRIDGE_SERVER` is set to the server found, standing for the
// default http://127.0.0.1:8080 of commands without --server; and
// `PRINTBRIDGE_DATA` points at the folder's own `data`, which is where
// `npm start` (run from the project root, as npm does) would keep it for a
// reader in the project's folder. An id the docs make up ("5b0e…", a
// token's id) stands for the real one an earlier answer showed in its place
// (learnIds in test/docs-json.ts). `printbridge` is on PATH as if installed
// with npm. Everything else is run as written.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, type Proc, type Processes } from './helpers/processes.js';
import { until } from './helpers/until.js';

export interface DocCommand {
  /** The command as written (continuation lines joined). */
  text: string;
  /** Lines the docs show as its output (JSON lines after it), if any. */
  output: string[];
  /** 1-based line in the markdown file. */
  line: number;
}

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** A command that keeps running until stopped, and what says it is ready. */
const LONG_RUNNING: Array<{ match: RegExp; ready: RegExp }> = [
  { match: /^(\w+=\S+ )*npm start\b|\bprintbridge serve\b/, ready: /listening on \S+:(\d+)/ },
  { match: /\bprintbridge emulate\b.*--tcp\b/, ready: /"event":"listening"[^}]*"port":(\d+)/ },
  { match: /\bprintbridge emulate\b.*--pty\b/, ready: /"event":"pty"/ },
  { match: /\bprintbridge emulate\b.*--weblink\b/, ready: /"event":"connected"[^}]*"channel":"main"/ },
  { match: /\bprintbridge bridge\b/, ready: /\blink online\b/ },
];

/** Splits a block's lines into commands and the output lines shown after each. */
export function shellCommands(lines: string[], firstLine: number): DocCommand[] {
  const out: DocCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (/^[[{]/.test(trimmed)) {
      const last = out[out.length - 1];
      if (!last) throw new Error(`line ${firstLine + i}: output shown before any command`);
      last.output.push(trimmed);
      continue;
    }
    let text = line;
    const start = i;
    while (/\\\s*$/.test(text) && i + 1 < lines.length) text = `${text.replace(/\\\s*$/, '').trimEnd()} ${(lines[++i] ?? '').trim()}`;
    out.push({ text: text.trim(), output: [], line: firstLine + start });
  }
  return out;
}

export class DocShell {
  private readonly shell: Proc;
  private seq = 0;
  private background = 0;

  /** `ports`: documented port → the port it really got, shared by a reader's terminals. */
  constructor(
    procs: Processes,
    readonly dir: string,
    private readonly ports: Map<number, number>,
  ) {
    // `printbridge` on PATH, as after `npm install -g printbridge`: the docs
    // past the README's story write it bare.
    const bin = join(dir, '.bin');
    if (!existsSync(join(bin, 'printbridge'))) {
      mkdirSync(bin, { recursive: true });
      symlinkSync(CLI, join(bin, 'printbridge'));
    }
    const env: Record<string, string | undefined> = { PRINTBRIDGE_DATA: join(dir, 'data'), PATH: `${bin}:${process.env['PATH'] ?? ''}`, HISTFILE: '/dev/null' };
    for (const k of Object.keys(process.env)) if (k.startsWith('PRINTBRIDGE_') && k !== 'PRINTBRIDGE_DATA') env[k] = undefined;
    const server = ports.get(8080);
    if (server !== undefined) env['PRINTBRIDGE_SERVER'] = `http://127.0.0.1:${server}`;
    this.shell = procs.spawn('bash', ['--norc', '--noprofile'], { cwd: dir, env, name: `shell in ${dir}` });
  }

  /** Ids the docs make up ("5b0e…", a token's id) → the ones this run got. */
  readonly ids = new Map<string, string>();

  /** The command with the documented ports and ids replaced by the ones in use. */
  rewrite(text: string): string {
    let out = text;
    for (const [doc, real] of this.ids) out = out.split(doc).join(real);
    for (const [doc, real] of this.ports) out = out.replace(new RegExp(`:${doc}(?!\\d)`, 'g'), `:${real}`);
    return out;
  }

  isLongRunning(text: string): boolean {
    return /\s&\s*(#.*)?$/.test(text) || LONG_RUNNING.some((l) => l.match.test(text));
  }

  /** Runs a command to its end, as pasted into this terminal. */
  async run(text: string, timeout = 120_000): Promise<CommandResult> {
    // Bash stuck in an unfinished quote would swallow every later command.
    const syntax = spawnSync('bash', ['-n', '-c', text], { encoding: 'utf8' });
    if (syntax.status !== 0) return { status: 2, stdout: '', stderr: `not a shell command: ${syntax.stderr}` };
    const n = ++this.seq;
    const done = `__pb_done_${n}`;
    const from = this.shell.stdoutLines.length;
    const fromErr = this.shell.stderrLines.length;
    // stdin is not the script: a command that reads it must not eat the next ones.
    this.shell.send(`{ ${this.rewrite(text)}\n} </dev/null; printf '\\n${done} %d\\n' $?; printf '\\n${done}\\n' >&2`);
    const marker = await this.shell.waitForLine((l) => l.startsWith(`${done} `), { timeout, from });
    await this.shell.waitForLine(done, { stream: 'stderr', timeout });
    const lines = (all: string[], start: number): string => {
      const end = all.findIndex((l, i) => i >= start && l.startsWith(done));
      const got = all.slice(start, end);
      if (got[got.length - 1] === '') got.pop();
      return got.join('\n');
    };
    return {
      status: Number(marker.slice(done.length + 1)),
      stdout: lines(this.shell.stdoutLines, from),
      stderr: lines(this.shell.stderrLines, fromErr),
    };
  }

  /**
   * Starts a command that keeps running, as a reader would in another
   * terminal, and waits until it says it is ready; learns the port it got.
   */
  async start(text: string, timeout = 120_000): Promise<string> {
    const kind = LONG_RUNNING.find((l) => l.match.test(text));
    const docPort = ownPort(text);
    let cmd = text.replace(/\s&\s*(#.*)?$/, '');
    if (kind?.ready.source.includes('listening on')) cmd = `PRINTBRIDGE_PORT=0 ${cmd.replace(/--port \d+/, '--port 0')}`;
    cmd = cmd.replace(/--tcp (\S+):\d+/, '--tcp $1:0').replace(/--compat-port \d+/, '--compat-port 0');
    const log = join(this.dir, `.background-${++this.background}.log`);
    // A terminal's stdin stays open (the emulator stops when its stdin ends):
    // a pipe from a sleep that outlives the command, and that the command's
    // exit does not wait for.
    this.shell.send(`( { ${this.rewrite(cmd)}\n} < <(exec sleep infinity) >${log} 2>&1; echo "__pb_exited $?" >>${log} ) &`);
    const read = (): string => {
      try {
        return readFileSync(log, 'utf8');
      } catch {
        return '';
      }
    };
    const ready = kind?.ready;
    await until(
      `"${text}" to be ready`,
      () => {
        const got = read();
        if (got.includes('__pb_exited')) throw new Error(`"${text}" ended instead of running:\n${got}`);
        return ready === undefined ? true : ready.test(got);
      },
      timeout,
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; its output so far:\n${read().slice(-2000)}`);
    });
    const port = ready ? ready.exec(read())?.[1] : undefined;
    if (port !== undefined && docPort !== undefined) {
      this.ports.set(docPort, Number(port));
      if (docPort === 8080) this.shell.send(`export PRINTBRIDGE_SERVER=http://127.0.0.1:${port}`);
    }
    return log;
  }

  /** Runs a command, in the background when it keeps running. */
  async paste(text: string): Promise<CommandResult | undefined> {
    if (this.isLongRunning(text)) {
      await this.start(text);
      return undefined;
    }
    return this.run(text);
  }
}

/** The port a documented command listens on, if it is one that does. */
function ownPort(text: string): number | undefined {
  const tcp = /--tcp \S+:(\d+)/.exec(text);
  if (tcp) return Number(tcp[1]);
  if (/\bnpm start\b|\bprintbridge serve\b/.test(text)) {
    const port = /--port (\d+)/.exec(text);
    return port ? Number(port[1]) : 8080;
  }
  return undefined;
}
