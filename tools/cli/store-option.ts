// `--store URL`: the PostgreSQL database several server nodes share, for
// every command that opens the store (serve, devices). Without it the store
// is the SQLite file in --data.

import { isPostgresUrl } from '../../server/store/store.js';
import { UsageError } from './command.js';

/** parseArgs options; spread into a command's own. */
export const STORE_OPTIONS = {
  store: { type: 'string' },
} as const;

/** The --help lines for STORE_OPTIONS, aligned at column 24. */
export const STORE_HELP = `  --store URL           a PostgreSQL database shared by several server nodes,
                        postgres://USER:PASSWORD@HOST:PORT/DB (env
                        PRINTBRIDGE_STORE; default: the SQLite file in --data;
                        docs/cluster.md)`;

/** The store URL, or undefined for SQLite; anything but a postgres:// URL is a usage error. */
export function storeUrl(values: { store?: string | undefined }): string | undefined {
  const given = values.store ?? (process.env['PRINTBRIDGE_STORE'] || undefined);
  if (given === undefined) return undefined;
  if (!isPostgresUrl(given)) {
    const what = values.store !== undefined ? '--store' : 'PRINTBRIDGE_STORE';
    throw new UsageError(`${what} takes a PostgreSQL URL such as postgres://printbridge:PASSWORD@127.0.0.1:5432/printbridge (got ${JSON.stringify(given)}); for the SQLite file give its folder with --data`);
  }
  return given;
}
