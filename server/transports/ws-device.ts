// /v1/device over WebSocket: decode with the protocol decoders, hand the
// result to the core's DeviceSession. The connection was authenticated in
// the upgrade, so the session starts knowing which device it is.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { controlResultRef, decodeDeviceMessage } from '../../protocol/device-messages.js';
import { isObj, MAX_JSON_DEPTH, nestsDeeper } from '../../protocol/fields.js';
import { CLOSE } from '../../protocol/errors.js';
import type { Hub } from '../core/hub.js';
import type { Claim, DeviceSession } from '../core/device-session.js';
import type { Peer, SharedText } from '../core/peer.js';
import { OP_BINARY, serverFrame, serverTextFrame } from './ws-frame.js';
import { ServerWebSocket, type SocketOptions } from './ws-server-socket.js';
import { FencedOut } from '../store/owners.js';

export interface DeviceListener extends SocketOptions {
  readonly hub: Hub;
  readonly sockets: Set<DeviceSocket>;
}

/** Each shared text's frame, built by the first socket that sends it. */
const frames = new WeakMap<SharedText, Buffer>();

/** Text frames at least this long always report their flush (far above any control or job message). */
const QUIET_TEXT_MAX = 16 * 1024;

/**
 * A device's connection: its WebSocket and the core's Peer in one object
 * (a server holds 20,000 of these).
 */
export class DeviceSocket extends ServerWebSocket<DeviceListener> implements Peer {
  private session: DeviceSession | undefined;

  /** What every device connection of a server shares: the hub, the limits, the set of open ones. */
  static listener(hub: Hub, closeGraceMs: number): DeviceListener {
    return { hub, maxPayload: hub.limits.maxDeviceFrame, closeGraceMs, sockets: new Set() };
  }

  /**
   * Completes the upgrade of an authenticated device and starts its session;
   * the listener's `sockets` holds every open device socket (counted against
   * the limit, closed at shutdown).
   */
  static attach(listener: DeviceListener, req: IncomingMessage, socket: Duplex, head: Buffer, id: string, address: string | undefined): void {
    const ds = new DeviceSocket(socket, listener);
    if (!ds.accept(req, head)) return;
    listener.sockets.add(ds);
    ds.session = listener.hub.connectDevice(id, ds, address);
  }

  sendText(text: string): void {
    if (!this.open) return;
    // A write callback costs the socket a request object and a tick each; a
    // broadcast to 10,000 devices paid more for them than for the frames.
    // Only a write that queues behind others (or is large) can be what a
    // waiting job pump needs to hear flushed: the first into an empty buffer
    // goes to the kernel at once, and any write queued after it fires later.
    this.writeFrame(serverTextFrame(text), this.socket.writableLength > 0 || text.length >= QUIET_TEXT_MAX);
  }

  sendShared(shared: SharedText): void {
    if (!this.open) return;
    let frame = frames.get(shared);
    if (frame === undefined) {
      frame = serverTextFrame(shared.text);
      frames.set(shared, frame);
    }
    this.writeFrame(frame, this.socket.writableLength > 0 || frame.length >= QUIET_TEXT_MAX);
  }

  sendBinary(bytes: Uint8Array): void {
    if (!this.open) return;
    this.writeFrame(serverFrame(OP_BINARY, bytes), true);
    // Job data: the ack it may cause is paid for.
    this.session?.dataSent();
  }

  batch(send: () => void): void {
    // Corks nest: every frame of the batch leaves in one write when it is lifted.
    this.socket.cork();
    try {
      send();
    } finally {
      this.socket.uncork();
    }
  }

  protected override onFlushed(): void {
    this.session?.writable();
  }

  protected onText(text: string): void {
    const s = this.session;
    if (s === undefined) return;
    try {
      // Before any work on it: a flood is refused for the price of a counter.
      if (!s.admit()) return;
      const decoded = decodeDeviceMessage(text);
      s.text(decoded, decoded.ok ? undefined : claim(text));
    } catch (e) {
      this.failed('message', e);
    }
  }

  protected onBinary(): void {
    const s = this.session;
    if (s === undefined) return;
    try {
      if (s.admit()) s.binary();
    } catch (e) {
      this.failed('message', e);
    }
  }

  protected onPong(): void {
    this.session?.life();
  }

  protected onClose(code: number): void {
    this.opts.sockets.delete(this);
    const s = this.session;
    if (s === undefined) return;
    this.opts.hub.log('debug', 'device socket closed', { device: s.id, code });
    try {
      s.gone();
    } catch (e) {
      this.failed('close', e);
    }
  }

  protected onError(err: Error): void {
    this.opts.hub.log('info', 'device socket error', { device: this.session?.id, error: err.message });
  }

  /** Our own failure while handling input must not take the process down or leave the connection in an unknown state. */
  private failed(what: string, e: unknown): void {
    if (e instanceof FencedOut) {
      // Another node holds the device now: this connection is a stale one.
      this.opts.hub.log('info', 'device held by another node; stale connection closed', { device: e.device, epoch: e.epoch });
      this.session?.close(CLOSE.REPLACED);
      return;
    }
    this.opts.hub.log('error', `device ${what} failed`, { device: this.session?.id, error: e instanceof Error ? e.stack : String(e) });
    this.session?.close(CLOSE.INTERNAL);
  }
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
