// `printbridge devices add|list|remove`: manage registered bridges. 'add' and
// 'list' use the server's store directly (SQLite or PostgreSQL), so they work whether or not
// the server runs. 'remove' goes through the running server (device.remove),
// which also closes the device's connection and fails its unfinished jobs;
// only when no server answers, or with --offline, does it edit the file.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Store } from '../../server/store/db.js';
import { ClientError, connectClient, type Client } from '../client/client.js';
import { EXIT_OK, note, parse, pickAction, UsageError, type Command } from './command.js';
import { Explained } from './error-line.js';
import { STORE_HELP, STORE_OPTIONS, storeUrl } from './store-option.js';
import { optionalToken, SERVER_HELP, SERVER_OPTIONS, serverUrl, type ServerValues } from './server-options.js';

const HELP = `Usage:
  printbridge devices add <id> [--tag T]... [--data DIR | --store URL]
  printbridge devices add <serial> --weblink [--tag T]... [--data DIR | --store URL]
  printbridge devices list [--json] [--data DIR | --store URL]
  printbridge devices remove <id> [--server URL] [--token T] [--data DIR | --store URL]
  printbridge devices remove <id> --offline [--data DIR | --store URL]

Registers bridges with the server. 'add' prints the new device token alone on
stdout, so a script can capture it:  T=$(printbridge devices add shop-1)
The token is shown only once; only its hash is stored.

--weblink registers a Zebra Link-OS printer that dials in over Weblink, by
its serial number: it is printer <serial>/0 (zpl), and what 'add' prints on
its last line is the printer's password (Basic user = serial), for
weblink.ip.conn1.authentication.add "<server host> <serial> <password>".

'add' and 'list' use the store (--data, or --store) directly, so they work
whether or not the server runs.

'remove' asks the running server (device.remove, admin token): the device's
token stops working at once, its open connection is closed with 4006 REVOKED
(a bridge then stops reconnecting) and its unfinished jobs fail with
DEVICE_REMOVED. The token is --token, PRINTBRIDGE_CLIENT_TOKEN,
PRINTBRIDGE_ADMIN_TOKEN or else the admin-token file in --data. When no
server answers at --server, or with --offline, the device is removed from the
store in --data directly and its unfinished jobs are marked failed there; a
server running on that store meanwhile notices within a second, sends the
device no more job data and closes its connection with 4006.
Exit status: 0 done, 1 failed (UNKNOWN_DEVICE, FORBIDDEN, no such device…),
2 usage error.

Options:
  --tag T               add: a tag for grouping devices (repeatable)
  --weblink             add: a Link-OS printer on Weblink (tag weblink)
  --json                list: print a JSON array instead of a table
  --data DIR            the server's data directory (env PRINTBRIDGE_DATA,
                        default ./data)
${STORE_HELP}
${SERVER_HELP}
  --offline             remove: edit the store only, without asking a server
  -h, --help            show this help`;

/** Connection failures that mean no server is there to ask; anything else is the server's answer. */
const NO_SERVER = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT', 'ECONNRESET', 'CONNECT']);

