// The Weblink printer emulator (`printbridge emulate --weblink`) as a real
// process, for tests of a Weblink server.
//
//   const procs = new Processes();  after(() => procs.killAll());
//   const printer = spawnWeblinkEmulator(procs, { url: `https://localhost:${port}/weblink`, serial: '50J000000001', password: 'pw', ca: pki.caCert });
//   await printer.waitForEvent({ event: 'connected', channel: 'main' });
//   printer.send('head open');                      // a fault on stdin
//   await printer.waitForEvent({ event: 'alert', condition: 'HEAD OPEN', state: 'SET' });

import assert from 'node:assert/strict';
import type { Proc, Processes } from './processes.js';
import type { TlsServe } from './tls-serve.js';

export interface WeblinkEmulatorOptions {
  /** https://HOST:PORT/PATH; use `localhost`, the test certificates' name. */
  url: string;
  serial: string;
  password: string;
  /** Path of the PEM CA the server's certificate chains to. */
  ca?: string | undefined;
  /** File the printed ZPL is appended to. */
  record?: string | undefined;
  /** Seconds before it dials again after losing main (default here 0.2, so tests are quick). */
  retryInterval?: number | undefined;
  /** ms per label (default 200). */
  printMs?: number | undefined;
  /** Any other options, e.g. ['--ping-interval', '1', '--max-connections', '3']. */
  extra?: readonly string[] | undefined;
}

export function weblinkEmulatorArgs(o: WeblinkEmulatorOptions): string[] {
  const args = ['emulate', '--weblink', o.url, '--serial', o.serial, '--password', o.password, '--retry-interval', String(o.retryInterval ?? 0.2)];
  if (o.ca !== undefined) args.push('--ca', o.ca);
  if (o.record !== undefined) args.push('--record', o.record);
  if (o.printMs !== undefined) args.push('--print-ms', String(o.printMs));
  return [...args, ...(o.extra ?? [])];
}

/** Starts the emulator; it dials at once. Stop it with proc.kill() or procs.killAll(). */
export function spawnWeblinkEmulator(procs: Processes, o: WeblinkEmulatorOptions): Proc {
  return procs.cli(weblinkEmulatorArgs(o), { name: `weblink printer ${o.serial}` });
}

/**
 * Registers `serial` as a Weblink printer on a served data folder (the real
 * `devices add --weblink`), starts the emulator with the password it printed
 * and waits until the server has configured its alerts: the printer is online.
 */
export async function dialInWeblinkPrinter(procs: Processes, served: TlsServe, serial: string): Promise<Proc> {
  const add = await procs.run(['devices', 'add', serial, '--weblink', '--data', served.data]);
  assert.equal(add.code, 0, add.stderr);
  const password = add.stdout.trim().split('\n').pop() ?? '';
  const printer = spawnWeblinkEmulator(procs, { url: `${served.base}/weblink`, serial, password, ca: served.pki.caCert });
  await printer.waitForEvent({ event: 'configure-alert' });
  return printer;
}
