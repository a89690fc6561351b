// Runs inside the XS engine (xsnap), not in Node: test doubles for the
// Moddable modules the firmware imports, and the Compartment that runs the
// built device modules unchanged against them.
//
// XS only runs when Node sends a command. A command carries the time and a
// batch of outside events (a socket frame, UART room, a Wi-Fi message); the
// doubles turn them into the callbacks the real modules would make, due
// timers fire, and the reply carries everything the firmware asked of the
// outside world (open a socket, write to the UART, set a pin) for Node to do
// for real. Bytes travel as arrays of numbers inside JSON.

/* global issueCommand, ModuleSource, Compartment */
declare const ModuleSource: new (text: string) => object;
declare const Compartment: new (options: object) => { import(name: string): Promise<Record<string, unknown>> };
declare const globalThis: Record<string, unknown>;

type Out = Record<string, unknown> & { k: string };
type Event = Record<string, unknown> & { k: string };

const outbox: Out[] = [];
let now = 0;

// ---- timer / time -------------------------------------------------------

interface TimerRec { id: number; due: number; repeat: number; cb: (t: unknown) => void; live: boolean }
const timers: TimerRec[] = [];
let timerIds = 0;

const Timer = {
  set(cb: (t: unknown) => void, ms = 0, repeat = 0): TimerRec {
    const t = { id: ++timerIds, due: now + Math.max(0, ms), repeat, cb, live: true };
    timers.push(t);
    return t;
  },
  repeat(cb: (t: unknown) => void, ms: number): TimerRec {
    return Timer.set(cb, ms, ms);
  },
  schedule(t: TimerRec, ms = 0, repeat = 0): void {
    t.due = now + ms;
    t.repeat = repeat;
    if (!t.live) {
      t.live = true;
      timers.push(t);
    }
  },
  clear(t: TimerRec | undefined): void {
    if (t === undefined || t === null) return;
    t.live = false;
    const i = timers.indexOf(t);
    if (i >= 0) timers.splice(i, 1);
  },
  delay(): void {},
};

function fireTimers(): void {
  for (let guard = 0; guard < 10_000; guard++) {
    let next: TimerRec | undefined;
    for (const t of timers) if (t.due <= now && (next === undefined || t.due < next.due)) next = t;
    if (next === undefined) return;
    if (next.repeat > 0) next.due += next.repeat;
    else Timer.clear(next);
    next.cb(next);
  }
  throw new Error('timers keep firing: a zero-delay loop');
}

function nextTimer(): number | null {
  let due: number | null = null;
  for (const t of timers) if (due === null || t.due < due) due = t.due;
  return due;
}

const Time = {
  get ticks(): number {
    return Math.floor(now);
  },
  set(): void {},
  delta(start: number, end?: number): number {
    return (end ?? now) - start;
  },
};

// ---- websocket -----------------------------------------------------------

let socketIds = 0;
const sockets = new Map<number, WsClient>();

class WsClient {
  static connect = 1;
  static handshake = 2;
  static receive = 3;
  static disconnect = 4;
  callback: ((message: number, value?: unknown) => void) | undefined;
  readonly id = ++socketIds;
  private open = true;
  constructor(options: Record<string, unknown>) {
    sockets.set(this.id, this);
    outbox.push({ k: 'ws.new', id: this.id, host: options['host'], port: options['port'], path: options['path'], headers: options['headers'], secure: options['Socket'] !== undefined });
  }
  write(data: string | ArrayBuffer): void {
    if (!this.open) throw new Error('socket closed');
    if (typeof data === 'string') outbox.push({ k: 'ws.write', id: this.id, text: data });
    else outbox.push({ k: 'ws.write', id: this.id, bytes: Array.from(new Uint8Array(data)) });
  }
  close(): void {
    if (!this.open) return;
    this.open = false;
    sockets.delete(this.id);
    outbox.push({ k: 'ws.close', id: this.id });
  }
  deliver(e: Event): void {
    const cb = this.callback;
    if (cb === undefined || !this.open) return;
    switch (e.k) {
      case 'ws.connect':
        return cb(WsClient.connect);
      case 'ws.handshake':
        return cb(WsClient.handshake);
      case 'ws.text':
        return cb(WsClient.receive, e['text']);
      case 'ws.binary':
        return cb(WsClient.receive, new Uint8Array(e['bytes'] as number[]).buffer);
      case 'ws.disconnect':
        // Like the SDK client: report, then close itself.
        cb(WsClient.disconnect);
        this.open = false;
        sockets.delete(this.id);
        return;
    }
  }
}

// ---- embedded:io/serial ---------------------------------------------------

const serials = new Map<number, SerialDouble>();

