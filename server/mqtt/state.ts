// What this node says on the broker, as a pure state machine: the events
// its subscribers hear (events.ts) go in with the time, the messages to
// publish come out; nothing here touches a socket or owns a timer. The link
// (link.ts) publishes what comes out, asks for `due()` at `nextDue()`, and
// for `all()` whenever the broker may have lost its retained messages.
//
// A device is published from here only while this node holds its online
// connection (`holds`): a node of a cluster hears every other node's events
// too, and publishing those would say everything N times and, worse, let a
// late `offline` from one node overwrite the `online` of the node the
// device moved to.
//
//   not published ──device.online/status, held here──▶ held
//   held ──device.offline from this node's session──▶ not published
//        (availability `offline`, or every retained topic emptied when the
//         device was removed from the store)
//   held ──an event says it is online and held elsewhere──▶ not published
//        (moved to another node, which publishes it now; nothing said here)
//
// Retained topics are coalesced: a payload that changes only in what moves
// all the time (job progress, temperatures, rssi, heap, uptime) goes out at
// most once per `coalesceMs` per topic, the latest value winning; any other
// change goes out at once, with whatever was waiting. Job events are one
// message per change of a job's state.

import { FINAL_JOB_STATES, type ClientEvent, type DeliveryReport, type DeviceView, type JobState, type JobView, type PrinterView } from '../../protocol/client-messages.js';
import { canTransition, isFinal } from '../core/job-states.js';
import { parsePrinterId } from '../core/jobs.js';
import { discoveryPayload } from './discovery.js';
import { OFFLINE, ONLINE, PAYLOAD_SCHEMA, type Topics } from './topics.js';

export interface Publication {
  readonly topic: string;
  /** Empty with `retain`: the retained message is deleted. */
  readonly payload: string;
  readonly retain: boolean;
}

/** The largest payload published; a larger one is cut (delivery reports) or left out with a log line (link.ts). */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
/** Default: a printer's progress and temperatures at most once a second. */
export const COALESCE_MS = 1000;
/** Jobs whose last state is remembered (so that a change is told once); the oldest are forgotten first. */
export const MAX_TRACKED_JOBS = 10_000;

export interface StateDeps {
  readonly topics: Topics;
  /** This node, as a topic level (topics.ts nodeLevel). */
  readonly node: string;
  readonly version: string;
  /** This node holds the device's online connection now. */
  holds(device: string): boolean;
  /** The device is still registered (a device.offline of one that is not was its removal). */
  registered(device: string): boolean;
  readonly coalesceMs?: number;
}

/** The kinds of event the state uses. */
export const HEARD: ReadonlySet<ClientEvent['event']> = new Set(['device.online', 'device.status', 'device.offline', 'device.removed', 'printer.status', 'job.updated', 'control.delivered']);

interface Printer {
  view: PrinterView;
  /** The progress of the job on the printer, as its last job.updated said. */
  progress: { job: string; value: number } | undefined;
}

interface Held {
  view: DeviceView;
  /** When it came online here. */
  since: number;
  readonly printers: Map<number, Printer>;
  /** Heater names each G-code printer reported, for discovery's temperature sensors. */
  readonly heaters: Map<number, string[]>;
  /** Every retained topic published for it: what is emptied when it is removed. */
  readonly topics: Set<string>;
}

interface Sent {
  payload: string;
  /** What must go out at once when it changes (the payload less what moves all the time). */
  key: string;
  at: number;
}

export class MqttState {
  private readonly held = new Map<string, Held>();
  /** Devices that went offline (or were removed) here while the broker was away: said again by all(). */
  private readonly gone = new Map<string, Publication[]>();
  private readonly jobs = new Map<string, { state: JobState; updated: number }>();
  private readonly sent = new Map<string, Sent>();
  private readonly pending = new Map<string, { payload: string; key: string; due: number }>();
  private readonly coalesceMs: number;

  constructor(private readonly deps: StateDeps) {
    this.coalesceMs = deps.coalesceMs ?? COALESCE_MS;
  }

  /** What to publish for one event; `connected`: the link can publish it now (else what a reconnect must repeat is kept). */
  event(e: ClientEvent, now: number, connected: boolean): Publication[] {
    const out: Publication[] = [];
    switch (e.event) {
      case 'device.online':
      case 'device.status':
        this.deviceSeen(e.device, now, out);
        break;
      case 'device.offline':
        this.deviceGone(e.device, now, out, connected);
        break;
      case 'device.removed':
        this.deviceRemoved(e.device, out, connected);
        break;
      case 'printer.status':
        this.printerSeen(e.printer, now, out);
        break;
      case 'job.updated':
        this.jobSeen(e.job, now, out);
        break;
      case 'control.delivered':
        out.push(this.report(e.ref, e.reports));
        break;
      default:
        break;
    }
    return out;
  }

