// Control relay: one control message to one device, a tag or every device,
// with a delivery report per device. A device that is not registered is
// UNKNOWN_DEVICE and a tag no registered device carries UNKNOWN_TAG; every
// device when there are none is an empty report. The device message is encoded once and
// the same text goes to every recipient (one ref for all). Devices that are
// not connected are reported 'offline' at once; the others get until the
// timeout to answer with control.result, and whoever has not answered by then
// is reported 'timeout'. A device that disconnects meanwhile is 'offline'.
// The report always comes back: a device whose answer cannot be read is
// reported 'error' (its session tells us, see DeviceSession.text), a send
// that fails is that device's 'error', and the caller is answered before
// the subscribers hear control.delivered, so nothing after can lose it.

import { randomUUID } from 'node:crypto';
import type { DeliveryReport, Target } from '../../protocol/client-messages.js';
import type { DeviceMessage } from '../../protocol/device-messages.js';
import type { Obj } from '../../protocol/fields.js';
import { encodeServerMessage } from '../../protocol/device-messages.js';
import { PrintbridgeError } from '../errors.js';
import type { Store } from '../store/db.js';
import { getDevice, listDeviceIdsWithTag, registeredIds } from '../store/devices.js';
import type { Cancel, Clock, Log } from './context.js';
import type { DeviceSession } from './device-session.js';
import type { EventBus } from './events.js';
import type { SharedText } from './peer.js';
import type { Registry } from './registry.js';

/**
 * Devices held by other nodes of a cluster (cluster/cluster.ts): a control
 * message for them goes to their node, which delivers it and sends back
 * its reports (`remoteReport`).
 */
export interface RemoteControl {
  /** Of `ids`, those another live node holds, by node. */
  holders(ids: readonly string[]): Map<string, string[]>;
  forward(node: string, ref: string, to: Target, name: string, args: Obj, timeoutMs: number): void;
}

/** What the control relay uses, and nothing more; the composition root (hub.ts) builds it. */
export interface RouterDeps {
  /** Registered devices, to resolve a target. */
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Log;
  /** Online sessions, to deliver to. */
  readonly registry: Pick<Registry<DeviceSession>, 'get' | 'has' | 'all'>;
  /** Subscribers hear every report (control.delivered). */
  readonly events: Pick<EventBus, 'emit'>;
  /** Set when other nodes share the store. */
  remote?: RemoteControl | undefined;
}

/** A node answering for its own devices lets its report travel back before the asking node stops waiting. */
const FORWARDED_SHARE = 0.9;

export interface ControlOutcome {
  ref: string;
  reports: DeliveryReport[];
}

interface Pending {
  readonly ref: string;
  readonly targets: readonly string[];
  readonly reports: Map<string, DeliveryReport>;
  readonly waiting: Set<string>;
  /** Devices waited for from another node, by id: that node. */
  readonly elsewhere: Map<string, string>;
  /** Sent for another node: its report goes back there, and subscribers here do not hear it. */
  readonly forwarded: boolean;
  dispatching: boolean;
  cancelTimer: Cancel | undefined;
  resolve(outcome: ControlOutcome): void;
}

