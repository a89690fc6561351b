// The Weblink printer emulator (`printbridge emulate --weblink`) as a real
// process, for tests of a Weblink server.
//
//   const procs = new Processes();  after(() => procs.killAll());
//   const printer = spawnWeblinkEmulator(procs, { url: `https://localhost:${port}/weblink`, serial: '50J000000001', password: 'pw', ca: pki.caCert });
//   await printer.waitForEvent({ event: 'connected', channel: 'main' });
//   printer.send('head open');                      // a fault on stdin
//   await printer.waitForEvent({ event: 'alert', condition: 'HEAD OPEN', state: 'SET' });

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import type { Proc, Processes } from './processes.js';
import type { TlsServe } from './tls-serve.js';
import { until } from './until.js';

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
  await printerOnline(served.base, readFileSync(served.pki.caCert), served.adminToken, serial);
  return printer;
}

/**
 * Waits until the server lists the printer online. Its configure_alert comes
 * first: a printer's first hello is welcomed once its ports are written.
 */
export async function printerOnline(base: string, ca: Buffer, adminToken: string, serial: string): Promise<void> {
  await until(`${serial} online`, async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsGet(`${base}/api/v1/devices`, { ca, headers: { authorization: `Bearer ${adminToken}` } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
    });
    const devices = JSON.parse(body) as { id: string; online: boolean }[];
    return devices.some((d) => d.id === serial && d.online);
  });
}
