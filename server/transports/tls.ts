// The server's own TLS: a certificate and key read from files (PEM), served
// on the same port as https and wss. The files are read again on reload
// (SIGHUP in `printbridge serve`), so a renewed certificate is taken without
// a restart or a dropped device; connections already open keep the
// certificate they started with. A pair that does not load (unreadable,
// not PEM, a key that does not match the certificate) is refused whole, and
// the server keeps serving the previous one.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** Paths of the PEM files. */
export interface TlsFiles {
  cert: string;
  key: string;
}

export interface TlsPair {
  readonly context: SecureContextOptions;
  /** For the log: which certificate is being served. */
  readonly serial: string;
  readonly subject: string;
  readonly validTo: string;
}

/** Reads and checks the pair; throws an Error that names the file and what is wrong with it. */
export function loadTlsPair(files: TlsFiles): TlsPair {
  const cert = read(files.cert, 'certificate');
  const key = read(files.key, 'key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new Error(`TLS certificate ${files.cert} is not a PEM certificate: ${reason(e)}`);
  }
  try {
    // The same check a handshake would make, done now: a key that does not
    // match its certificate fails here rather than on every connection.
    createSecureContext({ cert, key });
  } catch (e) {
    throw new Error(`TLS key ${files.key} does not go with certificate ${files.cert}: ${reason(e)}`);
  }
  return { context: { cert, key }, serial: x509.serialNumber, subject: x509.subject.replace(/\n/g, ', '), validTo: x509.validTo };
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read the TLS ${what} ${path}: ${reason(e)}`);
  }
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
