// A private CUPS scheduler (Debian's cupsd, scripts/install-system-deps.sh
// part `cups`) for the tests of the bridge's `cups:QUEUE` ports:
//
//   const cups = await startCups(procs, dir);
//   await cups.addRawQueue('pos', `socket://127.0.0.1:${emulatorPort}`);
//   bridge env: { CUPS_SERVER: cups.server }
//
// cupsd runs in the foreground (-f) with its own cupsd.conf and
// cups-files.conf in `dir`: its own ServerRoot, spool, cache, state, temp
// and log folders, listening on 127.0.0.1 on a free port only. Nothing under
// /etc/cups or /run/cups is read or written, and the system's scheduler (if
// any) is never touched. Queues are made with the real lpadmin, pointed at
// this scheduler with -h.
//
// Its ServerBin is its own too: links to the system's programs, but no
// backend that probes the real network (snmp, dnssd…), so a test's
// CUPS-Get-Devices finds nothing but what its stand-in backends announce:
//
//   const cups = await startCups(procs, dir, { backends: { snmp: script } });

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../tools/free-port.js';
import type { Proc, Processes } from './processes.js';
import { until } from './until.js';

export const CUPSD = '/usr/sbin/cupsd';
export const LPADMIN = '/usr/sbin/lpadmin';
/** The system's ServerBin, whose programs the private one links to. */
export const SYSTEM_SERVER_BIN = '/usr/lib/cups';
/** Backends that look for printers on the real network when CUPS-Get-Devices runs them: left out unless a test stands in for one. */
const NETWORK_PROBES = new Set(['snmp', 'dnssd', 'mdns', 'driverless', 'driverless-fax']);

export interface CupsOptions {
  /** Backends of the test's own, name → shell script, in place of (or besides) the system's. */
  backends?: Record<string, string>;
  /** IPP operations kept for CUPS's administrators, as CUPS's default policy keeps them: asked without a password, cupsd answers HTTP 401. */
  adminOnly?: string[];
}

export interface Cups {
  proc: Proc;
  port: number;
  /** 127.0.0.1:PORT, as CUPS_SERVER takes it. */
  server: string;
  /** A raw queue (no filter, no PPD) whose device is `deviceUri`, enabled and accepting jobs; extra lpadmin options after it. */
  addRawQueue(name: string, deviceUri: string, ...options: string[]): Promise<void>;
  /** Runs a cups-client command (lp, lpstat, cancel, cupsdisable…) against this scheduler; throws with its stderr when it fails. */
  client(command: string, args: string[]): string;
  /** cupsd's error log so far, for failure messages. */
  log(): string;
  /** Stops the scheduler (SIGTERM), as a restart or a crash would. */
  stop(): Promise<void>;
  /** Starts it again on the same port and configuration: its queues and job history are still there. */
  start(): Promise<void>;
  /** Puts a backend script in place (atomically): cupsd runs the new one at its next use. */
  setBackend(name: string, script: string): void;
}

