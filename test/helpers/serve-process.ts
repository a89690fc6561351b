// A `printbridge serve` process of its own, for tests that run the bridge
// as a process too: a fresh data folder with the devices registered first
// (their tokens come back), the server on a free port, and an admin client.

import { addDevice } from '../../server/store/devices.js';
import { openStore } from '../../server/store/db.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import type { Proc, Processes } from './processes.js';

export interface ServeProcess {
  readonly proc: Proc;
  /** ws://127.0.0.1:PORT, as `bridge --server` takes it. */
  readonly url: string;
  /** The compat listener's URL, when `--compat-port` was given. */
  readonly compat: string | undefined;
  /** Each registered device's token. */
  readonly tokens: ReadonlyMap<string, string>;
  /** Connected with the admin token. */
  readonly client: Client;
}

export async function serveWithDevices(procs: Processes, dataDir: string, admin: string, devices: readonly string[], extra: readonly string[] = []): Promise<ServeProcess> {
  const store = openStore(dataDir);
  const tokens = new Map<string, string>();
  try {
    for (const id of devices) tokens.set(id, addDevice(store, id, []));
  } finally {
    store.close();
  }
  const proc = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', dataDir, '--json', ...extra], { env: { PRINTBRIDGE_ADMIN_TOKEN: admin } });
  const listening = await proc.waitForEvent<{ event: string; port: number; compat?: string }>('listening', { timeout: 20_000 });
  const url = `ws://127.0.0.1:${listening.port}`;
  const client = await connectClient(`${url}/v1/client`, admin);
  return { proc, url, compat: listening.compat, tokens, client };
}
