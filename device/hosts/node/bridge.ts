// The production Node host for the device core: a bridge on a PC or a
// Raspberry Pi. It owns everything the core must not: the clock
// (performance.now, monotonic) and the timers (setTimeout) that the shared
// run loop (device/core/host-loop.ts) is given, the WebSocket, the printer
// ports and the settings file. The loop handles events one at a time, keeps
// the one timer armed for the core's deadline, and keeps exceptions in.
//
// A `restart` effect is a soft reboot: the socket is dropped, a fresh core is
// built from the options plus the saved settings, and it is told the
// network is up and what each port currently looks like. Printer ports stay
// open across it, as a UART would across an ESP32 reset.
//
// The server may ask which printers this computer can reach and add one
// (printer-admin.ts): an added printer is opened at once, told to the core
// (which says hello again), and kept in the settings file, after the
// printers of the options, with the next port number.

import { createDevice } from '../../core/device.js';
import { HostLoop, type Scheduler } from '../../core/host-loop.js';
import { ALL_DIALECTS } from '../../core/dialects/all.js';
import type { DeviceConfig, DeviceCore, DeviceEffect, DeviceEvent, DeviceSnapshot, ErrorCode, FlowControl, LinkTimings, LogLevel, PortConfig } from '../../core/types.js';
import { PORTS_MAX, type Dialect, type LedPattern } from '../../../protocol/device-messages.js';
import type { Obj } from '../../../protocol/fields.js';
import type { AddAnswer, ScanAnswer } from '../../../protocol/printer-scan.js';
import { DeviceSocket, type SocketPhase } from './device-socket.js';
import type { PortLinkState, PortOptions, PrinterPort } from './ports/printer-port.js';
import { openPrinterPort, parsePrinterUri, portTransport, sameAddress, systemName } from './ports/uri.js';
import { loadSettings, saveSettings, type Settings } from './settings.js';
import { listPrinters, type PrinterList } from './list-printers.js';
import { ADDED_SETTING, addressOf, addRefusal, addRequest, HOST_CONTROLS, savedPrinters, savedValue, scanAnswer } from './printer-admin.js';
import { PACKAGE_VERSION } from '../../../server/version.js';

export interface BridgePrinter {
  /** tcp://HOST:PORT or serial:/dev/NAME[@BAUD]; see ports/uri.ts. */
  readonly uri: string;
  readonly dialect: Dialect;
  readonly name?: string;
  /** Status poll interval in ms (default 5000); 0 off, and with it confirmation (escpos, tspl, zpl). */
  readonly poll?: number;
  /** none (default), xonxoff (DC3/DC1 from the printer, handled by the core) or rtscts (serial hardware handshake). */
  readonly flow?: FlowControl;
  /** gcode: lines sent after a print ends unfinished (default: heaters, fan and motors off); [] for none. */
  readonly cancelScript?: readonly string[];
}

export interface BridgeOptions {
  /**
   * Base URL of the server, ws://H:P or wss://H:P (the core appends
   * /v1/device); several (a list, or one string with spaces or commas
   * between them) are tried in turn, and the bridge moves on from one that
   * fails or goes away (device/core/link.ts).
   */
  readonly server: string | readonly string[];
  /** For wss://: the CA certificates (PEM) the server's certificate must chain to, instead of Node's public roots. */
  readonly ca?: string | Buffer;
  readonly id: string;
  readonly token: string;
  /** Port numbers are positions in this list. */
  readonly printers: readonly BridgePrinter[];
  readonly fw?: string;
  readonly window?: number;
  readonly maxChunk?: number;
  readonly statusInterval?: number;
  readonly timings?: Partial<LinkTimings>;
  /** Where settings from the server are kept; they override server/token given here. */
  readonly settingsPath?: string;
  readonly portOptions?: PortOptions;
  /** Ready-made ports instead of opening the URIs (same order); the bridge still opens and closes them. */
  readonly ports?: readonly PrinterPort[];
  readonly log?: (level: LogLevel, message: string) => void;
  /** Called after every batch of events, with the state it left (a snapshot is built only when this is given). */
  readonly onChange?: (snapshot: BridgeSnapshot) => void;
}

export interface PrinterPortView {
  readonly port: number;
  readonly label: string;
  readonly open: boolean;
  readonly detail?: string | undefined;
}