export class Router {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly deps: RouterDeps) {}

  /** From now on, devices other nodes hold are reached through them. */
  reachOtherNodes(remote: RemoteControl): void {
    this.deps.remote = remote;
  }

  send(to: Target, name: string, args: Obj, timeoutMs: number): Promise<ControlOutcome> {
    return this.dispatch(this.resolve(to), to, randomUUID(), name, args, timeoutMs, false);
  }

  /**
   * Another node asks this one to deliver its control message `ref` to the
   * devices of `to` that this node holds; the reports go back to it.
   */
  serveForwarded(ref: string, to: Target, name: string, args: Obj, timeoutMs: number): Promise<ControlOutcome> {
    return this.dispatch(this.held(to), to, ref, name, args, Math.floor(timeoutMs * FORWARDED_SHARE), true);
  }

  /** Reports from `node` for a control message sent from here; `last`: that node has no more, and what it did not report it does not hold. */
  remoteReport(ref: string, node: string, reports: readonly DeliveryReport[], last: boolean): void {
    const p = this.pending.get(ref);
    if (p === undefined) return;
    for (const r of reports) {
      if (p.elsewhere.get(r.device) !== node || !p.waiting.delete(r.device)) continue;
      p.reports.set(r.device, r);
    }
    if (last) {
      for (const [id, from] of p.elsewhere) {
        if (from === node && p.waiting.delete(id)) p.reports.set(id, { device: id, status: 'offline' });
      }
    }
    if (p.waiting.size === 0 && !p.dispatching) this.settle(p);
  }

  private dispatch(targets: readonly string[], to: Target, ref: string, name: string, args: Obj, timeoutMs: number, forwarded: boolean): Promise<ControlOutcome> {
    const text: SharedText = { text: encodeServerMessage({ t: 'control', ref, name, args }) };
    return new Promise((resolve) => {
      const p: Pending = {
        ref, targets, reports: new Map(), waiting: new Set(), elsewhere: new Map(), forwarded, dispatching: true, cancelTimer: undefined, resolve,
      };
      this.pending.set(ref, p);
      // One pass over the targets (a broadcast has as many as devices): each
      // id is looked up once. Waiting is filled before anything is sent: a
      // send can close a slow device, which reports it offline through
      // deviceOffline().
      const online: DeviceSession[] = [];
      const absent: string[] = [];
      for (const id of targets) {
        const session = this.deps.registry.get(id);
        if (session?.phase === 'online') {
          online.push(session);
          p.waiting.add(id);
        } else {
          absent.push(id);
        }
      }
      // What this node does not hold another may: it is asked to deliver there.
      const holders = forwarded || absent.length === 0 ? undefined : this.deps.remote?.holders(absent);
      for (const [node, ids] of holders ?? []) {
        for (const id of ids) {
          p.waiting.add(id);
          p.elsewhere.set(id, node);
        }
      }
      for (const id of absent) if (!p.waiting.has(id)) p.reports.set(id, { device: id, status: 'offline' });
      for (const node of holders?.keys() ?? []) this.deps.remote?.forward(node, ref, to, name, args, timeoutMs);
      for (const session of online) this.deliver(p, session, text);
      p.dispatching = false;
      this.deps.log('debug', 'control sent', { ref, name, targets: targets.length, online: online.length });
      if (p.waiting.size === 0) return this.settle(p);
      p.cancelTimer = this.deps.clock.after(timeoutMs, () => {
        for (const id of p.waiting) p.reports.set(id, { device: id, status: 'timeout' });
        p.waiting.clear();
        this.settle(p);
      });
    });
  }

  result(device: string, m: Extract<DeviceMessage, { t: 'control.result' }>): void {
    const p = this.pending.get(m.ref);
    // After a timeout the answer is late, not wrong: drop it quietly.
    if (p === undefined || !p.waiting.has(device)) return;
    p.waiting.delete(device);
    // Only the fields it has: a broadcast's report holds one per device, and is encoded whole.
    p.reports.set(device, m.ok && m.data === undefined && m.message === undefined ? { device, status: 'ok' } : { device, status: m.ok ? 'ok' : 'error', code: m.code, message: m.message, data: m.data });
    if (p.waiting.size === 0 && !p.dispatching) this.settle(p);
  }

  /** Called only when a device really goes offline, not when a newer connection replaces it (that one may still answer). */
  deviceOffline(device: string): void {
    for (const p of [...this.pending.values()]) {
      if (!p.waiting.delete(device)) continue;
      p.reports.set(device, { device, status: 'offline' });
      if (p.waiting.size === 0 && !p.dispatching) this.settle(p);
    }
  }

  /** Server shutdown: answer everything still waiting as timed out. */
  stop(): void {
    for (const p of [...this.pending.values()]) {
      for (const id of p.waiting) p.reports.set(id, { device: id, status: 'timeout' });
      p.waiting.clear();
      this.settle(p);
    }
  }

  /** The devices of `to` that this node holds (a target another node resolved already). */
  private held(to: Target): string[] {
    if ('device' in to) return this.deps.registry.has(to.device) ? [to.device] : [];
    const ids: string[] = [];
    const tagged = 'tag' in to ? new Set(listDeviceIdsWithTag(this.deps.store, to.tag)) : undefined;
    for (const session of this.deps.registry.all()) if (tagged === undefined || tagged.has(session.id)) ids.push(session.id);
    return ids.sort();
  }

  private resolve(to: Target): readonly string[] {
    const { store, registry } = this.deps;
    if ('device' in to) {
      if (getDevice(store, to.device) === undefined && !registry.has(to.device)) throw new PrintbridgeError('UNKNOWN_DEVICE', to.device);
      return [to.device];
    }
    // Ids only: parsing every device's row (tags, ports) costs more than the whole send.
    if ('tag' in to) {
      // A mistyped tag reaches nobody: that is the caller's mistake, not an empty success.
      const ids = listDeviceIdsWithTag(store, to.tag);
      if (ids.length === 0) throw new PrintbridgeError('UNKNOWN_TAG', to.tag);
      return ids;
    }
    const { list, set } = registeredIds(store);
    let extra: string[] | undefined;
    for (const session of registry.all()) {
      if (!set.has(session.id)) (extra ??= []).push(session.id);
    }
    return extra === undefined ? list : [...list, ...extra].sort();
  }

  /** One device's copy; our own failure to send it is that device's error, not the whole relay's. */
  private deliver(p: Pending, session: DeviceSession, text: SharedText): void {
    try {
      session.sendText(text);
    } catch (e) {
      const id = session.id;
      this.deps.log('error', 'control not sent to a device', { ref: p.ref, device: id, error: e instanceof Error ? e.stack : String(e) });
      if (p.waiting.delete(id)) p.reports.set(id, { device: id, status: 'error', code: 'INTERNAL', message: 'the server could not send the control message' });
    }
  }

  private settle(p: Pending): void {
    if (!this.pending.delete(p.ref)) return;
    p.cancelTimer?.();
    const reports = p.targets.map((id) => p.reports.get(id) ?? { device: id, status: 'timeout' as const });
    p.resolve({ ref: p.ref, reports });
    if (!p.forwarded) this.deps.events.emit({ event: 'control.delivered', ref: p.ref, reports });
  }
}
