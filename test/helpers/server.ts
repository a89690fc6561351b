// A real server for tests: its own temporary data dir, 127.0.0.1 on a free
// port, log lines captured instead of printed. `close()` stops the server and
// removes the directory; `restart()` starts a new server on the same data dir
// (the way a crash-and-restart or an upgrade looks to the store).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '../../server/server.js';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown> | undefined;
}

export interface TestServer {
  server: RunningServer;
  dataDir: string;
  logs: LogEntry[];
  /** ws://127.0.0.1:<port><path> (wss:// when the server has TLS) */
  wsUrl(path: string): string;
  /** Closes this server and starts another on the same data dir and options (plus `changes`). */
  restart(changes?: ServerOptions): Promise<TestServer>;
  /** Closes the server and deletes the data dir. */
  close(): Promise<void>;
}

export function tempDir(prefix = 'printbridge-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestServer(opts: ServerOptions = {}, logs: LogEntry[] = []): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const options: ServerOptions = {
    adminToken: 'test-admin-token',
    ...opts,
    host: '127.0.0.1',
    port: 0,
    dataDir,
    log: (level, msg, fields) => {
      logs.push({ level, msg, fields });
      opts.log?.(level, msg, fields);
    },
  };
  const server = await startServer(options);
  return {
    server,
    dataDir,
    logs,
    wsUrl: (path) => `${server.url.replace(/^http/, 'ws')}${path}`,
    async restart(changes = {}) {
      await server.close();
      return startTestServer({ ...opts, ...changes, dataDir }, logs);
    },
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
