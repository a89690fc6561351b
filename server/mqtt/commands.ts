// Commands that arrive over MQTT: a small transport in front of the client
// API's one dispatcher (hub.api). Topics and where answers go:
// command-topics.ts; payloads and idempotency keys: command-requests.ts.
//
// Acknowledgement. MQTT.js sends a QoS 1 PUBACK when `handleMessage`'s
// callback is called, and takes the connection's next packet only after
// that (node_modules/mqtt/build/lib/handlers/publish.js; its packet pump in
// client.js runs one packet at a time). This file replaces handleMessage on
// the client it is given, so that:
//   - a print is acknowledged after its job is stored (the store is
//     synchronous: the dispatcher's answer means the row is committed); a
//     command the server could not record (STORE_UNAVAILABLE, INTERNAL) is
//     not acknowledged at all, and the broker sends it again on the next
//     connection of a persistent session;
//   - a refusal (bad topic, bad payload, unknown printer, no scope) is
//     acknowledged: sending it again would be refused again;
//   - a control message is acknowledged once it is sent on to its devices:
//     it is not kept anywhere, so holding the ack while a device answers
//     would only hold every other packet of the connection.
//
// Backpressure. At most `maxInFlight` commands are being handled (a control
// message is, until its devices answered or timed out). One more waits for
// a slot before it is looked at, and since MQTT.js takes no further packet
// until it is acknowledged, the broker keeps the rest: nothing queues here.
// The wait is at most a control message's timeout (60 s at most), less
// than MQTT.js's keepalive timeout (1.5 × keepalive, 90 s by default).
//
// Several nodes. Every node subscribes through one MQTT 5 shared
// subscription (`$share/<group>/…`), so the broker hands each command to
// one of them. A job is a row, so a print taken by a node that does not
// hold the printer's device is printed by the node that does; control
// messages reach devices held elsewhere through the cluster. A node that
// dies holding unacknowledged prints loses them to the broker (mosquitto
// does not pass them to another member, SCALE.md B.2): a publisher that
// retries with the same key until it hears the answer prints exactly once;
// a keyless print is at least once at best across such a crash, and is
// refused outright with `requireKey`.
//
// Answers (the op's result, or {error: {code, message}}) are published at
// QoS 1 with the request's correlation data, never retained, at most
// `maxInFlight` of them unacknowledged by the broker at once (more are
// dropped and logged: the publisher retries).

import type { IPublishPacket, MqttClient } from 'mqtt';
import type { JobView, Scope } from '../../protocol/client-messages.js';
import { protocolError, type ProtocolError } from '../../protocol/errors.js';
import type { Caller } from '../core/client-api.js';
import type { Log } from '../core/context.js';
import type { Hub } from '../core/hub.js';
import type { ClientAuth } from '../core/tokens.js';
import { PrintbridgeError } from '../errors.js';
import { commandRequest } from './command-requests.js';
import { commandFilters, parseCommandTopic, replyTopic, type ParsedTopic } from './command-topics.js';
import { prefixProblem } from './topics.js';

/** What the broker connection may do unless told otherwise: print, and control names that change nothing on a device. */
export const DEFAULT_COMMAND_SCOPES: readonly Scope[] = ['print', 'control'];
/** The shared-subscription group every node joins unless told otherwise. */
export const DEFAULT_COMMAND_GROUP = 'printbridge';

export interface CommandOptions {
  /** The topic prefix (`printbridge` by default at the link). */
  readonly prefix: string;
  readonly hub: Pick<Hub, 'api' | 'limits'>;
  readonly log: Log;
  /** This node's name, in the log. */
  readonly node: string;
  /** What commands may do, as a token's scopes (default DEFAULT_COMMAND_SCOPES). */
  readonly scopes?: readonly Scope[] | undefined;
  /** Refuse prints that carry no idempotency key (MISSING_FIELD) rather than print them at least once. */
  readonly requireKey?: boolean | undefined;
  /** The shared-subscription group (default DEFAULT_COMMAND_GROUP); false: a plain subscription, for a single node. */
  readonly group?: string | false | undefined;
  /** Commands handled at once (default limits.maxRequestsInFlight, which the dispatcher also holds a caller to). */
  readonly maxInFlight?: number | undefined;
}