export interface BridgeSnapshot extends DeviceSnapshot {
  readonly socket: SocketPhase;
  readonly printers: readonly PrinterPortView[];
}

export interface Bridge {
  snapshot(): BridgeSnapshot;
  /** Closes the socket and the ports; no timer is left running. */
  stop(): Promise<void>;
}

export const NODE_BRIDGE_FW = `printbridge-node/${PACKAGE_VERSION}`;

/** printers.add refused, with the code the server hears. */
class AddRefused extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

export async function runBridge(opts: BridgeOptions): Promise<Bridge> {
  const bridge = new NodeBridge(opts);
  bridge.start();
  return bridge;
}

/** Node's monotonic clock and timers, for the run loop. */
const NODE_SCHEDULER: Scheduler<NodeJS.Timeout> = {
  now: () => performance.now(),
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle),
};

class NodeBridge implements Bridge {
  private readonly loop: HostLoop<NodeJS.Timeout>;
  private readonly socket: DeviceSocket;
  /** The options' printers, then the ones added (printers.add); a port's number is its place here. */
  private readonly printers: BridgePrinter[];
  private readonly ports: PrinterPort[];
  private readonly portStates: { state: PortLinkState | undefined; detail: string | undefined }[];
  /** The scan under way: asked again meanwhile, it answers everyone. */
  private scanning: Promise<PrinterList> | undefined;
  /** printers.add one at a time, so two cannot take the same port number. */
  private adding: Promise<void> = Promise.resolve();
  private led: LedPattern = 'off';
  private stopped = false;
  private readonly log: (level: LogLevel, message: string) => void;

  constructor(private readonly opts: BridgeOptions) {
    this.log = opts.log ?? ((level, message) => process.stderr.write(`${level}: ${message}\n`));
    if (opts.ports && opts.ports.length !== opts.printers.length) throw new RangeError('ports must match printers one to one');
    this.printers = [...opts.printers, ...this.addedBefore()];
    this.ports = [
      ...(opts.ports ?? opts.printers.map((p) => this.openPort(p))),
      ...this.printers.slice(opts.printers.length).map((p) => this.openPort(p)),
    ];
    this.portStates = this.ports.map(() => ({ state: undefined, detail: undefined }));
    this.socket = new DeviceSocket((e) => this.loop.post(e), this.log, opts.ca);
    const onChange = opts.onChange;
    this.loop = new HostLoop({
      core: this.createCore(),
      scheduler: NODE_SCHEDULER,
      perform: (effect) => this.perform(effect),
      log: this.log,
      ...(onChange === undefined ? {} : { settled: () => onChange(this.snapshot()) }),
    });
  }

  start(): void {
    this.ports.forEach((port, i) => this.attach(port, i));
    this.loop.postAll(this.bootEvents());
    for (const port of this.ports) port.open();
  }

  private openPort(p: BridgePrinter): PrinterPort {
    return openPrinterPort(p.uri, { ...this.opts.portOptions, rtscts: p.flow === 'rtscts' });
  }

  /** Printer `i`'s callbacks become the core's events. */
  private attach(port: PrinterPort, i: number): void {
    port.onState((state, detail) => {
      this.portStates[i] = { state, detail };
      this.log(state === 'online' ? 'info' : 'warn', `printer ${i} (${port.label}) ${state}${detail ? `: ${detail}` : ''}`);
      this.loop.post({ type: 'port.state', port: i, state, ...(detail === undefined ? {} : { detail }) });
    });
    port.onWritable((room) => this.loop.post({ type: 'port.writable', port: i, room }));
    port.onData((bytes) => this.loop.post({ type: 'port.data', port: i, bytes }));
    port.onVerdict?.((job, ok, detail) => this.loop.post({ type: 'port.verdict', port: i, job, ok, ...(detail === undefined ? {} : { detail }) }));
  }

