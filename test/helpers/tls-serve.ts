// `printbridge serve` as a real process over TLS, with a throwaway CA: what
// tests of TLS clients (the CLI, the browser, a Weblink printer) start from.

import { join } from 'node:path';
import type { Json, Processes } from './processes.js';
import { createTestPki, type TestPki } from './tls-certs.js';

export interface TlsServe {
  readonly pki: TestPki;
  /** The server's data folder (for `devices add --data`). */
  readonly data: string;
  readonly port: number;
  /** https://localhost:PORT: the certificate's name. */
  readonly base: string;
  readonly adminToken: string;
}

/** Starts `serve` on 127.0.0.1, port 0, over TLS with a certificate from a new CA made in `dir`. */
export async function serveWithTls(procs: Processes, dir: string): Promise<TlsServe> {
  const pki = createTestPki(dir);
  const { cert, key } = pki.issue('server', 1);
  const data = join(dir, 'data');
  const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json', '--tls-cert', cert, '--tls-key', key], {
    env: { PRINTBRIDGE_ADMIN_TOKEN: undefined },
  });
  const info = await serve.waitForEvent<Json & { port: number; adminToken: string }>('listening');
  return { pki, data, port: info.port, base: `https://localhost:${info.port}`, adminToken: info.adminToken };
}
