// A private CA and server certificates for TLS tests, made at test time with
// the openssl command (scripts/install-system-deps.sh installs it). RSA keys
// and plain X.509 v3 extensions, so that every TLS stack under test (Node,
// nginx, the Moddable SDK's) takes them. Certificates are for localhost and
// 127.0.0.1 and valid for two days.
//
//   const pki = createTestPki(dir);
//   const first = pki.issue('server', 1);      // { cert, key } paths
//   startServer({ tls: first, ... });  connect with { ca: readFileSync(pki.caCert) }

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface IssuedCert {
  /** PEM certificate. */
  cert: string;
  /** PEM private key. */
  key: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA certificate, PEM: what a client is given as its CA. */
  readonly caCert: string;
  /** The same in DER, as the firmware's caCert resource wants it. */
  readonly caCertDer: string;
  /** A server certificate for localhost and 127.0.0.1 signed by this CA, with this serial (a positive integer). */
  issue(name: string, serial: number): IssuedCert;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed (scripts/install-system-deps.sh installs openssl): ${err.stderr?.toString() || err.message}`);
  }
}

/** A CA in `dir` whose name is `name` (two PKIs with different names do not trust each other). */
export function createTestPki(dir: string, name = 'printbridge test CA'): TestPki {
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.pem');
  const caCertDer = join(dir, 'ca.der');
  openssl([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', caKey, '-out', caCert,
  ], dir);
  openssl(['x509', '-in', caCert, '-outform', 'DER', '-out', caCertDer], dir);
  const ext = join(dir, 'server-ext.cnf');
  writeFileSync(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '',
  ].join('\n'));
  return {
    dir,
    caCert,
    caCertDer,
    issue(certName, serial) {
      const key = join(dir, `${certName}.key`);
      const csr = join(dir, `${certName}.csr`);
      const cert = join(dir, `${certName}.pem`);
      openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', '/CN=localhost', '-keyout', key, '-out', csr], dir);
      openssl([
        'x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', String(serial),
        '-days', '2', '-sha256', '-extfile', ext, '-out', cert,
      ], dir);
      return { cert, key };
    },
  };
}
