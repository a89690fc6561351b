// A whole printbridge for the compatibility tests, every part a real process:
// `serve` (with --compat-port), a registered device, a printer emulator on
// TCP and a `bridge` between them. Plus a JSON WebSocket client that keeps
// every message it gets, so a test can wait for the one it expects.

import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { Json, Proc, Processes } from '../helpers/processes.js';
import { tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';

export interface Shop {
  port: number;
  compatPort: number;
  admin: string;
  emu: TcpEmulator;
  bridge: Proc;
  serve: Proc;
  dir: string;
  cleanup(): void;
}

export interface ShopOptions {
  dialect: 'escpos' | 'tspl' | 'gcode';
  /** The printer's name as the bridge configures it (--name). */
  name?: string;
  emulatorArgs?: string[];
}

export async function startShop(procs: Processes, opts: ShopOptions): Promise<Shop> {
  const { dir, cleanup } = tempDir('printbridge-compat-');
  const data = join(dir, 'data');
  const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json', '--compat-port', '0'], {
    env: { PRINTBRIDGE_ADMIN_TOKEN: undefined },
  });
  const info = await serve.waitForEvent<Json & { port: number; adminToken: string; compatPort: number }>('listening');
  const add = await procs.run(['devices', 'add', 'shop-1', '--data', data]);
  if (add.code !== 0) throw new Error(`devices add failed: ${add.stderr}`);
  const emu = await tcpEmulator(procs, dir, opts.emulatorArgs ?? [], opts.dialect);
  // A short status poll so that printer trouble reaches the server soon; no assertion depends on its timing.
  const bridge = procs.cli([
    'bridge', '--server', `ws://127.0.0.1:${info.port}`, '--id', 'shop-1', '--token', add.stdout.trim(),
    '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', opts.dialect, '--poll', '200',
    ...(opts.name === undefined ? [] : ['--name', opts.name]),
  ]);
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  return { port: info.port, compatPort: info.compatPort, admin: info.adminToken, emu, bridge, serve, dir, cleanup };
}

export type Msg = Record<string, unknown>;

/** A WebSocket client that records every JSON message and the close. */
export class JsonClient {
  readonly messages: Msg[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as Msg);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.wake();
    });
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<JsonClient> {
    const ws = new WebSocket(url, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new JsonClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  /** The first message from index `from` on that matches; waits for it. */
  next(match: (m: Msg) => boolean, what: string, from = 0, timeout = 20_000): Promise<Msg> {
    return this.waitFor(what, timeout, () => this.messages.slice(from).find(match));
  }

  waitClosed(timeout = 20_000): Promise<{ code: number; reason: string }> {
    return this.waitFor('the close', timeout, () => this.closed);
  }

  close(): void {
    this.ws.close();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The timeout only ends a stuck test with what arrived so far; it asserts nothing about speed. */
  private waitFor<T>(what: string, timeout: number, probe: () => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = probe();
        if (found === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got:\n${this.messages.map((m) => JSON.stringify(m)).join('\n')}`));
      }, timeout);
      this.waiters.add(check);
      check();
    });
  }
}