  /** Coalesced payloads whose time came. */
  due(now: number): Publication[] {
    const out: Publication[] = [];
    for (const [topic, p] of this.pending) {
      if (p.due > now) continue;
      this.pending.delete(topic);
      this.sent.set(topic, { payload: p.payload, key: p.key, at: now });
      out.push({ topic, payload: p.payload, retain: true });
    }
    return out;
  }

  /** When due() next has something, or undefined. */
  nextDue(): number | undefined {
    let next: number | undefined;
    for (const p of this.pending.values()) if (next === undefined || p.due < next) next = p.due;
    return next;
  }

  /**
   * Every retained message of every device held here, and what devices that
   * left meanwhile owe: after a (re)connect, since a broker without
   * persistence lost them, and when Home Assistant says it started.
   */
  all(now: number): Publication[] {
    const out: Publication[] = [];
    for (const pubs of this.gone.values()) out.push(...pubs);
    this.gone.clear();
    for (const h of this.held.values()) {
      for (const topic of h.topics) {
        this.sent.delete(topic);
        this.pending.delete(topic);
      }
      this.publishDevice(h, now, out);
      for (const p of h.printers.values()) this.publishPrinter(h, p, now, out);
    }
    return out;
  }

  /** How many devices are published from here. */
  get heldCount(): number {
    return this.held.size;
  }

  private deviceSeen(view: DeviceView, now: number, out: Publication[]): void {
    if (!this.deps.holds(view.id)) {
      // Online at another node, which publishes it: this one says nothing more of it.
      this.forget(view.id);
      this.gone.delete(view.id);
      return;
    }
    this.gone.delete(view.id);
    let h = this.held.get(view.id);
    if (h === undefined) {
      h = { view, since: now, printers: new Map(), heaters: new Map(), topics: new Set() };
      this.held.set(view.id, h);
    }
    h.view = view;
    this.publishDevice(h, now, out);
  }

  private deviceGone(view: DeviceView, now: number, out: Publication[], connected: boolean): void {
    const h = this.held.get(view.id);
    // Another node's device (a relayed event), or one held here again already.
    if (h === undefined || this.deps.holds(view.id)) return;
    if (this.deps.registered(view.id)) {
      h.view = view;
      h.since = now;
      this.say(view.id, this.offline(h), out, connected);
    } else {
      // Removed: nothing of it stays on the broker, Home Assistant's device included.
      this.say(view.id, this.emptied(view), out, connected);
    }
  }

  /**
   * Removed, wherever it was and whoever held it: every retained topic it
   * can have is emptied by name (its own, each printer's, Home Assistant's
   * device), since the node that published them may have let go of it long
   * before (a device offline when it was removed). Every node that hears the
   * event says the same; emptying a topic twice changes nothing.
   */
  private deviceRemoved(view: DeviceView, out: Publication[], connected: boolean): void {
    this.say(view.id, this.emptied(view), out, connected);
  }

  /**
   * What a node that went silent held, said offline from here: its Will
   * says only that the node is gone, and its devices' retained topics would
   * say `online` for good if they reconnect nowhere. A device held here
   * meanwhile (it reconnected to this node) is left alone; one that
   * reconnects elsewhere later is said online by its new node after this.
   */
  orphaned(devices: readonly DeviceView[], printers: readonly PrinterView[], now: number, connected: boolean): Publication[] {
    const out: Publication[] = [];
    for (const view of devices) {
      if (this.deps.holds(view.id)) continue;
      const h: Held = { view: { ...view, online: false }, since: now, printers: new Map(), heaters: new Map(), topics: new Set() };
      for (const p of printers) if (p.device === view.id) h.printers.set(p.port, { view: p, progress: undefined });
      this.say(view.id, this.offline(h), out, connected);
    }
    return out;
  }

