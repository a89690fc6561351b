// A TCP port on 127.0.0.1 where nothing listens: it was free a moment ago.
// For a process that must be given its port (PostgreSQL, haproxy, a server
// started again on a port it must keep); a listener of our own binds port 0.

import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
