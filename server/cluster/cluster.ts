// This node's part in a cluster: several server nodes sharing one
// PostgreSQL store, any of which may hold any device's connection and serve
// any client.
//
//   - Ownership: the node that welcomes a device claims it under a new
//     epoch (store/owners.ts) and tells the others; a node still holding an
//     older connection of that device closes it (REPLACED). Job writes are
//     fenced by the epoch, so a node that lost a device moves none of its
//     jobs' facts.
//   - Leases: the owner renews the lease of every device it holds; a device
//     whose lease ran out is offline to every node, whatever became of the
//     node that held it.
//   - Rows are the truth; the bus only wakes. When rows changed elsewhere (a
//     job submitted on another node for a device held here, a cancel, a
//     device removed), this node looks at the store again and offers its
//     devices what is now queued for them. A lost notification costs a wait
//     for the periodic look, never a wrong answer.
//   - Events: what subscribers of this node hear (job updates, devices and
//     printers coming and going) is passed on to the other nodes, whose
//     subscribers hear it too.

import { CLOSE } from '../../protocol/errors.js';
import type { ClientEvent, DeliveryReport, Target } from '../../protocol/client-messages.js';
import type { Obj } from '../../protocol/fields.js';
import type { RemoteControl } from '../core/router.js';
import { Elsewhere, type Vanished } from './elsewhere.js';
import type { Cancel, Clock, Log } from '../core/context.js';
import type { DeviceOwnership } from '../core/device-session.js';
import type { EventBus, Listener } from '../core/events.js';
import { writeHellosNow } from '../store/devices.js';
import { claimDevices, liveOwners, nodesOf, releaseDevice, renewLeases } from '../store/owners.js';
import type { ClusterBus, Store } from '../store/store.js';

/** How long a claim holds without renewal: a node that died holds its devices this long at most. */
export const LEASE_MS = 15_000;
/** Claims wait at most this long for others to share their transaction… */
const CLAIM_WAIT_MS = 5;
/** …or until this many wait. */
export const CLAIM_BATCH = 200;
/** A node not heard from this long is gone, with all it held. */
export const SILENT_MS = LEASE_MS;
/** Rows changed elsewhere are looked at once per this, however many notifications came. */
const LOOK_DEBOUNCE_MS = 20;

/** Event kinds passed between nodes: what a subscriber follows. */
const RELAYED: ReadonlySet<ClientEvent['event']> = new Set([
  'job.updated', 'device.online', 'device.offline', 'device.status', 'device.removed', 'printer.status', 'client.connected', 'client.disconnected',
]);

type BusMessage =
  | { k: 'owner'; n: string; d: string; e: number }
  | { k: 'event'; n: string; ev: ClientEvent }
  /** Node `n` is alive. */
  | { k: 'beat'; n: string }
  /** A client token was revoked at node `n`: its connections close everywhere. */
  | { k: 'revoked'; n: string; token: string }
  /** Node `n` started: every node tells it what it holds. */
  | { k: 'sync'; n: string }
  /** What node `n` holds, as the events that announced it, for node `at`. */
  | { k: 'state'; n: string; at: string; events: ClientEvent[] }
  /** A control message for the devices of `to` that node `at` holds, from node `n`. */
  | { k: 'ctl'; n: string; at: string; ref: string; to: Target; name: string; args: Obj; ms: number }
  /** Reports for control message `ref`, from node `n` to node `at`; `last` on the final part. */
  | { k: 'ctl.report'; n: string; at: string; ref: string; reports: DeliveryReport[]; last: boolean };

/** The control relay of this node, as the cluster drives it (core/router.ts). */
export interface ControlRelay {
  serveForwarded(ref: string, to: Target, name: string, args: Obj, timeoutMs: number): Promise<{ reports: DeliveryReport[] }>;
  remoteReport(ref: string, node: string, reports: readonly DeliveryReport[], last: boolean): void;
}

/** A device connection as the cluster sees it. */
export interface HeldDevice {
  readonly id: string;
  close(entry: (typeof CLOSE)[keyof typeof CLOSE]): void;
}

