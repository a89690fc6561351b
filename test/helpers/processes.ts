// Real processes for tests: spawn the printbridge CLI (or any command), follow
// its output line by line, wait for a line or a JSON event with a timeout,
// and make sure nothing outlives the test file.
//
//   const procs = new Processes();
//   after(() => procs.killAll());
//   const emu = procs.cli(['emulate', '--tcp', '127.0.0.1:0']);
//   const { port } = await emu.waitForEvent('listening');
//   ...
//   const r = await procs.run(['devices', 'add', 'x', '--data', dir]);  // {code, stdout, stderr}
//
// Timeouts here only stop a stuck test with a useful message (the output so
// far); they are not assertions about speed. Every child runs in its own
// process group, so killing it also kills what it started (socat).

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../bin/printbridge.js', import.meta.url));

const DEFAULT_TIMEOUT = 15_000;
const KILL_GRACE = 3_000;

export type Json = Record<string, unknown>;
export type LineMatch = RegExp | string | ((line: string) => boolean);
export type EventMatch = string | Json | ((event: Json) => boolean);

export interface SpawnOptions {
  /** Merged over process.env; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** A name for messages; defaults to the first arguments. */
  name?: string;
}

export interface WaitOptions {
  timeout?: number;
  /** Only lines from this index on (see Proc.mark()); default: all lines so far and later. */
  from?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function lineMatcher(match: LineMatch): (line: string) => boolean {
  if (typeof match === 'function') return match;
  if (typeof match === 'string') return (line) => line.includes(match);
  return (line) => match.test(line);
}

function eventMatcher(match: EventMatch): (e: Json) => boolean {
  if (typeof match === 'function') return match;
  if (typeof match === 'string') return (e) => e['event'] === match;
  return (e) => Object.entries(match).every(([k, v]) => e[k] === v);
}

function parseJson(line: string): Json | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** One running process whose output is split into lines as it arrives. */
export class Proc {
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  stdout = '';
  stderr = '';
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly child: ChildProcess, readonly name: string) {
    const split = (which: 'stdout' | 'stderr') => {
      let partial = '';
      return (chunk: Buffer): void => {
        const text = chunk.toString('utf8');
        this[which] += text;
        partial += text;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        (which === 'stdout' ? this.stdoutLines : this.stderrLines).push(...lines);
        this.wake();
      };
    };
    child.stdout?.on('data', split('stdout'));
    child.stderr?.on('data', split('stderr'));
    child.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': only then has all of the output been read.
      child.once('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
        this.wake();
      });
      child.once('error', (e) => {
        this.stderr += `spawn error: ${e.message}\n`;
        this.exit = { code: null, signal: null };
        resolve(this.exit);
        this.wake();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The number of stdout lines so far: pass as `from` to wait only for later ones. */
  mark(): number {
    return this.stdoutLines.length;
  }

  /** Stdout lines that are JSON objects (the emulator's and `serve --json`'s events). */
  events(from = 0): Json[] {
    return this.stdoutLines.slice(from).map(parseJson).filter((e): e is Json => e !== undefined);
  }

  waitForLine(match: LineMatch, opts: WaitOptions & { stream?: 'stdout' | 'stderr' } = {}): Promise<string> {
    const test = lineMatcher(match);
    const lines = opts.stream === 'stderr' ? this.stderrLines : this.stdoutLines;
    return this.waitFor(`a line matching ${String(match)}`, opts, () => lines.slice(opts.from ?? 0).find(test));
  }

  /** Waits for a JSON line: by event name, by a partial object ({event:'received', bytes: 10}), or by predicate. */
  waitForEvent<T extends Json = Json>(match: EventMatch, opts: WaitOptions = {}): Promise<T> {
    const test = eventMatcher(match);
    return this.waitFor(`an event matching ${typeof match === 'function' ? 'a predicate' : JSON.stringify(match)}`, opts, () =>
      this.events(opts.from ?? 0).find(test) as T | undefined,
    );
  }

  /** Sends one line to stdin. */
  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  closeStdin(): void {
    this.child.stdin?.end();
  }

  waitForExit(timeout = DEFAULT_TIMEOUT): Promise<Exit> {
    return this.waitFor('exit', { timeout }, () => this.exit);
  }

  /** Signals the whole process group; SIGKILL after a grace period. Resolves when it has exited. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.exit) return this.exit;
    this.signalGroup(signal);
    const timer = setTimeout(() => this.signalGroup('SIGKILL'), KILL_GRACE);
    const exit = await this.exited;
    clearTimeout(timer);
    // The leader is gone; make sure its children (socat) are too.
    this.signalGroup('SIGKILL');
    return exit;
  }

  /** The last lines of output, for failure messages. */
  tail(n = 15): string {
    const out = this.stdoutLines.slice(-n).join('\n');
    const err = this.stderrLines.slice(-n).join('\n');
    return `--- ${this.name} stdout ---\n${out}\n--- stderr ---\n${err}`;
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private waitFor<T>(what: string, opts: WaitOptions, probe: () => T | undefined): Promise<T> {
    const timeout = opts.timeout ?? DEFAULT_TIMEOUT;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = probe();
        if (found !== undefined) return done(() => resolve(found));
        if (this.exit && what !== 'exit') {
          return done(() => reject(new Error(`${this.name} exited (${this.exit?.code ?? this.exit?.signal}) before ${what}\n${this.tail()}`)));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeout} ms waiting for ${what}\n${this.tail()}`))), timeout);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Owns the processes of one test file; call killAll() in after(). */
export class Processes {
  private readonly all = new Set<Proc>();

  /** Any command. */
  spawn(command: string, args: string[], opts: SpawnOptions = {}): Proc {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const child = spawn(command, args, { cwd: opts.cwd ?? REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const proc = new Proc(child, opts.name ?? [command, ...args].slice(0, 3).join(' '));
    this.all.add(proc);
    void proc.exited.then(() => this.all.delete(proc));
    return proc;
  }

  /** `printbridge <args>` as a real process (node bin/printbridge.js). */
  cli(args: string[], opts: SpawnOptions = {}): Proc {
    return this.spawn(process.execPath, [CLI, ...args], { name: `printbridge ${args.slice(0, 2).join(' ')}`, ...opts });
  }

  /** Runs the CLI to completion, feeding `input` to stdin. */
  async run(args: string[], opts: SpawnOptions & { input?: string | Uint8Array; timeout?: number } = {}): Promise<RunResult> {
    const proc = this.cli(args, opts);
    if (opts.input !== undefined) proc.child.stdin?.end(opts.input);
    else proc.closeStdin();
    const exit = await proc.waitForExit(opts.timeout);
    return { ...exit, stdout: proc.stdout, stderr: proc.stderr };
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.all].map((p) => p.kill()));
  }
}