async function withStore<T>(dataDir: string, url: string | undefined, use: (store: Store) => T): Promise<T> {
  const { openStore } = await import('../../server/store/db.js');
  const store = openStore(dataDir, url);
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
    const { addDevice, isValidDeviceId, listDevices, removeDevice, WEBLINK_TAG } = await import('../../server/store/devices.js');
    const { failDeviceJobs } = await import('../../server/store/jobs.js');
    const { PrintbridgeError } = await import('../../server/errors.js');
    const { values, positionals } = parse(args, {
      ...SERVER_OPTIONS,
      tag: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      data: { type: 'string' },
      ...STORE_OPTIONS,
      offline: { type: 'boolean' },
      weblink: { type: 'boolean' },
    }, true);
    const [given, id, ...extra] = positionals;
    const action = pickAction(given, ['add', 'list', 'remove']);
    const dataDir = resolve(values.data ?? process.env['PRINTBRIDGE_DATA'] ?? './data');
    const url = storeUrl(values);
    const needId = (): string => {
      if (id === undefined) throw new UsageError(`devices ${action} needs a device id`);
      if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
      return id;
    };
    if (action !== 'add' && values.tag) throw new UsageError('--tag only applies to add');
    if (action !== 'add' && values.weblink) throw new UsageError('--weblink only applies to add');
    if (action !== 'list' && values.json) throw new UsageError('--json only applies to list');
    for (const flag of ['server', 'token', 'offline'] as const) {
      if (action !== 'remove' && values[flag] !== undefined) throw new UsageError(`--${flag} only applies to remove`);
    }
    if (values.offline && (values.server !== undefined || values.token !== undefined)) throw new UsageError('--offline asks no server; leave out --server and --token');

    switch (action) {
      case 'add': {
        const deviceId = needId();
        if (!isValidDeviceId(deviceId)) throw new UsageError(`device id must be 1-64 letters, digits, dot, dash or underscore: ${JSON.stringify(deviceId)}`);
        const token = await withStore(dataDir, url, (store) => {
          try {
            return addDevice(store, deviceId, values.weblink === true ? [WEBLINK_TAG, ...(values.tag ?? [])] : values.tag ?? []);
          } catch (e) {
            // A malformed tag is the user's input, so it is a usage error, not a failure.
            if (e instanceof PrintbridgeError && e.code === 'BAD_FIELD') throw new UsageError(e.message);
            throw e;
          }
        });
        process.stdout.write(`${token}\n`);
        if (process.stderr.isTTY) {
          note(values.weblink === true
            ? `Weblink printer ${deviceId} added as ${deviceId}/0; its password (Basic user ${deviceId}) is above, it cannot be shown again`
            : `device ${deviceId} added; keep the token, it cannot be shown again`);
        }
        return EXIT_OK;
      }
      case 'list': {
        if (id !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(id)}`);
        const list = await withStore(dataDir, url, listDevices);
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
        if (!values.offline) {
          const client = await serverFor(values, dataDir);
          if (client !== undefined) {
            try {
              const result = await client.request('device.remove', { device: deviceId });
              note(`device ${deviceId} removed${result.closed > 0 ? `; its connection was closed (${result.closed})` : ''}`);
              return EXIT_OK;
            } finally {
              await client.close();
            }
          }
        }
        const removed = await withStore(dataDir, url, (store) =>
          store.db.transaction(() => (removeDevice(store, deviceId) ? failDeviceJobs(store, deviceId, Date.now()) : undefined))(),
        );
        if (removed === undefined) throw new ClientError('UNKNOWN_DEVICE', `no such device: ${deviceId} in ${dataDir}`);
        note(`device ${deviceId} removed from ${dataDir}${removed > 0 ? `; ${removed} unfinished job(s) failed` : ''}`);
        return EXIT_OK;
      }
    }
  },
};

/**
 * A connection to the running server, or undefined when none answers (then
 * the caller edits the store). The token falls back to the admin-token file
 * the server keeps in its data directory.
 */
async function serverFor(values: ServerValues, dataDir: string): Promise<Client | undefined> {
  const url = serverUrl(values);
  const { adminTokenPath } = await import('../../server/admin-token.js');
  const file = adminTokenPath(dataDir);
  const token = optionalToken(values) ?? readToken(file);
  try {
    return await connectClient(url, token ?? '');
  } catch (e) {
    if (!(e instanceof ClientError)) throw e;
    if (NO_SERVER.has(e.code)) {
      note(`printbridge devices: no server answered at ${url} (${e.code}); editing the store in ${dataDir}`);
      return undefined;
    }
    if (e.code === 'UNAUTHORIZED' && token === undefined) {
      throw new Explained(e.code, `the server at ${url} needs the admin token (--token, PRINTBRIDGE_ADMIN_TOKEN or ${file}); --offline edits the store alone`);
    }
    throw e;
  }
}

function readToken(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