export async function startCups(procs: Processes, dir: string, opts: CupsOptions = {}): Promise<Cups> {
  const root = join(dir, 'cups');
  const folders = ['etc', 'etc/ppd', 'spool', 'spool/tmp', 'cache', 'state', 'log', 'bin/backend'];
  for (const f of folders) mkdirSync(join(root, f), { recursive: true });
  const serverBin = join(root, 'bin');
  for (const sub of readdirSync(SYSTEM_SERVER_BIN)) {
    if (sub !== 'backend') symlinkSync(join(SYSTEM_SERVER_BIN, sub), join(serverBin, sub));
  }
  for (const name of readdirSync(join(SYSTEM_SERVER_BIN, 'backend'))) {
    if (!NETWORK_PROBES.has(name)) symlinkSync(join(SYSTEM_SERVER_BIN, 'backend', name), join(serverBin, 'backend', name));
  }
  // cupsd runs a program only when it and its folder belong to root and no one else may write them.
  chmodSync(serverBin, 0o755);
  chmodSync(join(serverBin, 'backend'), 0o755);
  const setBackend = (name: string, script: string): void => {
    const file = join(serverBin, 'backend', name);
    const next = join(serverBin, 'backend', `.${name}.new`);
    writeFileSync(next, script, { mode: 0o755 });
    // Readable and runnable by all: cupsd runs it as its unprivileged user.
    chmodSync(next, 0o755);
    renameSync(next, file);
  };
  for (const [name, script] of Object.entries(opts.backends ?? {})) setBackend(name, script);
  // Run as root, cupsd starts its backends as user lp: they must reach the
  // job's files through these folders and write their temp files.
  chmodSync(dir, 0o711);
  chmodSync(root, 0o755);
  chmodSync(join(root, 'spool'), 0o711);
  chmodSync(join(root, 'spool/tmp'), 0o1777);
  const port = await freePort();
  const errorLog = join(root, 'log/error_log');
  writeFileSync(join(root, 'etc/cups-files.conf'), [
    `ServerRoot ${join(root, 'etc')}`,
    `RequestRoot ${join(root, 'spool')}`,
    `TempDir ${join(root, 'spool/tmp')}`,
    `CacheDir ${join(root, 'cache')}`,
    `StateDir ${join(root, 'state')}`,
    `ErrorLog ${errorLog}`,
    `AccessLog ${join(root, 'log/access_log')}`,
    `PageLog ${join(root, 'log/page_log')}`,
    // Its printcap goes here, not to /run/cups.
    `Printcap ${join(root, 'printcap')}`,
    `ServerBin ${serverBin}`,
    'FileDevice No',
    '',
  ].join('\n'));
  writeFileSync(join(root, 'etc/cupsd.conf'), [
    'LogLevel info',
    `Listen 127.0.0.1:${port}`,
    'Browsing No',
    'WebInterface No',
    'DefaultAuthType None',
    // The test's jobs are followed to their end and must still be there to ask about.
    'PreserveJobHistory Yes',
    '<Location />',
    '  Order allow,deny',
    '  Allow all',
    '</Location>',
    '<Policy default>',
    ...(opts.adminOnly === undefined || opts.adminOnly.length === 0 ? [] : [
      `  <Limit ${opts.adminOnly.join(' ')}>`,
      '    AuthType Basic',
      '    Require user @SYSTEM',
      '    Order deny,allow',
      '  </Limit>',
    ]),
    '  <Limit All>',
    '    Order deny,allow',
    '  </Limit>',
    '</Policy>',
    '',
  ].join('\n'));
  const spawnCupsd = (): Proc => procs.spawn(CUPSD, ['-f', '-c', join(root, 'etc/cupsd.conf'), '-s', join(root, 'etc/cups-files.conf')], { name: 'cupsd' });
  const log = (): string => {
    try {
      return readFileSync(errorLog, 'utf8');
    } catch {
      return '';
    }
  };
  const listening = (proc: Proc): Promise<boolean> => until(`cupsd listening on 127.0.0.1:${port}`, async () => {
    if (proc.exit !== undefined) throw new Error(`cupsd exited (${proc.exit.code ?? proc.exit.signal}): ${proc.stderr}${log()}`);
    return connects(port);
  });
  let proc = spawnCupsd();
  await listening(proc);
  const server = `127.0.0.1:${port}`;
  const client = (command: string, args: string[]): string => {
    const r = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, CUPS_SERVER: server } });
    if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.error?.message ?? ''}`);
    return r.stdout;
  };
  return {
    get proc() {
      return proc;
    },
    port,
    server,
    async addRawQueue(name, deviceUri, ...options) {
      client(LPADMIN, ['-h', server, '-p', name, '-E', '-v', deviceUri, '-m', 'raw', ...options]);
    },
    client,
    log,
    async stop() {
      await proc.kill();
    },
    async start() {
      proc = spawnCupsd();
      await listening(proc);
    },
    setBackend,
  };
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
