// An ESP32 board made of the XS engine (npm @agoric/xsnap) and real network
// traffic: the built device modules (core + Moddable host, unchanged) run in
// an XS Compartment whose Moddable modules are doubles (world/world.ts);
// this Node side does for real what they ask: a `ws` socket to the real
// server for every WebSocket client, a TCP connection to the real printer
// emulator for the UART, and the Wi-Fi access points a test switches on and
// off.
//
// Time: the board's clock is real time multiplied by `scale`, so timers keep
// their order and proportions while a 15 s ping interval passes in 1.5 s.
// Tests wait for conditions and never assert on durations.

import '@endo/init';
import { xsnap } from '@agoric/xsnap';
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir, type as osType } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import tmp from 'tmp';
import WebSocket from 'ws';
import type { Dialect } from '../../protocol/device-messages.js';
import { buildDevice, DIALECT_SET_MODULE, dialectSetSource } from '../../tools/build-device.js';

/** The ESP32 UART's TX FIFO; the double never lets the firmware write more at once. */
export const TX_FIFO = 128;

type Out = Record<string, unknown> & { k: string };
type Event = Record<string, unknown> & { k: string };

export interface BoardOptions {
  /** mc/config as the manifest would give it. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The dialect drivers the board's build carries, as its manifest would list them. */
  readonly dialects: readonly Dialect[];
  /** Preference contents at boot. */
  readonly saved?: Readonly<Record<string, string>>;
  /** TCP port of the printer emulator standing in for the UART's printer. */
  readonly printerPort: number;
  /** Access points in range at the start. */
  readonly accessPoints: readonly string[];
  readonly scale?: number;
  /** Real ms the "UART" takes before reporting room again: a slow printer. */
  readonly uartDelay?: number;
}

export interface PinEdge {
  readonly pin: number;
  readonly value: number;
  readonly at: number;
}

let world: Promise<string> | undefined;
let sources: Promise<Record<string, string>> | undefined;

function worldScript(): Promise<string> {
  world ??= build({
    entryPoints: [fileURLToPath(new URL('./world/world.ts', import.meta.url))],
    bundle: true, write: false, format: 'iife', target: 'es2022', platform: 'neutral',
  }).then((r) => r.outputFiles[0]?.text ?? '');
  return world;
}

