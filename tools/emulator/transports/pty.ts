// A serial printer on a pseudo-terminal. socat creates the PTY pair and a
// symlink at `path` to its slave side, which the bridge opens like any
// serial device; socat copies what the bridge writes to its stdout (read by
// the intake) and what we write to its stdin back to the bridge. When the
// intake stops reading, socat's stdout pipe fills, socat stops reading the
// PTY master, and the bridge's writes block: backpressure end to end.
//
// A PTY has no "connection": the bridge may open and close the slave at will
// and socat keeps running, so there is exactly one HostConnection per socat.
// vanish() stops socat (the bridge's open port hangs up; the symlink and the
// device node go away, as with a USB adapter pulled out); reappear() starts
// a new socat at the same path (usually a new /dev/pts/N behind it).

import { spawn } from 'node:child_process';
import { existsSync, readlinkSync, unlinkSync } from 'node:fs';
import type { HostConnection, Transport, TransportEvents } from './transport.js';

export interface PtyTransport extends Transport {
  /** The symlink the bridge opens. */
  readonly path: string;
  /** The /dev/pts/N it points to now. */
  readonly device: string;
}

const SOCAT_READY = /starting data transfer loop/;
const SOCAT_PTY = /PTY is (\S+)/;

interface Socat {
  readonly device: string;
  readonly conn: HostConnection;
  stop(): Promise<void>;
}

async function startSocat(path: string, events: TransportEvents): Promise<Socat> {
  if (existsSync(path)) throw new Error(`${path} already exists; remove it or pick another path`);
  // socat gets its own process group, so a signal to ours reaches only the
  // emulator, which then takes the link away before the PTY closes (stop()).
  // If we die unannounced, socat sees its stdin end and exits by itself.
  const socat = spawn('socat', ['-d', '-d', `PTY,raw,echo=0,link=${path}`, 'STDIO'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let exited = false;
  let stopping = false;
  let stderr = '';
  let device = '';

  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      stderr += chunk.toString();
      device = SOCAT_PTY.exec(stderr)?.[1] ?? device;
      if (SOCAT_READY.test(stderr)) {
        socat.stderr.off('data', onData);
        socat.off('exit', onExit);
        socat.off('error', onError);
        resolve();
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`socat exited (${code}) before the PTY was ready: ${stderr.trim()}`));
    const onError = (e: NodeJS.ErrnoException): void =>
      reject(new Error(e.code === 'ENOENT' ? 'socat is not installed (apt-get install socat)' : `cannot start socat: ${e.message}`));
    socat.stderr.on('data', onData);
    socat.once('exit', onExit);
    socat.once('error', onError);
  });

  // Keep draining socat's diagnostics so it never blocks on a full stderr pipe.
  socat.stderr.resume();
  socat.stdin.on('error', () => {});
  const exit = new Promise<void>((resolve) =>
    socat.once('exit', (code, signal) => {
      exited = true;
      if (!stopping) events.failed(new Error(`socat exited unexpectedly (${signal ?? code})`));
      resolve();
    }),
  );

  const conn: HostConnection = {
    source: socat.stdout,
    reply: (bytes) => {
      if (!exited) socat.stdin.write(bytes);
    },
    // There is no host link to cut on a PTY; a dropped "connection" is not
    // something a serial printer can do (vanish() is the cable pull).
    drop: () => {},
  };
  events.connected(conn);
  return {
    device,
    conn,
    stop: () => {
      stopping = true;
      // Unlink first: once the PTY closes its number is free for the next
      // PTY anyone opens, and a bridge retrying this path must find nothing
      // there rather than somebody else's printer.
      unlinkIfOurs(path, device);
      if (!exited) socat.kill('SIGTERM');
      return exit;
    },
  };
}

function unlinkIfOurs(path: string, device: string): void {
  try {
    if (device !== '' && readlinkSync(path) === device) unlinkSync(path);
  } catch {
    // Already gone, or not a link of ours: leave it.
  }
}

export async function openPty(path: string, events: TransportEvents): Promise<PtyTransport> {
  // socat's address syntax gives these characters meaning; refuse rather than
  // have socat open something else.
  if (/[,:!"'\\\s]/.test(path)) throw new Error(`PTY path must not contain , : ! quotes or spaces: ${path}`);
  let current: Socat | undefined = await startSocat(path, events);
  let device = current.device;

  return {
    path,
    get device() {
      return device;
    },
    async vanish() {
      const s = current;
      if (!s) return;
      current = undefined;
      await s.stop();
      events.disconnected(s.conn);
    },
    async reappear() {
      if (current) return;
      current = await startSocat(path, events);
      device = current.device;
    },
    async close() {
      const s = current;
      current = undefined;
      await s?.stop();
    },
  };
}
