// A real Mosquitto broker (Debian's, scripts/install-system-deps.sh part
// `mosquitto`) of the test's own, and a subscriber that records what it
// hears.
//
//   const broker = await startMosquitto(procs, dir);
//   const watch = await watchTopics(broker.url, 'printbridge/#');
//   await watch.waitFor('printbridge/dev1/availability', (m) => m.text === 'online');
//   await broker.restart();   // same port, retained messages gone (no persistence)
//
// mosquitto runs in the foreground with a configuration written to the test's
// folder: one listener on 127.0.0.1 at a free port, anonymous clients allowed
// (only this test reaches it), logging to stderr, and persistence off unless
// asked for, so a restart loses every retained message, which is what a
// server's republish on reconnect must make up for. Nothing under /etc, /run
// or /var is read or written; run as root it stays root (`user root`) rather
// than becoming `mosquitto`, who could not write the test's folder.

import { writeFileSync } from 'node:fs';
import { connect as connectSocket } from 'node:net';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Processes, Proc } from './processes.js';
import { until } from './until.js';
import { freePort } from '../../tools/free-port.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface BrokerOptions {
  /** Keep retained messages and sessions across restart() (written to the folder at stop; a kill loses what changed since). */
  persistence?: boolean;
  /** More mosquitto.conf lines, appended after the listener's. */
  config?: string;
}

export interface Broker {
  readonly port: number;
  /** mqtt://127.0.0.1:PORT */
  readonly url: string;
  /** The running mosquitto (a new one after restart()). */
  readonly proc: Proc;
  /** SIGTERM: clients are disconnected, Wills are sent, persistence is written. */
  stop(): Promise<void>;
  /** SIGKILL: gone at once, as a crashed broker. */
  kill(): Promise<void>;
  /** Stops it (SIGTERM, or SIGKILL with `{ kill: true }`) and starts it again on the same port; resolves when it listens. */
  restart(opts?: { kill?: boolean }): Promise<void>;
}

/** A port another process took between our probe and mosquitto's bind is tried again, this many times in all. */
const PORT_ATTEMPTS = 3;

/** Starts mosquitto in `dir`; resolves when it accepts TCP connections. */
export async function startMosquitto(procs: Processes, dir: string, opts: BrokerOptions = {}): Promise<Broker> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = writeConfig(dir, port, opts);
    let proc = procs.spawn(MOSQUITTO, ['-c', conf], { name: 'mosquitto' });
    try {
      await listening(proc, port);
    } catch (e) {
      await proc.kill('SIGKILL');
      if (attempt < PORT_ATTEMPTS && /Address already in use/.test(proc.stderr)) continue;
      throw e;
    }
    const end = async (signal: NodeJS.Signals): Promise<void> => {
      await proc.kill(signal);
    };
    return {
      port,
      url: `mqtt://127.0.0.1:${port}`,
      get proc() {
        return proc;
      },
      stop: () => end('SIGTERM'),
      kill: () => end('SIGKILL'),
      async restart(r = {}) {
        await end(r.kill === true ? 'SIGKILL' : 'SIGTERM');
        // The port is ours to take again: mosquitto binds with SO_REUSEADDR, so the old connections' TIME_WAIT do not hold it.
        proc = procs.spawn(MOSQUITTO, ['-c', conf], { name: 'mosquitto' });
        await listening(proc, port);
      },
    };
  }
}

function writeConfig(dir: string, port: number, opts: BrokerOptions): string {
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    `persistence ${opts.persistence === true ? 'true' : 'false'}`,
  ];
  if (opts.persistence === true) lines.push(`persistence_location ${dir}/`);
  if (process.getuid?.() === 0) lines.push('user root');
  if (opts.config !== undefined) lines.push(opts.config);
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Resolves when something accepts a TCP connection on `port`; rejects when `proc` exits first. */
async function listening(proc: Proc, port: number): Promise<void> {
  await until('mosquitto to listen', async () => {
    if (proc.exit !== undefined) throw new Error(`mosquitto exited (${proc.exit.code ?? proc.exit.signal})\n${proc.tail()}`);
    return tcpOpen(port);
  });
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectSocket(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One message a watcher heard. */
export interface Heard {
  topic: string;
  /** The payload as UTF-8. */
  text: string;
  payload: Buffer;
  /** Sent with the retain flag: a retained message delivered on subscribe (a live publish arrives with retain false under MQTT 5's default). */
  retain: boolean;
  packet: IPublishPacket;
}

export interface Watcher {
  readonly client: MqttClient;
  /** Everything heard, in order. */
  readonly heard: Heard[];
  /** The last message heard on `topic`. */
  last(topic: string): Heard | undefined;
  /** Messages on `topic` (a string, or a RegExp over topic names) from index `from` of heard on. */
  on(topic: string | RegExp, from?: number): Heard[];
  /** The number heard so far: pass as `from` to wait only for later ones. */
  mark(): number;
  /** Waits for a message on `topic` (heard at index `from` or later) that `accept` takes. */
  waitFor(topic: string | RegExp, accept?: (m: Heard) => boolean, opts?: { from?: number; ms?: number }): Promise<Heard>;
  /** The payload of the message on `topic` parsed as JSON (waits for one `accept` takes). */
  json<T = Record<string, unknown>>(topic: string | RegExp, accept?: (v: T) => boolean, opts?: { from?: number; ms?: number }): Promise<T>;
  close(): Promise<void>;
}

const matches = (topic: string | RegExp, name: string): boolean => (typeof topic === 'string' ? topic === name : topic.test(name));

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A fresh MQTT 5 client subscribed to `filters`, recording every message.
 * Retained ones arrive right after the subscription, so a new watcher sees
 * what a user's new subscriber would. Close it (or let the test's after()
 * do it through the returned client) before the broker goes for good.
 */
export async function watchTopics(url: string, filters: string | string[], options: IClientOptions = {}): Promise<Watcher> {
  const client = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 200, connectTimeout: 5_000, ...options });
  const heard: Heard[] = [];
  client.on('message', (topic, payload, packet) => {
    heard.push({ topic, payload, text: payload.toString('utf8'), retain: packet.retain, packet });
  });
  await client.subscribeAsync(filters, { qos: 1 });
  const on = (topic: string | RegExp, from = 0): Heard[] => heard.slice(from).filter((m) => matches(topic, m.topic));
  const waitFor: Watcher['waitFor'] = (topic, accept = () => true, opts = {}) =>
    until(`an MQTT message on ${String(topic)}`, () => on(topic, opts.from).find(accept), opts.ms);
  return {
    client,
    heard,
    on,
    last: (topic) => on(topic).at(-1),
    mark: () => heard.length,
    waitFor,
    async json<T>(topic: string | RegExp, accept: (v: T) => boolean = () => true, opts: { from?: number; ms?: number } = {}): Promise<T> {
      const m = await waitFor(
        topic,
        (h) => {
          const v = parse(h.text);
          return v !== undefined && accept(v as T);
        },
        opts,
      );
      return JSON.parse(m.text) as T;
    },
    close: () => client.endAsync(true),
  };
}
