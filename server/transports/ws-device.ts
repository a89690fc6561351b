// /v1/device over WebSocket: decode with the protocol decoders, hand the
// result to the core's DeviceSession. The connection was authenticated in
// the upgrade, so the session starts knowing which device it is.

import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { controlResultRef, decodeDeviceMessage } from '../../protocol/device-messages.js';
import { isObj, MAX_JSON_DEPTH, nestsDeeper } from '../../protocol/fields.js';
import { CLOSE } from '../../protocol/errors.js';
import type { Hub } from '../core/hub.js';
import type { Claim, DeviceSession } from '../core/device-session.js';
import { messageText, WsPeer } from './ws-peer.js';

/** What the shared listeners below need of each device socket. */
interface Attached {
  readonly hub: Hub;
  readonly session: DeviceSession;
}

// The listeners are the same functions for every device socket (an emitter
// calls a listener with itself as `this`): a server holding 20,000 devices
// keeps one entry here per socket rather than a set of closures.
const attached = new WeakMap<WebSocket, Attached>();

/** `socket`: the upgraded socket under `ws`, for frames built once for many devices. */
export function attachDevice(hub: Hub, ws: WebSocket, id: string, address: string | undefined, closeGraceMs: number, socket?: Duplex): void {
  // The peer is made before the session it reports drains and data frames to.
  const peer = new WsPeer(ws, closeGraceMs, socket);
  const session = hub.connectDevice(id, peer, address);
  peer.watcher = session;
  attached.set(ws, { hub, session });
  ws.on('message', onMessage);
  ws.on('pong', onPong);
  ws.on('close', onClose);
  ws.on('error', onError);
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const a = attached.get(this);
  if (a === undefined) return;
  const s = a.session;
  try {
    // Before any work on it: a flood is refused for the price of a counter.
    if (!s.admit()) return;
    if (isBinary) return s.binary();
    const text = messageText(data);
    const decoded = decodeDeviceMessage(text);
    s.text(decoded, decoded.ok ? undefined : claim(text));
  } catch (e) {
    failed(a, 'message', e);
  }
}

function onPong(this: WebSocket): void {
  attached.get(this)?.session.life();
}

function onClose(this: WebSocket, code: number): void {
  const a = attached.get(this);
  if (a === undefined) return;
  a.hub.log('debug', 'device socket closed', { device: a.session.id, code });
  try {
    a.session.gone();
  } catch (e) {
    failed(a, 'close', e);
  }
}

function onError(this: WebSocket, err: Error): void {
  const a = attached.get(this);
  a?.hub.log('info', 'device socket error', { device: a.session.id, error: err.message });
}

/** Our own failure while handling input must not take the process down or leave the connection in an unknown state. */
function failed(a: Attached, what: string, e: unknown): void {
  a.hub.log('error', `device ${what} failed`, { device: a.session.id, error: e instanceof Error ? e.stack : String(e) });
  a.session.close(CLOSE.INTERNAL);
}

/** What a message that failed to decode still says about itself. */
function claim(text: string): Claim {
  return { hello: helloClaim(text), controlRef: controlResultRef(text) };
}

/**
 * A hello from a newer protocol may not decode as ours; its version still
 * deserves the VERSION close rather than a generic one.
 */
function helloClaim(text: string): Claim['hello'] {
  if (nestsDeeper(text, MAX_JSON_DEPTH)) return undefined;
  try {
    const o: unknown = JSON.parse(text);
    if (!isObj(o) || o['t'] !== 'hello') return undefined;
    const v = o['v'];
    return { major: Array.isArray(v) && Number.isInteger(v[0]) ? (v[0] as number) : undefined };
  } catch {
    return undefined;
  }
}