/** The built device modules by name, built once per test process into a private folder. */
export function deviceSources(): Promise<Record<string, string>> {
  sources ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-xs-build-'));
    try {
      await buildDevice(dir);
      const out: Record<string, string> = {};
      const walk = (d: string): void => {
        for (const name of readdirSync(d)) {
          const p = join(d, name);
          if (statSync(p).isDirectory()) walk(p);
          // Native bindings (`@ "name"` syntax) only compile with the SDK's xsc; the "restart" double stands in.
          else if (name.endsWith('.js') && !p.includes('/native/')) out[relative(dir, p).replace(/\.js$/, '')] = readFileSync(p, 'utf8');
        }
      };
      walk(dir);
      return out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return sources;
}

type Worker = Awaited<ReturnType<typeof xsnap>>;

export class XsBoard {
  readonly traces: string[] = [];
  readonly fatals: string[] = [];
  readonly overruns: Out[] = [];
  readonly pins: PinEdge[] = [];
  readonly prefs: Out[] = [];
  /** Board times at which the firmware called the restart binding; each one reboots the board. */
  readonly restarts: number[] = [];
  /** Board times at which a fresh engine booted the firmware (the first start included). */
  readonly boots: number[] = [];
  /** Every socket the firmware opened, in order. */
  readonly socketLog: { id: number; url: string; headers: unknown }[] = [];
  uartBytes = 0;
  /** Largest server→device frame the board had to take (bytes on the wire, text or binary payload). */
  maxFrame = 0;
  readonly uartHash = createHash('sha256');
  private worker: Worker | undefined;
  private readonly aps: Set<string>;
  private readonly sockets = new Map<number, WebSocket>();
  private silenced = new Set<number>();
  private wifiMonitor: { id: number; ssid: string } | undefined;
  private readonly uarts = new Map<number, { socket: Socket; inFlight: number; push: (e: Event) => void }>();
  private pending: Event[] = [];
  private busy = false;
  private nextDue: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();
  private readonly scale: number;
  private closed = false;
  private readonly waiters = new Set<() => void>();
  /** Bumped at every reboot: callbacks of the old board's sockets and timers must not reach the new one. */
  private generation = 0;
  private rebootDue = false;

  constructor(private readonly opts: BoardOptions) {
    this.aps = new Set(opts.accessPoints);
    this.scale = opts.scale ?? 10;
  }

  /** Board time in ms (real time × scale). */
  now(): number {
    return (performance.now() - this.t0) * this.scale;
  }

  async start(): Promise<void> {
    await this.boot();
    await this.waitFor('the firmware to start', () => this.traces.some((t) => t.includes('starting')));
  }

  /** What the preference double holds for the firmware's domain: the build's saved values and every write since. */
  saved(): Record<string, string> {
    const out: Record<string, string> = { ...this.opts.saved };
    for (const p of this.prefs) if (p['domain'] === 'printbridge') out[String(p['key'])] = String(p['value']);
    return out;
  }

  /** The printer drives an input pin (a busy/CTS line) to `value`. */
  driveInput(pin: number, value: 0 | 1): void {
    this.push({ k: 'pin.input', pin, value });
  }

  private async boot(): Promise<void> {
    const worker = await xsnap({
      os: osType(), spawn, fs: { ...fs, ...fsp, tmpName: tmp.tmpName } as never, name: 'xs-board', stderr: 'inherit', stdout: 'inherit',
      meteringLimit: 0,
    });
    if (this.closed) {
      await worker.close().catch(() => worker.terminate());
      return;
    }
    this.worker = worker;
    await worker.evaluate(await worldScript());
    const sources = { ...(await deviceSources()), [DIALECT_SET_MODULE]: dialectSetSource(this.opts.dialects, 'the XS test board') };
    const boot = { sources, config: this.opts.config, saved: this.saved(), at: this.now() };
    this.boots.push(boot.at);
    await worker.evaluate(`pbBoot(${JSON.stringify(boot)})`);
    this.busy = false;
    await this.flush();
  }

  /**
   * The restart binding reset the chip: everything the old firmware had open
   * dies with it (the server and the printer see their connections drop),
   * and a fresh engine boots the same build with what Preference held.
   */
  private async reboot(): Promise<void> {
    this.busy = true;
    this.generation += 1;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
    this.nextDue = null;
    this.wifiMonitor = undefined;
    this.silenced.clear();
    for (const ws of this.sockets.values()) ws.terminate();
    this.sockets.clear();
    for (const u of this.uarts.values()) u.socket.destroy();
    this.uarts.clear();
    const old = this.worker;
    this.worker = undefined;
    await old?.close().catch(() => old.terminate());
    if (this.closed) return;
    try {
      await this.boot();
    } catch (e) {
      this.fatals.push(`reboot: ${String(e)}`);
      for (const check of [...this.waiters]) check();
    }
  }

  /** A push that only reaches the board of the generation that asked for it. */
  private pusher(): (e: Event) => void {
    const gen = this.generation;
    return (e) => {
      if (gen === this.generation) this.push(e);
    };
  }

  /** Resolves when `done()` holds, checked after everything the board does; rejects after `timeout` real ms with the trace. */
  waitFor(what: string, done: () => boolean, timeout = 20_000): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.fatals.length > 0) finish(new Error(`firmware threw while waiting for ${what}:\n${this.fatals.join('\n')}`));
        else if (done()) finish();
      };
      const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}; last trace:\n${this.traces.slice(-25).join('')}`)), timeout);
      const finish = (e?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (e) reject(e);
        else resolve();
      };
      this.waiters.add(check);
    });
  }

  tracesSince(mark: number): string[] {
    return this.traces.slice(mark);
  }

  /** Takes an access point out of range; the joined station hears a disconnect. */
  dropAccessPoint(ssid: string): void {
    this.aps.delete(ssid);
    if (this.wifiMonitor?.ssid === ssid) {
      const { id } = this.wifiMonitor;
      this.wifiMonitor = undefined;
      this.push({ k: 'wifi', id, message: 'disconnect' });
      // What rode on that network dies with it.
      for (const ws of this.sockets.values()) ws.terminate();
    }
  }

  restoreAccessPoint(ssid: string): void {
    this.aps.add(ssid);
  }

  /** The TCP connection to the server breaks under the board (a cable pulled upstream): the client sees a disconnect. */
  cutLink(): void {
    for (const ws of this.sockets.values()) ws.terminate();
  }

  /** The path to the server goes dead both ways, as when a NAT entry or a middlebox drops it: nothing is closed, nothing arrives. */
  silenceServer(): void {
    for (const id of this.sockets.keys()) this.silenced.add(id);
  }

  /** Live XS heap slots after a full collection, for leak checks (not a byte count). */
  async heapAfterGc(): Promise<number> {
    const r = await this.worker!.evaluate('gc()');
    return r.meterUsage.currentHeapCount ?? NaN;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const ws of this.sockets.values()) ws.terminate();
    for (const u of this.uarts.values()) u.socket.destroy();
    await this.worker?.close().catch(() => this.worker?.terminate());
  }

  private push(e: Event): void {
    if (this.closed) return;
    this.pending.push(e);
    setImmediate(() => void this.flush());
  }

  private async command(events: Event[]): Promise<{ meterUsage: { currentHeapCount: number | null; allocate: number | null } }> {
    const r = await this.worker!.issueCommand(new TextEncoder().encode(JSON.stringify({ now: this.now(), events })));
    const reply = JSON.parse(new TextDecoder().decode(r.reply)) as { out: Out[]; next: number | null };
    this.nextDue = reply.next;
    for (const o of reply.out) this.perform(o);
    return r;
  }

  private async flush(): Promise<void> {
    if (this.busy || this.closed || this.worker === undefined) return;
    this.busy = true;
    try {
      do {
        await this.command(this.pending.splice(0));
      } while (!this.closed && !this.rebootDue && (this.pending.length > 0 || (this.nextDue !== null && this.nextDue <= this.now())));
    } catch (e) {
      if (!this.closed) this.fatals.push(`xsnap: ${String(e)}`);
    } finally {
      this.busy = false;
    }
    for (const check of [...this.waiters]) check();
    if (this.rebootDue) {
      this.rebootDue = false;
      void this.reboot();
      return;
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed || this.nextDue === null) return;
    const wait = Math.max(0, (this.nextDue - this.now()) / this.scale);
    this.timer = setTimeout(() => void this.flush(), Math.ceil(wait));
  }

  private perform(o: Out): void {
    switch (o.k) {
      case 'trace':
        this.traces.push(String(o['text']));
        if (process.env['PB_XS_TRACE']) process.stderr.write(`xs: ${String(o['text'])}`);
        return;
      case 'fatal':
        this.fatals.push(String(o['text']));
        return;
      case 'ws.new':
        return this.openSocket(o);
      case 'ws.write': {
        const id = o['id'] as number;
        const ws = this.sockets.get(id);
        if (ws === undefined || this.silenced.has(id) || ws.readyState !== WebSocket.OPEN) return;
        if (typeof o['text'] === 'string') ws.send(o['text']);
        else ws.send(Buffer.from(o['bytes'] as number[]));
        return;
      }
      case 'ws.close': {
        // The SDK's client sends no close frame: the TCP connection just ends.
        const id = o['id'] as number;
        this.sockets.get(id)?.terminate();
        this.sockets.delete(id);
        return;
      }
      case 'serial.open':
        return this.openUart(o['port'] as number);
      case 'serial.write':
        return this.writeUart(o['port'] as number, Buffer.from(o['bytes'] as number[]));
      case 'serial.overrun':
        this.overruns.push(o);
        return;
      case 'pin':
        this.pins.push({ pin: o['pin'] as number, value: o['value'] as number, at: o['at'] as number });
        return;
      case 'wifi.join': {
        const push = this.pusher();
        const id = o['id'] as number;
        const ssid = String(o['ssid']);
        if (this.aps.has(ssid)) {
          this.wifiMonitor = { id, ssid };
          setTimeout(() => {
            push({ k: 'wifi', id, message: 'connect' });
            push({ k: 'wifi', id, message: 'gotIP' });
          }, 2);
        } else {
          setTimeout(() => push({ k: 'wifi', id, message: 'disconnect' }), 2);
        }
        return;
      }
      case 'pref.set':
        this.prefs.push(o);
        return;
      case 'restart':
        this.restarts.push(this.now());
        this.rebootDue = true;
        return;
      default:
        return;
    }
  }

  private openSocket(o: Out): void {
    const push = this.pusher();
    const id = o['id'] as number;
    const headers = (o['headers'] as string[] | undefined) ?? [];
    const h: Record<string, string> = {};
    for (let i = 0; i + 1 < headers.length; i += 2) h[String(headers[i]).toLowerCase()] = String(headers[i + 1]);
    const url = `ws://${String(o['host'])}:${String(o['port'])}${String(o['path'])}`;
    this.socketLog.push({ id, url, headers: h });
    if (!this.wifiMonitor) {
      // No network: the TCP connect fails.
      setTimeout(() => push({ k: 'ws.disconnect', id }), 2);
      return;
    }
    const ws = new WebSocket(url, { headers: h });
    this.sockets.set(id, ws);
    ws.on('open', () => {
      push({ k: 'ws.connect', id });
      push({ k: 'ws.handshake', id });
    });
    ws.on('message', (data: Buffer, isBinary) => {
      if (this.silenced.has(id)) return;
      this.maxFrame = Math.max(this.maxFrame, data.length);
      if (isBinary) push({ k: 'ws.binary', id, bytes: Array.from(data) });
      else push({ k: 'ws.text', id, text: data.toString('utf8') });
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      // The map may already hold the next board's socket of the same id.
      if (this.sockets.get(id) === ws) this.sockets.delete(id);
      if (!this.silenced.has(id)) push({ k: 'ws.disconnect', id });
    });
  }

  private openUart(port: number): void {
    const push = this.pusher();
    const socket = connect(this.opts.printerPort, '127.0.0.1');
    const uart = { socket, inFlight: 0, push };
    this.uarts.set(port, uart);
    socket.on('error', () => {});
    socket.on('data', (data: Buffer) => push({ k: 'serial.data', port, bytes: Array.from(data) }));
    socket.once('connect', () => push({ k: 'serial.writable', port, count: TX_FIFO }));
  }

  private writeUart(port: number, bytes: Buffer): void {
    const uart = this.uarts.get(port);
    if (uart === undefined) return;
    this.uartBytes += bytes.length;
    this.uartHash.update(bytes);
    uart.inFlight += 1;
    uart.socket.write(bytes, () => {
      uart.inFlight -= 1;
      if (uart.inFlight > 0) return;
      // The FIFO drained onto the wire: the driver reports room again.
      const report = (): void => uart.push({ k: 'serial.writable', port, count: TX_FIFO });
      if (this.opts.uartDelay) setTimeout(report, this.opts.uartDelay);
      else report();
    });
  }
}