export interface Commands {
  /**
   * Stops taking commands: gives handleMessage back, answers nothing more,
   * and unsubscribes; resolves when the broker confirmed it (or at once when
   * disconnected). Await it before a clean disconnect: a persistent session
   * that keeps a shared subscription keeps getting its share of commands
   * while the node is away (SCALE.md B.2).
   */
  detach(): Promise<void>;
}

type Answer = { ok: true; result: unknown } | { ok: false; error: ProtocolError };

/**
 * Takes commands from `client` (MQTT.js, MQTT 5) for the life of the
 * client, across its reconnects. Call once per client: it subscribes now
 * (queued by MQTT.js while disconnected) and again on a connection without
 * a session, where MQTT.js does not resubscribe by itself.
 */
export function attachCommands(client: MqttClient, opts: CommandOptions): Commands {
  const { prefix, hub, log, node } = opts;
  const group = opts.group ?? DEFAULT_COMMAND_GROUP;
  const prefixWrong = prefixProblem(prefix);
  if (prefixWrong !== undefined) throw new RangeError(`the MQTT prefix ${JSON.stringify(prefix)} ${prefixWrong}`);
  if (group !== false && (group === '' || /[/+#]/.test(group))) throw new RangeError(`shared-subscription group ${JSON.stringify(group)}: one topic level`);
  const maxInFlight = opts.maxInFlight ?? hub.limits.maxRequestsInFlight;
  const requireKey = opts.requireKey ?? false;
  const auth: ClientAuth = Object.freeze({ kind: 'listener', scopes: Object.freeze([...(opts.scopes ?? DEFAULT_COMMAND_SCOPES)]) });
  let attached = true;
  const caller: Caller = { auth, open: () => attached };
  const slots = new Slots(maxInFlight);
  const filters = commandFilters(prefix, group);
  let unanswered = 0;

  const subscribe = (): void => {
    // rh 2: no retained messages at subscribe time; a command retained by mistake would run again on every new session.
    client.subscribeAsync(filters, { qos: 1, rh: 2 }).then(
      (granted) => {
        const refused = granted.filter((g) => g.qos > 2).map((g) => g.topic);
        if (refused.length > 0) log('error', 'the broker refused the MQTT command subscriptions', { node, filters: refused });
      },
      (e: unknown) => log('warn', 'MQTT command subscription failed; tried again on the next connection', { node, error: e instanceof Error ? e.message : String(e) }),
    );
  };
  const onConnect = (connack: { sessionPresent: boolean }): void => {
    if (!connack.sessionPresent) subscribe();
  };

  // With topic aliases a packet's own topic may be empty: MQTT.js resolves it
  // for the `message` event it emits just before calling handleMessage.
  const topics = new WeakMap<IPublishPacket, string>();
  const onMessage = (topic: string, _payload: Buffer, packet: IPublishPacket): void => void topics.set(packet, topic);

  const previous = client.handleMessage;
  const handleMessage: MqttClient['handleMessage'] = (packet, done) => {
    const topic = topics.get(packet) ?? packet.topic;
    const parsed = parseCommandTopic(prefix, topic);
    if (parsed.kind === 'other') return previous.call(client, packet, done);
    if (parsed.kind === 'passed') return done();
    void take(topic, packet, parsed, done);
  };

  async function take(topic: string, packet: IPublishPacket, parsed: Exclude<ParsedTopic, { kind: 'other' | 'passed' }>, done: (error?: Error) => void): Promise<void> {
    await slots.enter();
    let acked = false;
    const ack = (error?: Error): void => {
      if (acked) return;
      acked = true;
      done(error);
    };
    const props = packet.properties;
    const to = replyTopic(prefix, topic, props?.responseTopic);
    let answer: Answer;
    try {
      answer = await carryOut(to.error ?? parsed, packet, ack);
    } catch (e) {
      answer = { ok: false, error: failure(e, topic) };
    } finally {
      slots.leave();
    }
    ack(answer.ok || recorded(answer.error) ? undefined : new Error(answer.error.message));
    log('debug', 'MQTT command', { node, topic, ...(answer.ok ? {} : { error: answer.error.code }) });
    if (to.topic !== undefined) reply(to.topic, answer.ok ? answer.result : { error: answer.error }, props?.correlationData);
  }

  /** What the command answers; `ack` is called as soon as it may be (see the top of this file), else after. */
  async function carryOut(what: ProtocolError | Exclude<ParsedTopic, { kind: 'other' | 'passed' }>, packet: IPublishPacket, ack: () => void): Promise<Answer> {
    if ('code' in what) return { ok: false, error: what };
    if (what.kind === 'refused') return { ok: false, error: what.error };
    const props = packet.properties;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
    const built = commandRequest(
      what.command,
      { payload, contentType: props?.contentType, correlationData: props?.correlationData, userProperties: props?.userProperties },
      { limits: hub.limits, requireKey },
    );
    if (!built.ok) return { ok: false, error: built.error };
    if (built.request.op === 'control.send') {
      const sent = hub.api.perform(built.request, caller);
      ack();
      return { ok: true, result: await sent };
    }
    if (built.job !== undefined) {
      // The job named on a printer's topic must be that printer's: acting on another one would surprise whoever reads the topic.
      const job = (await hub.api.perform({ op: 'job.get', id: null, job: built.job.id }, caller)) as JobView;
      if (job.printer !== built.job.printer) return { ok: false, error: protocolError('UNKNOWN_JOB', `${job.id} is a job of ${job.printer}, not ${built.job.printer}`) };
    }
    return { ok: true, result: await hub.api.perform(built.request, caller) };
  }

  function failure(e: unknown, topic: string): ProtocolError {
    if (e instanceof PrintbridgeError) return e.toProtocol();
    log('error', 'MQTT command failed', { node, topic, error: e instanceof Error ? e.stack : String(e) });
    return protocolError('INTERNAL');
  }

  function reply(topic: string, body: unknown, correlationData: Buffer | undefined): void {
    if (!attached) return;
    if (unanswered >= maxInFlight) {
      log('warn', 'MQTT answer dropped: the broker has not taken the earlier ones', { node, topic, unanswered });
      return;
    }
    unanswered++;
    const properties = client.options.protocolVersion === 5 ? { contentType: 'application/json', ...(correlationData !== undefined && { correlationData }) } : undefined;
    client.publish(topic, JSON.stringify(body), { qos: 1, retain: false, ...(properties && { properties }) }, (e) => {
      unanswered--;
      if (e !== undefined && e !== null) log('debug', 'MQTT answer not delivered', { node, topic, error: e.message });
    });
  }

  client.handleMessage = handleMessage;
  client.on('message', onMessage);
  client.on('connect', onConnect);
  subscribe();
  log('info', 'taking commands over MQTT', { node, filters, scopes: auth.scopes, requireKey, maxInFlight });

  return {
    async detach() {
      if (!attached) return;
      attached = false;
      if (client.handleMessage === handleMessage) client.handleMessage = previous;
      client.off('message', onMessage);
      client.off('connect', onConnect);
      if (!client.connected) return;
      await client.unsubscribeAsync(filters).catch((e: unknown) => log('warn', 'MQTT command unsubscribe failed', { node, error: e instanceof Error ? e.message : String(e) }));
    },
  };
}

/** Whether the server kept what it answered: only then is the message acknowledged. */
function recorded(error: ProtocolError): boolean {
  return error.code !== 'STORE_UNAVAILABLE' && error.code !== 'INTERNAL';
}

/**
 * Commands being handled, at most `max`. MQTT.js hands over one message at
 * a time and waits for its acknowledgement, so at most one waits here.
 */
class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  enter(): Promise<void> | undefined {
    if (this.used < this.max) {
      this.used++;
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  leave(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.used--;
  }
}