  /** A device and each of its printers said offline, their last views kept (the printers' marked offline). */
  private offline(h: Held): Publication[] {
    const t = this.deps.topics;
    const id = h.view.id;
    const said: Publication[] = [
      { topic: t.availability(id), payload: OFFLINE, retain: true },
      { topic: t.deviceState(id), payload: this.deviceState(h), retain: true },
    ];
    for (const p of h.printers.values()) {
      p.view = { ...p.view, online: false, status: 'offline' };
      said.push({ topic: t.printerAvailability(id, p.view.port), payload: OFFLINE, retain: true });
      said.push({ topic: t.printerState(id, p.view.port), payload: this.printerState(p), retain: true });
    }
    return said;
  }

  /**
   * Every retained topic a device can have, emptied by name (its own, each
   * printer's, Home Assistant's device) as well as every one published for
   * it here: the node that published them may have let go of it long before.
   */
  private emptied(view: DeviceView): Publication[] {
    const t = this.deps.topics;
    const discovery = t.discoveryConfig(view.id);
    const topics = new Set([
      ...(this.held.get(view.id)?.topics ?? []),
      t.availability(view.id), t.deviceState(view.id),
      ...view.ports.flatMap((p) => [t.printerAvailability(view.id, p.port), t.printerState(view.id, p.port)]),
      ...(discovery === undefined ? [] : [discovery]),
    ]);
    return [...topics].map((topic) => ({ topic, payload: '', retain: true }));
  }

  /** What is said of a device that leaves here: out now, and kept for all() while the link is down; it is published from here no more. */
  private say(device: string, said: Publication[], out: Publication[], connected: boolean): void {
    out.push(...said);
    this.forget(device);
    if (!connected) this.gone.set(device, said);
  }

  private printerSeen(view: PrinterView, now: number, out: Publication[]): void {
    const h = this.held.get(view.device);
    if (h === undefined || !this.deps.holds(view.device)) return;
    let p = h.printers.get(view.port);
    if (p === undefined) h.printers.set(view.port, (p = { view, progress: undefined }));
    p.view = view;
    if (p.progress !== undefined && p.progress.job !== view.job) p.progress = undefined;
    if (view.dialect === 'gcode' && view.temps !== undefined) {
      const known = h.heaters.get(view.port) ?? [];
      const fresh = view.temps.map((t) => t.name).filter((n) => !known.includes(n));
      // Bounded by the protocol: a status names 8 heaters at most; a printer keeps 16.
      if (fresh.length > 0 && known.length < 16) {
        h.heaters.set(view.port, [...known, ...fresh].slice(0, 16));
        this.publishDiscovery(h, now, out);
      }
    }
    this.publishPrinter(h, p, now, out);
  }

  private jobSeen(job: JobView, now: number, out: Publication[]): void {
    const at = parsePrinterId(job.printer);
    if (!this.deps.holds(at.device)) return;
    const before = this.jobs.get(job.id);
    // In a cluster the node where a job was submitted tells its changes too, relayed here late: older news is no news.
    // Two changes in one millisecond (printing, then done) are told apart by the lifecycle: a job ends once.
    if (before !== undefined && (job.updated < before.updated || isFinal(before.state) || (job.updated === before.updated && before.state !== job.state && !canTransition(before.state, job.state)))) return;
    if (before?.state !== job.state) {
      // Final states are remembered too: an outcome told again is not a second event.
      this.jobs.delete(job.id);
      this.jobs.set(job.id, { state: job.state, updated: job.updated });
      if (this.jobs.size > MAX_TRACKED_JOBS) for (const oldest of this.jobs.keys()) { this.jobs.delete(oldest); break; }
      const payload = JSON.stringify({ schema: PAYLOAD_SCHEMA, device: at.device, port: at.port, node: this.deps.node, ...job });
      out.push({ topic: this.deps.topics.jobEvent(at.device, at.port, job.state), payload, retain: false });
    } else {
      before.updated = job.updated;
    }
    const h = this.held.get(at.device);
    const p = h?.printers.get(at.port);
    if (h === undefined || p === undefined) return;
    if (FINAL_JOB_STATES.includes(job.state)) {
      if (p.progress?.job === job.id) p.progress = { job: job.id, value: job.progress };
    } else if (p.view.job === undefined || p.view.job === job.id) {
      p.progress = { job: job.id, value: job.progress };
    } else {
      return;
    }
    this.publishPrinter(h, p, now, out);
  }