export interface ClusterDeps {
  readonly store: Store;
  readonly bus: ClusterBus;
  readonly clock: Clock;
  readonly log: Log;
  /** This node's name, unique in the cluster. */
  readonly node: string;
  readonly events: EventBus;
  /** This node's online connection of a device. */
  readonly registry: { get(id: string): HeldDevice | undefined };
  /** Rows changed elsewhere: look at the store again, and offer this node's devices what is queued for them. */
  readonly rowsChanged: () => void;
  readonly controls: ControlRelay;
  /** What this node holds, told to a node that starts. */
  readonly stateHere: () => ClientEvent[];
  /** Closes the connections a revoked client token opened at this node. */
  readonly closeClientsOf: (tokenId: string) => void;
  readonly leaseMs?: number;
}

export class Cluster implements DeviceOwnership, RemoteControl {
  private readonly epochs = new WeakMap<object, number>();
  private readonly leaseMs: number;
  private readonly stopListening: () => void;
  private readonly relay: Listener;
  /** An event from another node is being told here: it is not passed on again. */
  private relaying = false;
  private cancelLook: Cancel | undefined;
  private cancelRenew: Cancel | undefined;
  private readonly claims: { session: HeldDevice; then: () => boolean }[] = [];
  private cancelClaims: Cancel | undefined;
  private stopped = false;
  /** What the other nodes hold. */
  readonly elsewhere = new Elsewhere();

  constructor(private readonly deps: ClusterDeps) {
    this.leaseMs = deps.leaseMs ?? LEASE_MS;
    this.stopListening = deps.bus.listen({
      message: (text) => this.heard(text),
      changed: () => this.lookSoon(),
      // Asked once this node hears the answers: at start, and after its listening connection broke.
      listening: () => this.publish({ k: 'sync', n: deps.node }),
    });
    this.relay = {
      hears: (kind) => RELAYED.has(kind),
      wants: () => !this.relaying,
      send: (text) => this.passOn(text),
    };
    deps.events.add(this.relay);
    this.renewSoon();
  }

  get node(): string {
    return this.deps.node;
  }

  /**
   * A device said hello here: this node holds it from now on, under a new
   * epoch, and `then` welcomes it. Claims are taken together, a few
   * milliseconds' worth in one transaction (with the new ports of their
   * hellos): a fleet reconnecting costs a few statements, not two a device.
   */
  claim(session: HeldDevice, then: () => boolean): void {
    // The same device twice in one batch: the earlier ones go first, so epochs follow connections.
    if (this.claims.some((c) => c.session.id === session.id)) this.claimAll();
    this.claims.push({ session, then });
    if (this.claims.length >= CLAIM_BATCH) this.claimAll();
    else this.cancelClaims ??= this.deps.clock.after(CLAIM_WAIT_MS, () => this.claimAll());
  }

  private claimAll(): void {
    this.cancelClaims?.();
    this.cancelClaims = undefined;
    const batch = this.claims.splice(0);
    if (batch.length === 0) return;
    const { store, clock, node } = this.deps;
    const ids = batch.map((c) => c.session.id);
    let epochs: Map<string, number>;
    try {
      epochs = store.db.transaction(() => {
        // Their printers, from the hellos just taken, before any node is told
        // they are here: a client of another node may submit for one at once.
        writeHellosNow(store, ids);
        return claimDevices(store, ids, node, clock.now() + this.leaseMs);
      })();
    } catch (e) {
      this.deps.log('warn', 'devices not claimed; their connections close and they come again', { devices: ids.length, error: e instanceof Error ? e.message : String(e) });
      for (const c of batch) c.session.close(CLOSE.INTERNAL);
      return;
    }
    for (const { session, then } of batch) {
      const epoch = epochs.get(session.id);
      if (epoch === undefined) continue;
      this.epochs.set(session, epoch);
      this.elsewhere.heldHere(session.id);
      this.publish({ k: 'owner', n: node, d: session.id, e: epoch });
      // Closed while it waited: it holds nothing here after all.
      if (!then()) this.release(session);
    }
  }

  /**
   * The device's connection here ended: its lease ends too, unless another
   * node holds it already; then it moved on (true), and is not offline.
   */
  release(session: HeldDevice): boolean {
    const epoch = this.epochs.get(session);
    if (epoch === undefined) return false;
    this.epochs.delete(session);
    try {
      return !releaseDevice(this.deps.store, session.id, epoch);
    } catch (e) {
      // The lease then runs out by itself.
      this.deps.log('warn', 'device release not stored', { device: session.id, error: e instanceof Error ? e.message : String(e) });
      return false;
    }
  }

