// What the benches' processes share: the IPC shapes, the child side of it,
// and reading a process's CPU time and RSS from /proc. The parent side
// (starting a child) is children.ts, which the children never load.

import { readFileSync } from 'node:fs';

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

/**
 * Anonymous resident memory in bytes (RssAnon: the heaps and native
 * allocations). The pages the process maps from files (its code: node, the
 * SQLite library) are left out: they come in once, as code first runs, and
 * would be counted as the devices' when the first devices connect.
 */
export function rssBytes(pid: number): number {
  const m = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no RssAnon for ${pid}`);
  return Number(m[1]) * 1024;
}

export const wallNow = (): number => performance.timeOrigin + performance.now();