class SerialDouble {
  private room = 0;
  private rx: number[] = [];
  private readonly port: number;
  private readonly onWritable: ((n: number) => void) | undefined;
  private readonly onReadable: ((n: number) => void) | undefined;
  constructor(o: Record<string, unknown>) {
    this.port = o['port'] as number;
    if (serials.has(this.port)) throw new Error(`UART ${this.port} in use`);
    serials.set(this.port, this);
    this.onWritable = o['onWritable'] as ((n: number) => void) | undefined;
    this.onReadable = o['onReadable'] as ((n: number) => void) | undefined;
    outbox.push({ k: 'serial.open', port: this.port, baud: o['baud'], tx: o['transmit'], rx: o['receive'] });
  }
  /** Like the ESP32 driver: all of it fits the FIFO or it throws, never a partial write. */
  write(data: ArrayBuffer | Uint8Array): void {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    if (bytes.length > this.room) {
      outbox.push({ k: 'serial.overrun', port: this.port, size: bytes.length, room: this.room });
      throw new Error('output full');
    }
    this.room -= bytes.length;
    outbox.push({ k: 'serial.write', port: this.port, bytes: Array.from(bytes) });
  }
  read(count?: number): ArrayBuffer | undefined {
    if (this.rx.length === 0) return undefined;
    const taken = this.rx.splice(0, count ?? this.rx.length);
    return new Uint8Array(taken).buffer;
  }
  close(): void {
    serials.delete(this.port);
  }
  deliver(e: Event): void {
    if (e.k === 'serial.writable') {
      this.room = e['count'] as number;
      this.onWritable?.(this.room);
    } else if (e.k === 'serial.data') {
      this.rx.push(...(e['bytes'] as number[]));
      this.onReadable?.(this.rx.length);
    }
  }
}

// ---- embedded:io/digital ----------------------------------------------------

const pinLevels = new Map<number, number>();
const inputs = new Map<number, DigitalDouble>();

class DigitalDouble {
  static Input = 0;
  static InputPullUp = 1;
  static InputPullDown = 2;
  static InputPullUpDown = 3;
  static Output = 8;
  static OutputOpenDrain = 9;
  static Rising = 1;
  static Falling = 2;
  private readonly pin: number;
  private readonly edge: number;
  private readonly onReadable: (() => void) | undefined;
  constructor(o: Record<string, unknown>) {
    this.pin = o['pin'] as number;
    const mode = o['mode'] as number;
    this.edge = (o['edge'] as number | undefined) ?? 0;
    this.onReadable = o['onReadable'] as (() => void) | undefined;
    if (mode < DigitalDouble.Output) {
      inputs.set(this.pin, this);
      // Nothing drives the line yet: a pull resistor decides the level.
      if (!pinLevels.has(this.pin)) pinLevels.set(this.pin, mode === DigitalDouble.InputPullUp ? 1 : 0);
    }
  }
  /** The outside world drives an input pin: like the driver, report the edges that were asked for. */
  drive(value: number): void {
    if (pinLevels.get(this.pin) === value) return;
    pinLevels.set(this.pin, value);
    if (this.edge & (value === 1 ? DigitalDouble.Rising : DigitalDouble.Falling)) this.onReadable?.();
  }
  write(value: number): void {
    if (pinLevels.get(this.pin) === value) return;
    pinLevels.set(this.pin, value);
    outbox.push({ k: 'pin', pin: this.pin, value, at: now });
  }
  read(): number {
    return pinLevels.get(this.pin) ?? 0;
  }
  close(): void {}
}

// ---- wifi / net / sntp ------------------------------------------------------

let wifiIds = 0;
const monitors = new Map<number, WiFiDouble>();

class WiFiDouble {
  static gotIP = 'gotIP';
  static lostIP = 'lostIP';
  static connected = 'connect';
  static disconnected = 'disconnect';
  static Mode = { off: -5, none: 0, station: 1, accessPoint: 2 };
  static mode = 0;
  static disconnect(): void {
    outbox.push({ k: 'wifi.disconnect' });
  }
  readonly id = ++wifiIds;
  constructor(o: Record<string, unknown>, private cb: ((m: string) => void) | undefined) {
    monitors.set(this.id, this);
    outbox.push({ k: 'wifi.join', id: this.id, ssid: o['ssid'], password: o['password'] ?? '' });
  }
  close(): void {
    monitors.delete(this.id);
    this.cb = undefined;
  }
  deliver(message: string): void {
    this.cb?.(message);
  }
}

let rssi = -60;
const Net = {
  get(what: string): unknown {
    if (what === 'RSSI') return rssi;
    if (what === 'IP') return '127.0.0.1';
    return undefined;
  },
};

class SNTPDouble {
  static time = 1;
  static retry = 2;
  static error = -1;
  constructor(_o: unknown, cb: (m: number, v?: number) => void) {
    Timer.set(() => cb(SNTPDouble.time, 1_800_000_000), 1);
  }
}

// ---- preference, instrumentation, restart, Resource ----------------------