  /** A client token revoked here: the other nodes close its connections too. */
  tokenRevoked(tokenId: string): void {
    this.publish({ k: 'revoked', n: this.deps.node, token: tokenId });
  }

  holders(ids: readonly string[]): Map<string, string[]> {
    const wanted = new Set(ids);
    const byNode = new Map<string, string[]>();
    for (const owner of liveOwners(this.deps.store, this.deps.clock.now())) {
      if (owner.node === this.deps.node || !wanted.has(owner.device)) continue;
      let list = byNode.get(owner.node);
      if (list === undefined) byNode.set(owner.node, (list = []));
      list.push(owner.device);
    }
    return byNode;
  }

  forward(node: string, ref: string, to: Target, name: string, args: Obj, timeoutMs: number): void {
    const m: BusMessage = { k: 'ctl', n: this.deps.node, at: node, ref, to, name, args, ms: timeoutMs };
    const text = JSON.stringify(m);
    // Arguments too large for the bus: that node's devices are reported as it does for any failure to reach them.
    if (Buffer.byteLength(text) > this.deps.bus.maxMessage) {
      this.deps.log('warn', 'control message too large to pass to another node', { ref, node, bytes: text.length });
      return;
    }
    this.deps.bus.publish(text);
  }

  stop(): void {
    this.stopped = true;
    this.stopListening();
    this.deps.events.remove(this.relay);
    this.cancelLook?.();
    this.cancelRenew?.();
    this.cancelClaims?.();
    this.claims.length = 0;
  }

  private heard(text: string): void {
    let m: BusMessage;
    try {
      m = JSON.parse(text) as BusMessage;
    } catch {
      this.deps.log('warn', 'unreadable cluster message', { text: text.slice(0, 200) });
      return;
    }
    const now = this.deps.clock.now();
    if (typeof m.n === 'string') this.elsewhere.beat(m.n, now);
    switch (m.k) {
      case 'beat':
        return;
      case 'revoked':
        this.deps.closeClientsOf(m.token);
        return;
      case 'sync':
        this.sendState(m.n);
        return;
      case 'state':
        if (m.at === this.deps.node) for (const e of m.events) this.elsewhere.event(m.n, e, now);
        return;
      case 'owner': {
        const held = this.deps.registry.get(m.d);
        const mine = held === undefined ? undefined : this.epochs.get(held);
        if (held === undefined || mine === undefined || mine >= m.e) return;
        this.deps.log('info', 'device moved to another node', { device: m.d, node: m.n, epoch: m.e });
        held.close(CLOSE.REPLACED);
        return;
      }
      case 'event': {
        // Another node of this cluster encoded it; a kind this node does not pass on (a newer node's) is left out.
        if (typeof m.ev !== 'object' || m.ev === null || !RELAYED.has(m.ev.event)) return;
        if (this.elsewhere.event(m.n, m.ev, now)) this.tell(m.ev);
        return;
      }
      case 'ctl':
        if (m.at === this.deps.node) void this.serveControl(m);
        return;
      case 'ctl.report':
        if (m.at === this.deps.node) this.deps.controls.remoteReport(m.ref, m.n, m.reports, m.last);
        return;
      default:
        return;
    }
  }

  /** Delivers another node's control message to the devices held here, and sends the reports back in parts the bus takes. */
  private async serveControl(m: Extract<BusMessage, { k: 'ctl' }>): Promise<void> {
    const outcome = await this.deps.controls.serveForwarded(m.ref, m.to, m.name, m.args, m.ms);
    const parts: DeliveryReport[][] = [[]];
    let size = 200 + m.ref.length + m.n.length + this.deps.node.length;
    for (const r of outcome.reports) {
      const bytes = Buffer.byteLength(JSON.stringify(r)) + 1;
      if (size + bytes > this.deps.bus.maxMessage && (parts.at(-1)?.length ?? 0) > 0) {
        parts.push([]);
        size = 200 + m.ref.length + m.n.length + this.deps.node.length;
      }
      parts.at(-1)?.push(r);
      size += bytes;
    }
    parts.forEach((reports, i) => this.publish({ k: 'ctl.report', n: this.deps.node, at: m.n, ref: m.ref, reports, last: i === parts.length - 1 }));
  }