  /** A control message's delivery reports; cut to fit MAX_PAYLOAD_BYTES (a message to thousands of devices), saying how many were left out. */
  private report(ref: string, reports: readonly DeliveryReport[]): Publication {
    const topic = this.deps.topics.controlReport(ref);
    const head = { schema: PAYLOAD_SCHEMA, ref, node: this.deps.node };
    let payload = JSON.stringify({ ...head, reports });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      const kept: DeliveryReport[] = [];
      let size = 200 + ref.length;
      for (const r of reports) {
        size += Buffer.byteLength(JSON.stringify(r)) + 1;
        if (size > MAX_PAYLOAD_BYTES) break;
        kept.push(r);
      }
      payload = JSON.stringify({ ...head, reports: kept, truncated: reports.length - kept.length });
    }
    return { topic, payload, retain: false };
  }

  private publishDevice(h: Held, now: number, out: Publication[]): void {
    const { topics } = this.deps;
    this.retained(h, topics.availability(h.view.id), ONLINE, ONLINE, now, out);
    const { rssi: _rssi, heap: _heap, uptime: _uptime, lastSeen: _lastSeen, ...steady } = h.view;
    const stateTopic = topics.deviceState(h.view.id);
    const key = JSON.stringify(steady);
    // Discovery is built from steady fields only (id, firmware, ports): a status that moved none of them, a fleet's
    // rssi and heap every few seconds, cannot change it and builds none. all() and forget() clear what was sent.
    const discoveryMayChange = this.sent.get(stateTopic)?.key !== key;
    this.retained(h, stateTopic, this.deviceState(h), key, now, out);
    if (discoveryMayChange) this.publishDiscovery(h, now, out);
  }

  private publishDiscovery(h: Held, now: number, out: Publication[]): void {
    const topic = this.deps.topics.discoveryConfig(h.view.id);
    if (topic === undefined) return;
    const payload = discoveryPayload(this.deps.topics, { device: h.view, heaters: h.heaters, node: this.deps.node, version: this.deps.version });
    this.retained(h, topic, payload, payload, now, out);
  }

  private publishPrinter(h: Held, p: Printer, now: number, out: Publication[]): void {
    const { topics } = this.deps;
    const { device, port } = p.view;
    const available = p.view.online && p.view.status !== 'offline' ? ONLINE : OFFLINE;
    this.retained(h, topics.printerAvailability(device, port), available, available, now, out);
    const { temps: _temps, ...steady } = p.view;
    this.retained(h, topics.printerState(device, port), this.printerState(p), JSON.stringify(steady), now, out);
  }

  private deviceState(h: Held): string {
    const v = h.view;
    return JSON.stringify({
      schema: PAYLOAD_SCHEMA, id: v.id, online: v.online, fw: v.fw ?? null, rssi: v.rssi ?? null, heap: v.heap ?? null, uptime: v.uptime ?? null,
      led: v.led ?? null, address: v.address ?? null, tags: v.tags, ports: v.ports, node: this.deps.node, since: h.since,
    });
  }

  private printerState(p: Printer): string {
    const v = p.view;
    const temps: Record<string, { current: number; target: number | null }> = {};
    for (const t of v.temps ?? []) temps[t.name] = { current: t.current, target: t.target ?? null };
    const job = v.job ?? null;
    return JSON.stringify({
      schema: PAYLOAD_SCHEMA, id: v.id, device: v.device, port: v.port, name: v.name ?? null, dialect: v.dialect, online: v.online,
      status: v.status, detail: v.detail ?? null, temps, job, progress: job !== null && p.progress?.job === job ? p.progress.value : null,
      queued: v.queued, paused: v.paused, confirms: v.confirms ?? false, node: this.deps.node,
    });
  }

  /** A retained topic's new payload: out now when `key` changed (or nothing was sent), else at most once per coalesceMs. */
  private retained(h: Held, topic: string, payload: string, key: string, now: number, out: Publication[]): void {
    h.topics.add(topic);
    const last = this.sent.get(topic);
    if (last?.payload === payload) {
      this.pending.delete(topic);
      return;
    }
    if (last === undefined || last.key !== key || now - last.at >= this.coalesceMs) {
      this.pending.delete(topic);
      this.sent.set(topic, { payload, key, at: now });
      out.push({ topic, payload, retain: true });
      return;
    }
    this.pending.set(topic, { payload, key, due: last.at + this.coalesceMs });
  }

  private forget(device: string): void {
    const h = this.held.get(device);
    if (h === undefined) return;
    for (const topic of h.topics) {
      this.sent.delete(topic);
      this.pending.delete(topic);
    }
    this.held.delete(device);
  }
}
