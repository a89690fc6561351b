// /v1/device over WebSocket: decode with the protocol decoders, hand the
// result to the core's DeviceSession. The connection was authenticated in
// the upgrade, so the session starts knowing which device it is.

import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { controlResultRef, decodeDeviceMessage } from '../../protocol/device-messages.js';
import { isObj, MAX_JSON_DEPTH, nestsDeeper } from '../../protocol/fields.js';
import { CLOSE } from '../../protocol/errors.js';
import type { Hub } from '../core/hub.js';
import type { Claim } from '../core/device-session.js';
import { messageText, WsPeer } from './ws-peer.js';

/** `socket`: the upgraded socket under `ws`, for frames built once for many devices. */
export function attachDevice(hub: Hub, ws: WebSocket, id: string, address: string | undefined, closeGraceMs: number, socket?: Duplex): void {
  // The peer is made before the session it reports drains and data frames to.
  const peer = new WsPeer(ws, closeGraceMs, socket);
  const s = hub.connectDevice(id, peer, address);
  peer.watcher = s;

  // Our own failure while handling input must not take the process down or
  // leave the connection in an unknown state.
  const guarded = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      hub.log('error', `device ${what} failed`, { device: id, error: e instanceof Error ? e.stack : String(e) });
      s.close(CLOSE.INTERNAL);
    }
  };

  ws.on('message', (data, isBinary) =>
    guarded('message', () => {
      // Before any work on it: a flood is refused for the price of a counter.
      if (!s.admit()) return;
      if (isBinary) return s.binary();
      const text = messageText(data);
      const decoded = decodeDeviceMessage(text);
      s.text(decoded, decoded.ok ? undefined : claim(text));
    }),
  );
  ws.on('pong', () => s.life());
  ws.on('close', (code) => {
    hub.log('debug', 'device socket closed', { device: id, code });
    guarded('close', () => s.gone());
  });
  ws.on('error', (err) => hub.log('info', 'device socket error', { device: id, error: err.message }));
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
