// A live picture of the server: devices, printers, jobs and connected
// clients kept up to date from the subscribe snapshot and the events after it. A page draws from it
// and redraws on `change`; after a reconnect the fresh snapshot replaces
// everything, so nothing stale survives an outage.
//
// Bounded: finished jobs beyond `maxJobs` are forgotten, oldest first.
//
// A job's name never changes: a view that comes without it (a compat
// endpoint's, a server before 1.5 answering a resubmission) keeps the name
// already known, so a list that shows names does not lose one.

import type { ClientView, DeviceView, JobView, PrinterView } from '../protocol/client-messages.js';
import type { PrintbridgeClient, Snapshot } from './client.js';
import { isFinal } from './client.js';
import { Emitter } from './emitter.js';

export interface LiveChange {
  /** What changed: everything (a snapshot), or one device, printer, job or client, or the client list (`clients`). */
  kind: 'snapshot' | 'device' | 'printer' | 'job' | 'client' | 'clients';
  id?: string;
}

export class LiveState extends Emitter<{ change: LiveChange }> {
  readonly devices = new Map<string, DeviceView>();
  readonly printers = new Map<string, PrinterView>();
  readonly jobs = new Map<string, JobView>();
  /** Connected clients by id (from a 1.2 server; a 1.1 server sends none). */
  readonly clients = new Map<string, ClientView>();
  private readonly offs: Array<() => void>;

  constructor(readonly client: PrintbridgeClient, private readonly maxJobs = 500) {
    super();
    const device = (d: DeviceView): void => {
      this.devices.set(d.id, d);
      this.emit('change', { kind: 'device', id: d.id });
    };
    this.offs = [
      client.on('snapshot', (s) => this.load(s)),
      client.on('device.online', device),
      client.on('device.offline', device),
      client.on('device.status', device),
      client.on('device.removed', (d) => {
        this.devices.delete(d.id);
        for (const id of this.printers.keys()) if (id.slice(0, id.lastIndexOf('/')) === d.id) this.printers.delete(id);
        this.emit('change', { kind: 'device', id: d.id });
      }),
      client.on('printer.status', (p) => {
        this.printers.set(p.id, p);
        this.emit('change', { kind: 'printer', id: p.id });
      }),
      client.on('job.updated', (j) => this.job(j)),
      client.on('client.connected', (c) => {
        this.clients.set(c.id, c);
        this.emit('change', { kind: 'client', id: c.id });
      }),
      client.on('client.disconnected', (c) => {
        this.clients.delete(c.id);
        this.emit('change', { kind: 'client', id: c.id });
      }),
    ];
  }

  /** Subscribes (if the client is not yet) and resolves with the first snapshot. */
  async start(): Promise<void> {
    await this.client.subscribe();
  }

  /** Stops following the client (does not unsubscribe it). */
  detach(): void {
    for (const off of this.offs) off();
  }

  /** Adds jobs fetched on the side (jobs.list: older history than the snapshot holds); newer views win. */
  merge(jobs: readonly JobView[]): void {
    for (const j of jobs) {
      const known = this.jobs.get(j.id);
      if (!known || j.updated >= known.updated) this.jobs.set(j.id, named(j, known));
    }
    this.trim();
    this.emit('change', { kind: 'snapshot' });
  }

  /**
   * Replaces the clients with a fresh clients.list answer. Events do not say
   * when a client subscribes, so its `subscribed` is only as fresh as the
   * last list or snapshot; replies and events share one ordered socket, so
   * the list is never older than the events already applied.
   */
  setClients(list: readonly ClientView[]): void {
    this.clients.clear();
    for (const c of list) this.clients.set(c.id, c);
    this.emit('change', { kind: 'clients' });
  }

  /** Clients oldest first. */
  clientList(): ClientView[] {
    return [...this.clients.values()].sort((a, b) => a.since - b.since || (a.id < b.id ? -1 : 1));
  }

  /** Jobs newest first. */
  jobList(): JobView[] {
    return [...this.jobs.values()].sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : -1));
  }

  private load(s: Snapshot): void {
    this.devices.clear();
    this.printers.clear();
    this.jobs.clear();
    this.clients.clear();
    for (const d of s.devices) this.devices.set(d.id, d);
    for (const p of s.printers) this.printers.set(p.id, p);
    for (const j of s.jobs) this.jobs.set(j.id, j);
    for (const c of s.clients ?? []) this.clients.set(c.id, c);
    this.trim();
    this.emit('change', { kind: 'snapshot' });
  }

  private job(j: JobView): void {
    const known = this.jobs.get(j.id);
    if (known && j.updated < known.updated) return;
    this.jobs.set(j.id, named(j, known));
    this.trim();
    this.emit('change', { kind: 'job', id: j.id });
  }

  /** Jobs whose name holds `text` in any case, or whose id starts with it (as jobs.list `q` on the server), newest first. */
  findJobs(text: string): JobView[] {
    const q = text.toLowerCase();
    return this.jobList().filter((j) => j.id.startsWith(q) || (j.name !== undefined && j.name.toLowerCase().includes(q)));
  }

  private trim(): void {
    if (this.jobs.size <= this.maxJobs) return;
    const finished = [...this.jobs.values()].filter((j) => isFinal(j.state)).sort((a, b) => a.created - b.created);
    for (const j of finished) {
      if (this.jobs.size <= this.maxJobs) break;
      this.jobs.delete(j.id);
    }
  }
}

/** `j`, with the name of `known` when `j` came without one. */
function named(j: JobView, known: JobView | undefined): JobView {
  return j.name === undefined && known?.name !== undefined ? { ...j, name: known.name } : j;
}
