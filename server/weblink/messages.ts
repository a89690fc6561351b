// What a Weblink printer sends as JSON, decoded; and the reassembly of JSON
// that a printer splits over several WebSocket messages (a long SGD answer
// such as allconfig arrives in pieces, each of which is not JSON by itself).
//
// Reassembly: pieces are appended until the text parses. The text held is
// bounded by maxWeblinkMessage; a piece that takes it over fails the
// connection (the caller closes it 1009), since what is held can then never
// become a message we would accept. The pieces of one message are bounded
// too, and the text is only tried as JSON when it ends the way a JSON value
// ends: otherwise a printer sending a long message a byte at a time would
// make the server parse it again at every byte.

import { MAX_JSON_DEPTH, nestsDeeper } from '../../protocol/fields.js';

export const MAIN_SUBPROTOCOL = 'v1.weblink.zebra.com';
export const RAW_CHANNEL = 'v1.raw.zebra.com';
export const CONFIG_CHANNEL = 'v1.config.zebra.com';
export type ChannelName = typeof RAW_CHANNEL | typeof CONFIG_CHANNEL;

export type Assembled =
  | { kind: 'more' }
  | { kind: 'json'; value: unknown }
  | { kind: 'too-large'; bytes: number }
  | { kind: 'bad'; message: string };

/** Pieces one message may come in; a real printer splits a long answer into a handful. */
export const MAX_PIECES = 64;

export class Reassembler {
  private held = '';
  private pieces = 0;

  constructor(private readonly max: number) {}

  /** Adds one message's text; answers with a whole JSON value once the pieces make one. */
  push(text: string): Assembled {
    const joined = this.held + text;
    if (joined.length > this.max || this.pieces >= MAX_PIECES) {
      this.held = '';
      this.pieces = 0;
      return { kind: 'too-large', bytes: joined.length };
    }
    if (this.held !== '' && !endsLikeJson(joined)) {
      this.held = joined;
      this.pieces += 1;
      return { kind: 'more' };
    }
    if (nestsDeeper(joined, MAX_JSON_DEPTH)) {
      this.held = '';
      this.pieces = 0;
      return { kind: 'bad', message: `JSON nests deeper than ${MAX_JSON_DEPTH}` };
    }
    try {
      const value: unknown = JSON.parse(joined);
      this.held = '';
      this.pieces = 0;
      return { kind: 'json', value };
    } catch {
      // A piece that cannot start or continue JSON is garbage, not a fragment.
      if (this.held === '' && !/^\s*[{[]/.test(joined)) return { kind: 'bad', message: 'message is not JSON' };
      this.held = joined;
      this.pieces += 1;
      return { kind: 'more' };
    }
  }

  get pending(): number {
    return this.held.length;
  }
}

/** The first message of a connection says what it is. */
export type FirstMessage =
  | { kind: 'main'; discovery: string }
  | { kind: 'channel'; name: string; uniqueId: string | undefined }
  | { kind: 'unknown'; message: string };

export function classifyFirst(value: unknown): FirstMessage {
  if (!isRecord(value)) return { kind: 'unknown', message: 'first message is not a JSON object' };
  const discovery = value['discovery_b64'];
  if (typeof discovery === 'string') return { kind: 'main', discovery: discovery.slice(0, 4096) };
  const name = value['channel_name'];
  if (typeof name === 'string') {
    const id = value['unique_id'];
    return { kind: 'channel', name: name.slice(0, 128), uniqueId: typeof id === 'string' ? id.slice(0, 64) : undefined };
  }
  return { kind: 'unknown', message: 'first message has neither discovery_b64 nor channel_name' };
}

export interface Alert {
  readonly condition: string;
  readonly set: boolean;
}

/** An alert message on main, or undefined for anything else the printer says there. */
export function parseAlert(value: unknown): Alert | undefined {
  if (!isRecord(value)) return undefined;
  const alert = value['alert'];
  if (!isRecord(alert)) return undefined;
  const condition = alert['condition_id'] ?? alert['condition'];
  const state = alert['condition_state'];
  if (typeof condition !== 'string' || (state !== 'SET' && state !== 'CLEAR')) return undefined;
  return { condition: condition.toUpperCase().slice(0, 64), set: state === 'SET' };
}

/** The last character that is not white space closes an object or an array. */
function endsLikeJson(text: string): boolean {
  for (let i = text.length - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    return c === 0x7d || c === 0x5d;
  }
  return false;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every frame to a printer is binary: Link-OS ignores text frames. */
export function jsonFrame(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