  /** The printers added by the server before this start (ADDED_SETTING), less any the options name too. */
  private addedBefore(): BridgePrinter[] {
    if (!this.opts.settingsPath) return [];
    const { printers, problems } = savedPrinters(loadSettings(this.opts.settingsPath)[ADDED_SETTING]);
    for (const problem of problems) this.log('error', `${this.opts.settingsPath}: ${problem}: skipped`);
    const given = this.opts.printers.flatMap((p) => addressOf(p.uri) ?? []);
    const kept = printers.filter((p) => {
      const twice = given.some((g) => sameAddress(g, parsePrinterUri(p.uri)));
      if (twice) this.log('warn', `${p.uri} (added before) is a --printer too: kept once`);
      return !twice;
    });
    // A hello carries at most PORTS_MAX printers: more --printer options since leave fewer for the added ones.
    const room = Math.max(0, PORTS_MAX - this.opts.printers.length);
    for (const p of kept.slice(room)) this.log('error', `${p.uri} (added before) not opened: a device has at most ${PORTS_MAX} printers`);
    return kept.slice(0, room);
  }

  snapshot(): BridgeSnapshot {
    return {
      ...this.loop.core.snapshot(),
      led: this.led,
      socket: this.socket.phase,
      printers: this.ports.map((p, i) => ({ port: i, label: p.label, open: p.isOpen, detail: this.portStates[i]?.detail })),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.loop.stop();
    await Promise.all([this.socket.shutdown(), ...this.ports.map((p) => p.close())]);
  }

  private createCore(): DeviceCore {
    const o = this.opts;
    const saved: Settings = o.settingsPath ? loadSettings(o.settingsPath) : {};
    const given = typeof o.server === 'string' ? o.server : o.server.join(' ');
    const server = saved['server'] ?? given;
    const token = saved['token'] ?? o.token;
    if (saved['server'] !== undefined && saved['server'] !== given) this.log('info', `using server ${server} from ${o.settingsPath}`);
    const config: DeviceConfig = {
      id: o.id,
      token,
      server,
      fw: o.fw ?? NODE_BRIDGE_FW,
      // A TCP printer's connection is its session; a serial line can only be judged by silence (docs/printers.md).
      ports: this.printers.map((p, i) => this.portConfig(p, i)),
      hostControls: HOST_CONTROLS,
      window: o.window, maxChunk: o.maxChunk, statusInterval: o.statusInterval,
      // Started by a person or a service manager, not by a power cut shared with a fleet: the first attempt goes at once.
      timings: { firstWindow: 0, ...o.timings },
    };
    return createDevice(config, { random: Math.random, dialects: ALL_DIALECTS });
  }

  private portConfig(p: BridgePrinter, i: number): PortConfig {
    return { port: i, dialect: p.dialect, name: p.name, poll: p.poll, flow: p.flow, cancelScript: p.cancelScript, transport: portTransport(p.uri) };
  }

  /** What a freshly started core needs to hear: it booted, a PC has its own network, and how the ports are. */
  private bootEvents(): DeviceEvent[] {
    const events: DeviceEvent[] = [{ type: 'boot' }, { type: 'network', up: true }];
    this.ports.forEach((port, i) => {
      const s = this.portStates[i];
      if (s?.state) events.push({ type: 'port.state', port: i, state: s.state, ...(s.detail === undefined ? {} : { detail: s.detail }) });
      events.push({ type: 'port.writable', port: i, room: port.room() });
    });
    return events;
  }

  /** Carries out one effect; the loop reports whatever it throws (disk full, socket gone) and goes on. */
  private perform(effect: DeviceEffect): void {
    switch (effect.type) {
      case 'ws.connect':
        return this.socket.connect(effect.url, effect.token);
      case 'ws.send':
        return this.socket.send(effect.data);
      case 'ws.close':
        return this.socket.close(effect.code, effect.reason);
      case 'port.write': {
        const port = this.ports[effect.port];
        if (!port?.write(effect.bytes, effect.job)) this.log('error', `printer ${effect.port} is not open: ${effect.bytes.length} bytes dropped`);
        return;
      }
      case 'led':
        if (effect.pattern !== this.led) this.log('info', `led ${effect.pattern}`);
        this.led = effect.pattern;
        return;
      case 'log':
        return this.log(effect.level, effect.message);
      case 'persist':
        if (!this.opts.settingsPath) {
          this.log('warn', `settings not kept (no settings file): ${Object.keys(effect.settings).join(', ')}`);
          return;
        }
        saveSettings(this.opts.settingsPath, effect.settings);
        this.log('info', `saved ${Object.keys(effect.settings).join(', ')} to ${this.opts.settingsPath}`);
        return;
      case 'restart':
        return this.reboot(effect.reason);
      case 'control':
        return this.hostControl(effect.ref, effect.name, effect.args);
      default:
        return effect satisfies never;
    }
  }

  private hostControl(ref: string, name: string, args: Obj): void {
    const answer = <T extends ScanAnswer | AddAnswer>(work: Promise<T>, then?: (data: T) => void): void => {
      work.then(
        (data) => {
          this.loop.post({ type: 'control.answer', ref, ok: true, data: { ...data } });
          try {
            then?.(data);
          } catch (e) {
            this.log('error', `${name}: ${(e as Error).message}`);
          }
        },
        (e: unknown) => {
          const refused = e instanceof AddRefused;
          if (!refused) this.log('error', `${name}: ${(e as Error).message}`);
          this.loop.post({ type: 'control.answer', ref, ok: false, code: refused ? e.code : 'INTERNAL', message: (e as Error).message });
        },
      );
    };
    switch (name) {
      case 'printers.scan':
        return answer(this.scan().then((found) => scanAnswer(found, this.printers)));
      case 'printers.add': {
        const done = this.adding.then(() => this.add(args));
        this.adding = done.then(() => undefined, () => undefined);
        // Answered first: announcing the printer restarts the link.
        return answer(done, (added) => this.announce(added.port));
      }
      default:
        this.loop.post({ type: 'control.answer', ref, ok: false, code: 'UNSUPPORTED', message: `control ${name.slice(0, 64)}` });
    }
  }

  private scan(): Promise<PrinterList> {
    this.scanning ??= listPrinters({
      ...(this.opts.portOptions?.cups === undefined ? {} : { cups: this.opts.portOptions.cups }),
      ...(this.opts.portOptions?.sysfs === undefined ? {} : { sysfs: this.opts.portOptions.sysfs }),
    }).finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  /** printers.add: checked against what is plugged in now, opened, told to the core, and kept. */
  private async add(args: Obj): Promise<AddAnswer> {
    const wanted = addRequest(args);
    if ('code' in wanted) throw new AddRefused(wanted.code, wanted.message);
    // A network printer is taken as given: no need to wait for a scan (CUPS's discovery may take seconds).
    const found = wanted.uri.startsWith('tcp:') ? { printers: [], problems: [] } : await this.scan();
    const refusal = addRefusal(wanted, this.printers, found);
    if (refusal !== undefined) throw new AddRefused(refusal.code, refusal.message);
    if (this.stopped) throw new AddRefused('UNSUPPORTED', 'the bridge is stopping');
    const printer: BridgePrinter = { ...wanted, name: wanted.name ?? systemName(wanted.uri) };
    // Made before it is kept, and kept before it is added: a printer that cannot be opened or kept is not added at all.
    const port = this.openPort(printer);
    const added = [...this.printers.slice(this.opts.printers.length), printer];
    const saved = this.opts.settingsPath !== undefined;
    if (this.opts.settingsPath) saveSettings(this.opts.settingsPath, { [ADDED_SETTING]: savedValue(added) });
    else this.log('warn', `printer ${wanted.uri} added until the bridge stops: no settings file (--settings) to keep it in`);
    const i = this.printers.length;
    this.printers.push(printer);
    this.ports.push(port);
    this.portStates.push({ state: undefined, detail: undefined });
    this.attach(port, i);
    this.log('info', `printer ${i} added: ${printer.uri} (${printer.dialect})`);
    return { port: i, saved };
  }

  /** Printer `i`, just added, told to the core (which says hello again with it) and opened. */
  private announce(i: number): void {
    const port = this.ports[i];
    const printer = this.printers[i];
    if (this.stopped || port === undefined || printer === undefined) return;
    // A restart in between built its core with this printer already.
    if (this.loop.core.snapshot().ports.length <= i) {
      this.loop.postAll([{ type: 'port.added', port: this.portConfig(printer, i) }, { type: 'port.writable', port: i, room: port.room() }]);
    }
    port.open();
  }

  /** A soft reboot: the old socket is cut off, and a new core starts over on the same ports. */
  private reboot(reason: string): void {
    this.log('info', `restarting (${reason}): closing the link and starting over`);
    this.socket.abandon();
    this.loop.reboot(this.createCore(), this.bootEvents());
  }
}
