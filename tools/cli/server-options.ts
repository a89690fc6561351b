// What every command that talks to a running server shares: the --server and
// --token options (with their environment fallbacks and help lines), DEV/PORT
// checking, and a connection that is closed whatever the command's outcome.

import { connectClient, type Client, type ClientOptions } from '../client/client.js';
import { UsageError } from './command.js';
import { urlOption } from './url-option.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** parseArgs options; spread into a command's own. */
export const SERVER_OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
} as const;

/** The --help lines for SERVER_OPTIONS, aligned with the other option lines at column 24. */
export const SERVER_HELP = `  --server URL          server address, http://H:P or https://H:P (env
                        PRINTBRIDGE_SERVER, default ${DEFAULT_SERVER}); for
                        a private CA set NODE_EXTRA_CA_CERTS=CA.pem
  --token T             client token (env PRINTBRIDGE_CLIENT_TOKEN, then
                        PRINTBRIDGE_ADMIN_TOKEN)`;

export interface ServerValues {
  server?: string | undefined;
  token?: string | undefined;
}

/** The ws:// URL of /v1/client; a malformed --server (or PRINTBRIDGE_SERVER) is a usage error that says what would work. */
export function serverUrl(values: ServerValues): string {
  const fromEnv = values.server === undefined ? process.env['PRINTBRIDGE_SERVER'] : undefined;
  const what = values.server !== undefined ? '--server' : fromEnv !== undefined ? 'PRINTBRIDGE_SERVER' : 'the default server';
  const u = urlOption(values.server ?? fromEnv ?? DEFAULT_SERVER, { what, schemes: ['http', 'https', 'ws', 'wss'] });
  return clientEndpoint(u);
}

/** ws://host:port/v1/client from http(s)://host:port[/prefix]; a ws(s):// URL is kept, /v1/client added if it has no path. */
function clientEndpoint(u: URL): string {
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (!/\/v1\/client\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/client`;
  } else if (u.pathname === '/') u.pathname = '/v1/client';
  return u.toString();
}

/** The token from --token, PRINTBRIDGE_CLIENT_TOKEN or PRINTBRIDGE_ADMIN_TOKEN, or undefined. */
export function optionalToken(values: ServerValues): string | undefined {
  const env = process.env;
  return values.token ?? (env['PRINTBRIDGE_CLIENT_TOKEN'] || env['PRINTBRIDGE_ADMIN_TOKEN'] || undefined);
}

export function clientToken(values: ServerValues): string {
  const token = optionalToken(values);
  if (token === undefined || token === '') {
    throw new UsageError("--token (or PRINTBRIDGE_CLIENT_TOKEN) is required: the admin token is in the server's data directory, file admin-token, or 'printbridge tokens issue' makes one");
  }
  return token;
}

/** Checks options first (usage errors before any connection), then connects, runs `use`, and closes. */
export async function withClient<T>(values: ServerValues, use: (client: Client) => Promise<T>, opts?: ClientOptions): Promise<T> {
  const token = clientToken(values);
  const url = serverUrl(values);
  const client = await connectClient(url, token, opts);
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

const PRINTER_ID = /^[^/\s]+\/\d+$/;

/** A printer id, DEVICE/PORT; anything else is a usage error naming `what` (an option or 'the printer'). */
export function printerId(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`${what} is required (DEVICE/PORT, e.g. shop-1/0)`);
  if (!PRINTER_ID.test(value)) throw new UsageError(`${what} must be DEVICE/PORT, e.g. shop-1/0, not ${JSON.stringify(value)}`);
  return value;
}

/** Refuses positionals beyond the `n` a command takes. */
export function noMore(positionals: string[], n: number): void {
  const extra = positionals[n];
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
}
