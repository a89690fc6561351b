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

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
