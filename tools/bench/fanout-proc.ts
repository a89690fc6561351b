// What the fanout bench needs from its child processes: start one with a
// raised open-file limit (each holds thousands of sockets), ask it something
// over IPC and wait for the answer, and read its CPU time and RSS from /proc.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Ask {
  readonly cmd: string;
  readonly [key: string]: unknown;
}

export interface Answer {
  readonly id: number;
  readonly error?: string;
  readonly [key: string]: unknown;
}

export interface Child {
  readonly pid: number;
  ask(msg: Ask): Promise<Answer>;
  kill(): Promise<void>;
}

/** The open-file limit children ask for: room for 20,000 devices and then some. */
export const OPEN_FILES_WANTED = 65_536;

/** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/**
 * Starts `script` (a .ts file next to this one) under node with tsx and an IPC
 * channel. The shell raises the soft open-file limit to the hard one first and
 * then execs node, so the PID stays the node process's. `quiet`: its stderr
 * (where the server logs) goes nowhere.
 */
export function startChild(script: string, args: string[] = [], opts: { quiet?: boolean } = {}): Child {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const quoted = [path, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // Root may raise the hard limit too (20,000 devices need more than the
  // 20,000 this machine kind allows by default); others keep theirs.
  const proc: ChildProcess = spawn('sh', ['-c', `ulimit -Hn ${OPEN_FILES_WANTED} 2>/dev/null; ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" --import tsx ${quoted}`, process.execPath], {
    // A quiet child still writes its log (that cost is part of the figures); nobody reads it.
    stdio: ['ignore', 'ignore', opts.quiet === true ? 'ignore' : 'inherit', 'ipc'],
  });
  let next = 0;
  const waiting = new Map<number, { resolve(a: Answer): void; reject(e: Error): void }>();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.on('message', (m: Answer) => {
    const w = waiting.get(m.id);
    if (w === undefined) return;
    waiting.delete(m.id);
    if (m.error !== undefined) w.reject(new Error(`${script}: ${m.error}`));
    else w.resolve(m);
  });
  proc.once('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`${script} exited (${code})`));
    waiting.clear();
  });
  if (proc.pid === undefined) throw new Error(`could not start ${script}`);
  return {
    pid: proc.pid,
    ask(msg) {
      const id = next++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        proc.send({ ...msg, id });
      });
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** The child side: answers each asked command with what `handle` returns (or its error). */
export function serveParent(handle: (msg: Ask) => Promise<Record<string, unknown>>): void {
  process.on('message', (m: Ask & { id: number }) => {
    handle(m).then(
      (result) => process.send?.({ ...result, id: m.id }),
      (e: unknown) => process.send?.({ id: m.id, error: e instanceof Error ? e.stack ?? e.message : String(e) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses; fields count from after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

export const wallNow = (): number => performance.timeOrigin + performance.now();
