// The server's one MQTT connection (MQTT.js, MQTT 5): what this node holds
// goes out on it (state.ts decides what), and the command topics come in on
// it (commands.ts, attached at the first CONNACK). The server never waits for the broker: it starts, serves
// and stops whatever the broker does, and the link comes and goes beside it.
//
//   connecting ──CONNACK──▶ up ──socket lost──▶ down ──backoff──▶ connecting
//                            │                   (1 s doubling to the cap, reset once up)
//                            └── on every CONNACK: node status `online`,
//                                then every retained message of every
//                                device held here (a broker restarted
//                                without persistence lost them)
//
// Nothing waits for the broker in memory: while the link is down, events
// change the state (so the republish says the latest) but nothing is queued
// to send; a publish larger than MAX_PAYLOAD_BYTES is left out with a log
// line, and while the socket has more than MAX_BACKLOG_BYTES unsent, new
// publishes are dropped and everything retained is said again once it
// drains. Retained state goes out at QoS 0: MQTT.js would resend an unacked
// QoS 1 message after a reconnect, over the fresher state the republish
// just said. Job events and delivery reports, which nothing repeats, are QoS 1.

import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Cancel, Clock, Log } from '../core/context.js';
import type { Listener } from '../core/events.js';
import type { Hub } from '../core/hub.js';
import type { DeviceView, PrinterView, Scope } from '../../protocol/client-messages.js';
import { getDevice } from '../store/devices.js';
import { attachCommands, type Commands } from './commands.js';
import { HEARD, MAX_PAYLOAD_BYTES, MqttState, type Publication } from './state.js';
import { DEFAULT_DISCOVERY_PREFIX, DEFAULT_PREFIX, OFFLINE, ONLINE, Topics, nodeLevel, prefixProblem } from './topics.js';

export interface MqttOptions {
  /** mqtt://HOST:PORT, mqtts://…, ws://…, wss://… (as MQTT.js takes them). */
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  /** A PEM file: the CA that signed the broker's certificate (mqtts://, wss://). */
  ca?: string | undefined;
  /** Default `printbridge`. */
  prefix?: string | undefined;
  /** Home Assistant's discovery prefix (default `homeassistant`); false: no discovery. */
  discoveryPrefix?: string | false | undefined;
  /** What commands over MQTT may do, as a token's scopes (default print and control; commands.ts). */
  scopes?: readonly Scope[] | undefined;
  /** Refuse prints that carry no idempotency key (MISSING_FIELD) instead of printing them at least once. */
  requireKey?: boolean | undefined;
  /** The first wait before reconnecting (default 1000 ms); it doubles after each failed attempt up to maxReconnectMs (default 30000). */
  reconnectMs?: number | undefined;
  maxReconnectMs?: number | undefined;
}

export interface ResolvedMqtt {
  readonly url: string;
  /** The URL as logs show it: without user or password. */
  readonly shownUrl: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly ca: Buffer | undefined;
  readonly topics: Topics;
  readonly reconnectMs: number;
  readonly maxReconnectMs: number;
  readonly scopes: readonly Scope[] | undefined;
  readonly requireKey: boolean;
}

const SCHEMES = new Set(['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:']);
/** A connection attempt that has no CONNACK after this long is given up and tried again. */
const CONNECT_TIMEOUT_MS = 10_000;
const KEEPALIVE_S = 30;
/** How long the broker keeps this node's session (its subscriptions, QoS 1 commands for it) while it is away. */
const SESSION_EXPIRY_S = 3600;
/** A node that is back this soon (a restart) never shows offline. */
const WILL_DELAY_S = 5;
/** Unsent bytes on the socket past which publishes are dropped until it drains. */
export const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
/** Home Assistant's birth republishes everything at most this often. */
const REPUBLISH_MIN_MS = 5000;
/** close() waits this long for what was published to leave; then the socket is dropped. */
const CLOSE_WAIT_MS = 2000;