const prefs = new Map<string, unknown>();
const Preference = {
  get(domain: string, key: string): unknown {
    return prefs.get(`${domain}.${key}`);
  },
  set(domain: string, key: string, value: unknown): void {
    if (key.length > 15 || domain.length > 15) throw new Error('NVS names are at most 15 characters');
    prefs.set(`${domain}.${key}`, value);
    outbox.push({ k: 'pref.set', domain, key, value });
  },
  delete(domain: string, key: string): void {
    prefs.delete(`${domain}.${key}`);
  },
  keys(domain: string): string[] {
    return [...prefs.keys()].filter((k) => k.startsWith(`${domain}.`)).map((k) => k.slice(domain.length + 1));
  },
};

const Instrumentation = {
  map(name: string): number | undefined {
    return name === 'System Free Memory' ? 1 : undefined;
  },
  get(n: number): number | undefined {
    return n === 1 ? 150_000 : undefined;
  },
};

function restart(): void {
  outbox.push({ k: 'restart' });
}

class ResourceDouble {
  static exists(): boolean {
    return false;
  }
}

// ---- the compartment --------------------------------------------------------

function ns(value: Record<string, unknown>): { namespace: Record<string, unknown> } {
  return { namespace: value };
}

function resolveName(spec: string, referrer: string): string {
  if (!spec.startsWith('.')) return spec;
  const parts = referrer.split('/');
  parts.pop();
  for (const seg of spec.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.') parts.push(seg);
  }
  return parts.join('/').replace(/\.js$/, '');
}

function trace(...args: unknown[]): void {
  outbox.push({ k: 'trace', text: args.map(String).join('') });
}

let started = false;

function boot({ sources, config, saved, at }: { sources: Record<string, string>; config: Record<string, unknown>; saved: Record<string, string>; at?: number }): void {
  // A reboot starts a fresh engine in a world whose clock has moved on.
  now = at ?? 0;
  for (const [k, v] of Object.entries(saved)) prefs.set(`printbridge.${k}`, v);
  const modules: Record<string, unknown> = {
    timer: ns({ default: Timer }),
    time: ns({ default: Time }),
    websocket: ns({ Client: WsClient, default: { Client: WsClient } }),
    'embedded:io/serial': ns({ default: SerialDouble }),
    'embedded:io/digital': ns({ default: DigitalDouble }),
    wifi: ns({ default: WiFiDouble }),
    net: ns({ default: Net }),
    sntp: ns({ default: SNTPDouble }),
    securesocket: ns({ default: class SecureSocketDouble {} }),
    Resource: ns({ default: ResourceDouble }),
    preference: ns({ default: Preference }),
    instrumentation: ns({ default: Instrumentation }),
    restart: ns({ default: restart }),
    'mc/config': ns({ default: Object.freeze({ ...config }) }),
  };
  for (const [name, text] of Object.entries(sources)) modules[name] = { source: new ModuleSource(text) };
  const c = new Compartment({ globals: { trace }, modules, resolveHook: resolveName });
  c.import('main').then(
    (m) => {
      (m['default'] as () => void)();
      started = true;
      outbox.push({ k: 'started' });
    },
    (e: unknown) => outbox.push({ k: 'fatal', text: String(e) }),
  );
}

function deliver(e: Event): void {
  switch (e.k) {
    case 'ws.connect':
    case 'ws.handshake':
    case 'ws.text':
    case 'ws.binary':
    case 'ws.disconnect':
      sockets.get(e['id'] as number)?.deliver(e);
      return;
    case 'serial.writable':
    case 'serial.data':
      serials.get(e['port'] as number)?.deliver(e);
      return;
    case 'wifi':
      monitors.get(e['id'] as number)?.deliver(e['message'] as string);
      return;
    case 'pin.input':
      inputs.get(e['pin'] as number)?.drive(e['value'] as number);
      return;
    case 'rssi':
      rssi = e['value'] as number;
      return;
  }
}

globalThis['handleCommand'] = (message: ArrayBuffer): ArrayBuffer => {
  const cmd = JSON.parse(new TextDecoder().decode(message)) as { now: number; events?: Event[] };
  now = Math.max(now, cmd.now);
  try {
    if (started) for (const e of cmd.events ?? []) deliver(e);
    fireTimers();
  } catch (e) {
    // An exception here is one the firmware let escape a callback: on the
    // device it would land in xsbug, so the test must see it.
    outbox.push({ k: 'fatal', text: `${String(e)}\n${(e as { stack?: string }).stack ?? ''}` });
  }
  const reply = JSON.stringify({ out: outbox.splice(0), next: nextTimer() });
  return new TextEncoder().encode(reply).buffer as ArrayBuffer;
};

globalThis['pbBoot'] = boot;
globalThis['pbLive'] = (): number => timers.length + sockets.size + monitors.size;
