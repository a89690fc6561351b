// `printbridge devices add|list|remove`: manage registered bridges directly
// in the server's SQLite file, so it works whether or not the server runs.

import { resolve } from 'node:path';
import type { Store } from '../../server/store/db.js';
import { EXIT_FAILURE, EXIT_OK, note, parse, UsageError, type Command } from './command.js';

const HELP = `Usage:
  printbridge devices add <id> [--tag T]... [--data DIR]
  printbridge devices list [--json] [--data DIR]
  printbridge devices remove <id> [--data DIR]

Registers bridges with the server. 'add' prints the new device token alone on
stdout, so a script can capture it:  T=$(printbridge devices add shop-1)
The token is shown only once; only its hash is stored.

Options:
  --tag T      a tag for grouping devices (repeatable)
  --json       'list' prints a JSON array instead of a table
  --data DIR   the server's data directory (env PRINTBRIDGE_DATA, default ./data)
  -h, --help   show this help`;

async function withStore<T>(dataDir: string, use: (store: Store) => T): Promise<T> {
  const { openStore } = await import('../../server/store/db.js');
  const store = openStore(dataDir);
  try {
    return use(store);
  } finally {
    store.close();
  }
}

function when(ms: number | undefined): string {
  return ms === undefined ? 'never' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

export const devices: Command = {
  name: 'devices',
  summary: 'add, list or remove registered bridges',
  help: HELP,
  async run(args) {
    const { addDevice, isValidDeviceId, listDevices, removeDevice } = await import('../../server/store/devices.js');
    const { PrintbridgeError } = await import('../../server/errors.js');
    const { values, positionals } = parse(args, {
      tag: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      data: { type: 'string' },
    }, true);
    const [action, id, ...extra] = positionals;
    const dataDir = resolve(values.data ?? process.env['PRINTBRIDGE_DATA'] ?? './data');
    const needId = (): string => {
      if (id === undefined) throw new UsageError(`devices ${action} needs a device id`);
      if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
      return id;
    };
    if (action !== 'add' && values.tag) throw new UsageError('--tag only applies to add');
    if (action !== 'list' && values.json) throw new UsageError('--json only applies to list');

    switch (action) {
      case 'add': {
        const deviceId = needId();
        if (!isValidDeviceId(deviceId)) throw new UsageError(`device id must be 1-64 letters, digits, dot, dash or underscore: ${JSON.stringify(deviceId)}`);
        const token = await withStore(dataDir, (store) => {
          try {
            return addDevice(store, deviceId, values.tag ?? []);
          } catch (e) {
            // A malformed tag is the user's input, so it is a usage error, not a failure.
            if (e instanceof PrintbridgeError && e.code === 'BAD_FIELD') throw new UsageError(e.message);
            throw e;
          }
        });
        process.stdout.write(`${token}\n`);
        if (process.stderr.isTTY) note(`device ${deviceId} added; keep the token, it cannot be shown again`);
        return EXIT_OK;
      }
      case 'list': {
        if (id !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(id)}`);
        const list = await withStore(dataDir, listDevices);
        if (values.json) {
          process.stdout.write(`${JSON.stringify(list)}\n`);
          return EXIT_OK;
        }
        if (list.length === 0) {
          note(`no devices in ${dataDir}; add one with 'printbridge devices add <id>'`);
          return EXIT_OK;
        }
        const rows = list.map((d) => [d.id, d.tags.join(',') || '-', d.ports.map((p) => `${p.port}:${p.dialect}`).join(' ') || '-', when(d.lastSeen)]);
        const head = ['ID', 'TAGS', 'PORTS', 'LAST SEEN'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const row of [head, ...rows]) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
        return EXIT_OK;
      }
      case 'remove': {
        const deviceId = needId();
        if (!(await withStore(dataDir, (store) => removeDevice(store, deviceId)))) {
          note(`printbridge devices: no device ${JSON.stringify(deviceId)} in ${dataDir}`);
          return EXIT_FAILURE;
        }
        note(`device ${deviceId} removed`);
        return EXIT_OK;
      }
      case undefined:
        throw new UsageError('say add, list or remove');
      default:
        throw new UsageError(`unknown action ${JSON.stringify(action)}; use add, list or remove`);
    }
  },
};