  /** Tells this node's subscribers an event from elsewhere, without passing it on again. */
  private tell(e: ClientEvent): void {
    this.relaying = true;
    try {
      this.deps.events.emit(e);
    } finally {
      this.relaying = false;
    }
  }

  /** What this node holds, for a node that started, in parts the bus takes. */
  private sendState(to: string): void {
    const parts: ClientEvent[][] = [[]];
    const overhead = 100 + to.length + this.deps.node.length;
    let size = overhead;
    for (const e of this.deps.stateHere()) {
      const bytes = Buffer.byteLength(JSON.stringify(e)) + 1;
      if (bytes + overhead > this.deps.bus.maxMessage) continue;
      if (size + bytes > this.deps.bus.maxMessage) {
        parts.push([]);
        size = overhead;
      }
      parts.at(-1)?.push(e);
      size += bytes;
    }
    for (const events of parts) if (events.length > 0) this.publish({ k: 'state', n: this.deps.node, at: to, events });
  }

  /** Nodes gone silent: what they held is gone, to this node's subscribers too. */
  private forgetSilent(): void {
    const gone = this.elsewhere.forgetSilent(this.deps.clock.now() - SILENT_MS);
    for (const device of gone.devices) this.tell({ event: 'device.offline', device });
    for (const printer of gone.printers) this.tell({ event: 'printer.status', printer });
    for (const client of gone.clients) this.tell({ event: 'client.disconnected', client });
    if (this.nodesGone !== undefined && gone.devices.length > 0) this.nodesGone(this.orphans(gone));
  }

  /**
   * Of what silent nodes held, what no live node has claimed since: a device
   * that reconnected elsewhere (its claim is in the store before its new
   * node says anything of it) is that node's to tell.
   */
  private orphans(gone: Vanished): Vanished {
    try {
      const owners = nodesOf(this.deps.store, gone.devices.map((d) => d.id));
      const devices = gone.devices.filter((d) => {
        const owner = owners.get(d.id);
        return owner === undefined || gone.nodes.includes(owner);
      });
      const kept = new Set(devices.map((d) => d.id));
      return { ...gone, devices, printers: gone.printers.filter((p) => kept.has(p.device)) };
    } catch (e) {
      // The store out of reach: nothing is said rather than something wrong.
      this.deps.log('warn', 'could not tell which devices of a silent node are orphaned', { error: e instanceof Error ? e.message : String(e) });
      return { ...gone, devices: [], printers: [] };
    }
  }

  /**
   * Told what nodes that went silent held (devices and printers, offline):
   * what they said of them elsewhere (a broker's retained messages) no one
   * else says again. The MQTT link listens (server.ts).
   */
  nodesGone: ((gone: Vanished) => void) | undefined;

  private passOn(eventText: string): void {
    // The event as encoded for the clients, wrapped without decoding it again.
    const text = `{"k":"event","n":${JSON.stringify(this.deps.node)},"ev":${eventText}}`;
    if (Buffer.byteLength(text) > this.deps.bus.maxMessage) {
      this.deps.log('debug', 'event too large for the cluster bus; other nodes read it from the store', { bytes: text.length });
      return;
    }
    this.deps.bus.publish(text);
  }

  private publish(m: BusMessage): void {
    this.deps.bus.publish(JSON.stringify(m));
  }

  private lookSoon(): void {
    if (this.cancelLook !== undefined || this.stopped) return;
    this.cancelLook = this.deps.clock.after(LOOK_DEBOUNCE_MS, () => {
      this.cancelLook = undefined;
      this.deps.rowsChanged();
    });
  }

  private renewSoon(): void {
    if (this.stopped) return;
    this.cancelRenew = this.deps.clock.after(Math.floor(this.leaseMs / 3), () => {
      try {
        renewLeases(this.deps.store, this.deps.node, this.deps.clock.now() + this.leaseMs);
      } catch (e) {
        this.deps.log('warn', 'device leases not renewed', { error: e instanceof Error ? e.message : String(e) });
      }
      this.publish({ k: 'beat', n: this.deps.node });
      this.forgetSilent();
      // The periodic look: what a lost notification would have said is found here at the latest.
      this.deps.bus.lookAgain();
      this.renewSoon();
    });
  }
}
