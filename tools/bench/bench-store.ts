// What the benches share to set up a data dir: devices registered in one
// transaction (registering is setup, not what is measured), and the small
// sums they report.

import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';

export interface Creds {
  id: string;
  token: string;
}

/** Registers `n` devices named by `idOf`, tagged by `tagsOf`, and returns their tokens. */
export function registerDevices(dir: string, n: number, idOf: (i: number) => string, tagsOf: (i: number) => string[] = () => []): Creds[] {
  const store = openStore(dir);
  try {
    const creds: Creds[] = [];
    store.db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const id = idOf(i);
        creds.push({ id, token: addDevice(store, id, tagsOf(i)) });
      }
    })();
    return creds;
  } finally {
    store.close();
  }
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The admin token of the benches' servers. */
export const BENCH_ADMIN = 'bench-admin-token';
/** Device sockets one bench child process holds at most (each process gets its own open-file limit). */
export const DEVICES_PER_PROCESS = 5000;
