// Every connection is a file descriptor. Node raises its soft open-file
// limit to the hard one at start, so the hard limit is what bounds the
// devices a server can hold: below its own connection limits, devices past
// it are refused with EMFILE in the accept loop, which says nothing useful.
// Said once at start instead, with what to raise.

import { readFileSync } from 'node:fs';

/** The process's open-file limit, on Linux; undefined where it cannot be read. */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limitsFile, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined || soft === 'unlimited') return undefined;
  const n = Number(soft);
  return Number.isInteger(n) ? n : undefined;
}

/** Descriptors the server uses besides connections: the store, its WAL, logs, listeners. */
export const FILES_BESIDES_CONNECTIONS = 64;

/** The descriptors that connection limits can reach: every device and client connected at once. */
export function filesNeeded(limits: { maxDevices: number; maxClients: number }): number {
  return limits.maxDevices + limits.maxClients + FILES_BESIDES_CONNECTIONS;
}
