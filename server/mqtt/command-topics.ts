// Which topics carry commands into the server, what each one asks, and where
// its answer may go. Pure: a topic in, a command (or a refusal) out.
//
//   <prefix>/<device>/<port>/print              a job for that printer
//   <prefix>/<device>/<port>/cmd/<action>       pause | resume | cancel (the queue, or one job)
//   <prefix>/<device>/cmd/<name>                a control message to the device
//   <prefix>/tag/<tag>/cmd/<name>               … to every device carrying the tag
//   <prefix>/all/cmd/<name>                     … to every device
//
// The first segment after the prefix is a device id, except four words that
// name something else: `tag` and `all` (the targets above), `reply` (where
// answers go, below) and `node` (the nodes' own status topics). A device with
// one of these ids is not addressed over MQTT. Topics under `reply` and
// `node` match the subscriptions too (`reply/<device>/cmd/<name>` is a
// `+/+/cmd/+`), and are passed over without an answer: answering an answer
// would loop.
//
// Answers go only under `<prefix>/reply/`. A request's MQTT 5 response topic
// must lie there; a request without one is answered on the fallback topic,
// `<prefix>/reply/` followed by the command topic after the prefix, for
// clients that have no response topic (MQTT 3.1.1). Why not wherever the
// publisher asks: the server's broker account can publish to every topic of
// printbridge and of Home Assistant's discovery, and a response topic is
// chosen by whoever may publish a command; publishing answers where they
// choose would let them forge device state or discovery through the server.

import type { Target } from '../../protocol/client-messages.js';
import { protocolError, type ProtocolError } from '../../protocol/errors.js';
import { parsePrinterId } from '../core/jobs.js';
import { DEVICE_ID, isValidDeviceId } from '../store/devices.js';

/** The words that are not device ids in the first segment after the prefix. */
export const RESERVED_SEGMENTS: readonly string[] = ['tag', 'all', 'reply', 'node'];
export const PRINTER_ACTIONS = ['pause', 'resume', 'cancel'] as const;
export type PrinterAction = (typeof PRINTER_ACTIONS)[number];
/** Longest topic an answer goes to: a response topic longer is refused, a fallback topic longer gets no answer. */
export const REPLY_TOPIC_MAX = 512;

export type CommandTopic =
  | { kind: 'print'; printer: string }
  | { kind: 'printer'; action: PrinterAction; printer: string }
  | { kind: 'control'; to: Target; name: string };

export type ParsedTopic =
  /** Not a command topic at all: someone else's message on the same client. */
  | { kind: 'other' }
  /** An answer or a node's status under the prefix: taken and left alone. */
  | { kind: 'passed' }
  | { kind: 'command'; command: CommandTopic }
  | { kind: 'refused'; error: ProtocolError };

/** The subscriptions that bring every command topic; `group` shares them among the nodes (MQTT 5 shared subscriptions). */
export function commandFilters(prefix: string, group: string | false): string[] {
  const filters = [`${prefix}/+/+/print`, `${prefix}/+/+/cmd/+`, `${prefix}/+/cmd/+`];
  return group === false ? filters : filters.map((f) => `$share/${group}/${f}`);
}

/** What `topic` asks of the server, if it is one of the command topics under `prefix`. */
export function parseCommandTopic(prefix: string, topic: string): ParsedTopic {
  if (!topic.startsWith(`${prefix}/`)) return { kind: 'other' };
  const parts = topic.slice(prefix.length + 1).split('/');
  const [first, second, third, fourth] = parts;
  const shape =
    // A port is a number, never `cmd`: <device>/cmd/print is a control message named print.
    parts.length === 3 && second === 'cmd' ? 'device-cmd'
    : parts.length === 3 && third === 'print' ? 'print'
    : parts.length === 4 && third === 'cmd' ? 'port-cmd'
    : undefined;
  if (shape === undefined || first === undefined || second === undefined) return { kind: 'other' };
  if (first === 'reply' || first === 'node') return { kind: 'passed' };
  try {
    if (shape === 'device-cmd') {
      const name = third ?? '';
      return command({ kind: 'control', to: first === 'all' ? { all: true } : { device: deviceSegment(first) }, name });
    }
    if (shape === 'port-cmd' && first === 'tag') return command({ kind: 'control', to: { tag: second }, name: fourth ?? '' });
    const printer = printerSegments(first, second);
    if (shape === 'print') return command({ kind: 'print', printer });
    const action = fourth ?? '';
    if (!(PRINTER_ACTIONS as readonly string[]).includes(action)) {
      return refused(protocolError('UNKNOWN_TYPE', `${action.slice(0, 64)}: a printer takes ${PRINTER_ACTIONS.join(', ')}`));
    }
    return command({ kind: 'printer', action: action as PrinterAction, printer });
  } catch (e) {
    if (e instanceof TopicError) return refused(e.error);
    throw e;
  }
}

/**
 * Where the answer to a command on `topic` goes: `responseTopic` when it is
 * given (refused unless under `<prefix>/reply/`), else the fallback topic;
 * undefined: nowhere.
 */
export function replyTopic(prefix: string, topic: string, responseTopic: string | undefined): { topic: string | undefined; error?: ProtocolError } {
  // A command topic the broker let through may be long; its answer topic is not: past the bound, no answer.
  const rest = `${prefix}/reply/${topic.slice(prefix.length + 1)}`;
  const fallback = rest.length <= REPLY_TOPIC_MAX ? rest : undefined;
  if (responseTopic === undefined) return { topic: fallback };
  const under = `${prefix}/reply/`;
  if (responseTopic.startsWith(under) && responseTopic.length > under.length && responseTopic.length <= REPLY_TOPIC_MAX && !/[+#\0]/.test(responseTopic)) {
    return { topic: responseTopic };
  }
  return {
    topic: fallback,
    error: protocolError('BAD_FIELD', `the response topic must lie under ${under} (at most ${REPLY_TOPIC_MAX} characters, no wildcards); the command was not carried out`),
  };
}

class TopicError {
  constructor(readonly error: ProtocolError) {}
}

function command(c: CommandTopic): ParsedTopic {
  return { kind: 'command', command: c };
}

function refused(error: ProtocolError): ParsedTopic {
  return { kind: 'refused', error };
}

function deviceSegment(segment: string): string {
  if (RESERVED_SEGMENTS.includes(segment)) {
    throw new TopicError(protocolError('BAD_FIELD', `"${segment}" is not a device here: ${RESERVED_SEGMENTS.join(', ')} name other topics`));
  }
  if (!isValidDeviceId(segment)) throw new TopicError(protocolError('BAD_FIELD', `${segment.slice(0, 64)}: a device id matches ${DEVICE_ID}`));
  return segment;
}

/** `<device>/<port>` as the printer id every other transport uses: BAD_FIELD for an id or port out of the rules. */
function printerSegments(device: string, port: string): string {
  deviceSegment(device);
  try {
    const p = parsePrinterId(`${device}/${port}`);
    return `${p.device}/${p.port}`;
  } catch {
    throw new TopicError(protocolError('BAD_FIELD', `${device.slice(0, 64)}/${port.slice(0, 8)}: a printer is <device id>/<port 0-255>`));
  }
}