/** Checks the options and reads the CA file; throws a RangeError (or the file's error) naming what is wrong. */
export function resolveMqtt(opts: MqttOptions): ResolvedMqtt {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new RangeError(`the MQTT URL ${JSON.stringify(opts.url)} is not a URL (mqtt://HOST:PORT, mqtts://, ws:// or wss://)`);
  }
  if (!SCHEMES.has(url.protocol)) throw new RangeError(`the MQTT URL must start mqtt://, mqtts://, ws:// or wss://, not ${url.protocol}//`);
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const prefixWrong = prefixProblem(prefix);
  if (prefixWrong !== undefined) throw new RangeError(`the MQTT prefix ${JSON.stringify(prefix)} ${prefixWrong}`);
  const discovery = opts.discoveryPrefix === undefined ? DEFAULT_DISCOVERY_PREFIX : opts.discoveryPrefix === false ? undefined : opts.discoveryPrefix;
  const discoveryWrong = discovery === undefined ? undefined : prefixProblem(discovery);
  if (discoveryWrong !== undefined) throw new RangeError(`the MQTT discovery prefix ${JSON.stringify(discovery)} ${discoveryWrong}`);
  const reconnectMs = wait('reconnectMs', opts.reconnectMs ?? 1000);
  const maxReconnectMs = wait('maxReconnectMs', opts.maxReconnectMs ?? 30_000);
  const shown = new URL(url.href);
  shown.username = '';
  shown.password = '';
  return {
    url: url.href,
    shownUrl: shown.href,
    // A user and password in the URL stand unless the options name others (MQTT.js reads them from the URL too).
    username: opts.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username)),
    password: opts.password ?? (url.password === '' ? undefined : decodeURIComponent(url.password)),
    ca: opts.ca === undefined ? undefined : readCa(opts.ca),
    topics: new Topics(prefix, discovery),
    reconnectMs,
    maxReconnectMs: Math.max(reconnectMs, maxReconnectMs),
    scopes: opts.scopes,
    requireKey: opts.requireKey ?? false,
  };
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`the MQTT CA file ${file} cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function wait(name: string, ms: number): number {
  if (!Number.isInteger(ms) || ms < 10 || ms > 3_600_000) throw new RangeError(`MQTT ${name} must be a whole number of milliseconds from 10 to 3600000, got ${ms}`);
  return ms;
}

export interface MqttLinkDeps {
  readonly hub: Hub;
  readonly clock: Clock;
  readonly log: Log;
  /** This node's name (the host name, or the cluster node's); made a topic level here. */
  readonly node: string;
  readonly version: string;
}

export class MqttLink {
  readonly client: MqttClient;
  readonly topics: Topics;
  /** This node as a topic level, and in the client id `printbridge-<node>`. */
  readonly node: string;
  private readonly state: MqttState;
  private readonly listener: Listener;
  private up = false;
  /** The inbound side, from the first CONNACK on (it follows the client's reconnects itself). */
  private commands: Commands | undefined;
  private period: number;
  /** The last connection error logged while down: a broker that stays away is one line, not one a second. */
  private lastError: string | undefined;
  private timer: { at: number; cancel: Cancel } | undefined;
  private backlogged = false;
  private closed = false;
  private lastRepublish = -Infinity;
  private republishSoon: Cancel | undefined;

  constructor(private readonly cfg: ResolvedMqtt, private readonly deps: MqttLinkDeps) {
    this.topics = cfg.topics;
    this.node = nodeLevel(deps.node);
    this.period = cfg.reconnectMs;
    const { hub } = deps;
    this.state = new MqttState({
      topics: cfg.topics, node: this.node, version: deps.version,
      holds: (device) => hub.registry.get(device)?.phase === 'online',
      registered: (device) => getDevice(hub.store, device) !== undefined,
    });
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId: `printbridge-${this.node}`,
      clean: false,
      properties: { sessionExpiryInterval: SESSION_EXPIRY_S },
      keepalive: KEEPALIVE_S,
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectPeriod: cfg.reconnectMs,
      // A broker that refuses (busy, or not yet told of this user) may accept later: tried again with the same backoff.
      reconnectOnConnackError: true,
      // Nothing waits in memory for the broker (see the top of this file).
      queueQoSZero: false,
      username: cfg.username,
      password: cfg.password,
      ...(cfg.ca !== undefined && { ca: cfg.ca }),
      will: {
        topic: cfg.topics.nodeStatus(this.node), payload: Buffer.from(OFFLINE), qos: 1, retain: true,
        properties: { willDelayInterval: WILL_DELAY_S },
      },
    };
    this.client = connect(cfg.url, options);
    this.client.on('connect', () => this.linkUp());
    this.client.on('close', () => this.linkDown());
    this.client.on('reconnect', () => {
      // The next wait, if this attempt fails too: doubled, up to the cap, with a little jitter so that nodes restarted together spread out.
      this.period = Math.min(this.period * 2, cfg.maxReconnectMs);
      this.client.options.reconnectPeriod = Math.round(this.period * (0.8 + Math.random() * 0.4));
    });
    this.client.on('error', (e) => this.failed(e));
    this.client.on('message', (topic, payload, packet) => {
      // Home Assistant started (a live birth; a retained one was already answered by the republish on connect).
      if (topic === cfg.topics.discoveryStatus() && !packet.retain && payload.toString() === ONLINE) this.homeAssistantStarted();
    });
    this.listener = {
      hears: (kind) => HEARD.has(kind),
      wants: () => true,
      readsEvents: true,
      send: (_text, event) => this.publishEach(this.state.event(event, deps.clock.now(), this.up)),
    };
    hub.events.add(this.listener);
  }

  get connected(): boolean {
    return this.up;
  }

  /** The broker's URL without user or password. */
  get shownUrl(): string {
    return this.cfg.shownUrl;
  }

  /** Says the node is offline (a clean disconnect sends no Will) and disconnects; its devices' offline went out as the server closed them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.deps.hub.events.remove(this.listener);
    // Unsubscribed before the session ends: a session kept with a shared subscription would still be dealt commands.
    await this.commands?.detach();
    this.timer?.cancel();
    this.timer = undefined;
    this.republishSoon?.();
    if (this.up) this.send({ topic: this.topics.nodeStatus(this.node), payload: OFFLINE, retain: true }, 1);
    await new Promise<void>((done) => {
      const force = setTimeout(() => this.client.end(true, () => done()), CLOSE_WAIT_MS);
      force.unref();
      this.client.end(false, () => {
        clearTimeout(force);
        done();
      });
    });
  }

  private linkUp(): void {
    this.period = this.cfg.reconnectMs;
    this.client.options.reconnectPeriod = this.cfg.reconnectMs;
    this.lastError = undefined;
    this.backlogged = false;
    if (!this.up) this.deps.log('info', 'mqtt connected', { url: this.cfg.shownUrl, clientId: this.client.options.clientId, devices: this.state.heldCount });
    this.up = true;
    this.send({ topic: this.topics.nodeStatus(this.node), payload: ONLINE, retain: true }, 1);
    const birth = this.topics.discoveryStatus();
    if (birth !== undefined) this.client.subscribe(birth, { qos: 1 }, (e) => e && this.deps.log('warn', 'mqtt: not subscribed to Home Assistant status', { topic: birth, error: e.message }));
    this.publishAll();
    this.commands ??= attachCommands(this.client, {
      prefix: this.topics.prefix, hub: this.deps.hub, log: this.deps.log, node: this.node, scopes: this.cfg.scopes, requireKey: this.cfg.requireKey,
    });
  }

  private linkDown(): void {
    if (!this.up || this.closed) return;
    this.up = false;
    this.deps.log('warn', 'mqtt disconnected', { url: this.cfg.shownUrl, retryMs: this.period });
  }

  private failed(e: Error): void {
    if (this.closed || e.message === this.lastError) return;
    this.lastError = e.message;
    this.deps.log(this.up ? 'warn' : 'info', 'mqtt connection error; retrying', { url: this.cfg.shownUrl, error: e.message });
  }

  /**
   * Anyone who may publish to `<discovery>/status` can say `online` as often
   * as they like: the republish it asks for (every retained message of every
   * device held here) happens at most once per REPUBLISH_MIN_MS, the last
   * request of a burst served when that time is up.
   */
  private homeAssistantStarted(): void {
    const wait = this.lastRepublish + REPUBLISH_MIN_MS - this.deps.clock.now();
    if (wait <= 0) {
      this.deps.log('info', 'mqtt: Home Assistant started; discovery and state published again');
      this.publishAll();
      return;
    }
    this.republishSoon ??= this.deps.clock.after(wait, () => {
      this.republishSoon = undefined;
      this.homeAssistantStarted();
    });
  }

  private publishAll(): void {
    this.lastRepublish = this.deps.clock.now();
    this.publishEach(this.state.all(this.lastRepublish));
  }

  /** Devices and printers a node that went silent held: said offline here, since that node no longer can. */
  orphaned(devices: readonly DeviceView[], printers: readonly PrinterView[]): void {
    this.publishEach(this.state.orphaned(devices, printers, this.deps.clock.now(), this.up));
  }

  private publishEach(pubs: readonly Publication[]): void {
    for (const p of pubs) this.send(p, p.retain ? 0 : 1);
    this.schedule();
  }

  /** Coalesced state goes out when due(); one timer, for the earliest. */
  private schedule(): void {
    const next = this.state.nextDue();
    if (next === undefined || this.closed) return;
    if (this.timer !== undefined && this.timer.at <= next) return;
    this.timer?.cancel();
    const now = this.deps.clock.now();
    this.timer = {
      at: next,
      cancel: this.deps.clock.after(Math.max(0, next - now), () => {
        this.timer = undefined;
        this.publishEach(this.state.due(this.deps.clock.now()));
      }),
    };
  }

  private send(p: Publication, qos: 0 | 1): void {
    if (!this.up) return;
    const bytes = Buffer.byteLength(p.payload);
    if (bytes > MAX_PAYLOAD_BYTES) {
      this.deps.log('warn', 'mqtt message too large; not published', { topic: p.topic, bytes, max: MAX_PAYLOAD_BYTES });
      return;
    }
    const unsent = (this.client.stream as { writableLength?: number } | undefined)?.writableLength ?? 0;
    if (unsent > MAX_BACKLOG_BYTES) {
      if (!this.backlogged) {
        this.backlogged = true;
        this.deps.log('warn', 'mqtt broker does not read fast enough; publishing paused until it catches up', { unsent });
        this.client.stream.once('drain', () => {
          if (!this.backlogged || !this.up) return;
          this.backlogged = false;
          this.deps.log('info', 'mqtt broker caught up; retained state published again');
          this.publishAll();
        });
      }
      return;
    }
    this.client.publish(p.topic, p.payload, { qos, retain: p.retain }, (e) => {
      if (e !== undefined && e !== null && !this.closed) this.deps.log('debug', 'mqtt publish failed', { topic: p.topic, error: e.message });
    });
  }
}

/** Starts the link; never waits for the broker. */
export function startMqtt(opts: MqttOptions, deps: MqttLinkDeps): MqttLink {
  return new MqttLink(resolveMqtt(opts), deps);
}
