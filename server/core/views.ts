// What clients see of devices, printers and jobs: the stored record (so
// offline devices and their last-known printers are listed) overlaid with
// the live session when the device is online.

import type { DeviceView, JobView, PrinterView } from '../../protocol/client-messages.js';
import type { PortInfo } from '../../protocol/device-messages.js';
import type { Store } from '../store/db.js';
import { getDevice, listDevices, tagsAtLogin, type DeviceRecord } from '../store/devices.js';
import { countUnfinished, printerId, unfinishedByPrinter, type JobRecord } from '../store/jobs.js';
import type { DeviceSession } from './device-session.js';
import type { Registry } from './registry.js';

export function jobView(job: JobRecord): JobView {
  return {
    id: job.id,
    printer: job.printer,
    state: job.state,
    size: job.size,
    written: job.written,
    progress: job.size === 0 ? 1 : job.written / job.size,
    key: job.key,
    error: job.error,
    held: job.held ? true : undefined,
    resume: job.resume ? true : undefined,
    name: job.name,
    line: job.line,
    layer: job.layer,
    created: job.created,
    started: job.startedAt,
    finished: job.finishedAt,
    updated: job.updated,
  };
}

/** What the views need to know of the job queues. */
export interface QueueFacts {
  activeJobId(printer: string): string | undefined;
  isQueuePaused(printer: string): boolean;
  /** False when the printer surely has no unfinished job (counted in memory): no query needed to count them. */
  mayHaveJobs(printer: string): boolean;
}

/** Devices and printers other nodes of a cluster hold, as they last told (cluster/elsewhere.ts). */
export interface OtherNodes {
  device(id: string): DeviceView | undefined;
  printer(id: string): PrinterView | undefined;
}

const NO_OTHER_NODES: OtherNodes = { device: () => undefined, printer: () => undefined };

export class Views {
  private elsewhere: OtherNodes = NO_OTHER_NODES;

  constructor(
    private readonly store: Store,
    private readonly registry: Pick<Registry<DeviceSession>, 'get' | 'all'>,
    private readonly queues: QueueFacts,
  ) {}

  /** From now on, a device online at another node is listed as that node says. */
  seeOtherNodes(others: OtherNodes): void {
    this.elsewhere = others;
  }

  device(id: string): DeviceView | undefined {
    const record = getDevice(this.store, id);
    const session = this.registry.get(id);
    if (record === undefined && session === undefined) return undefined;
    return this.deviceView(id, record, session);
  }

  /** The live session's view, else another node's, else the stored one. */
  private deviceView(id: string, record: DeviceRecord | undefined, session: DeviceSession | undefined): DeviceView {
    if (session?.phase !== 'online') {
      const there = this.elsewhere.device(id);
      if (there !== undefined) return { ...there, tags: record?.tags ?? there.tags };
    }
    return deviceView(id, record, session);
  }

  /** The view of a session's device, online or just gone, even if it was removed from the store meanwhile. */
  deviceOf(session: DeviceSession): DeviceView {
    // Online, the session has all but the tags, which the login read.
    const tags = session.phase === 'online' ? tagsAtLogin(this.store, session.id) : undefined;
    if (tags !== undefined) return { ...deviceView(session.id, undefined, session), tags: [...tags] };
    return this.deviceView(session.id, getDevice(this.store, session.id), session);
  }

  devices(tag?: string): DeviceView[] {
    return this.merged()
      .filter(([, record]) => tag === undefined || (record?.tags.includes(tag) ?? false))
      .map(([id, record, session]) => this.deviceView(id, record, session));
  }

  printers(): PrinterView[] {
    return this.printersFrom(this.merged());
  }

  /** Every device and every printer from one read of the store (a snapshot needs both). */
  all(): { devices: DeviceView[]; printers: PrinterView[] } {
    const merged = this.merged();
    return { devices: merged.map(([id, record, session]) => this.deviceView(id, record, session)), printers: this.printersFrom(merged) };
  }

  private printersFrom(merged: readonly Merged[]): PrinterView[] {
    const queued = unfinishedByPrinter(this.store);
    return merged.flatMap(([id, record, session]) =>
      portsOf(record, session).map((info) => this.printerView(id, info, session, queued.get(printerId(id, info.port)) ?? 0)),
    );
  }

  printersOf(session: DeviceSession): PrinterView[] {
    return (session.info?.ports ?? []).map((info) => this.printer(session, info));
  }

  /** A printer by id, online or last known; undefined when no device reported that port. */
  printerById(id: string): PrinterView | undefined {
    const slash = id.lastIndexOf('/');
    const device = id.slice(0, slash);
    const port = Number(id.slice(slash + 1));
    const session = this.registry.get(device);
    const info = portsOf(getDevice(this.store, device), session).find((p) => p.port === port);
    return info === undefined ? undefined : this.printerView(device, info, session, countUnfinished(this.store, id));
  }

  printer(session: DeviceSession, info: PortInfo): PrinterView {
    const id = printerId(session.id, info.port);
    // Every device of a reconnecting fleet announces its printers: most have nothing queued, and cost no query.
    return this.printerView(session.id, info, session, this.queues.mayHaveJobs(id) ? countUnfinished(this.store, id) : 0);
  }

  private printerView(device: string, info: PortInfo, session: DeviceSession | undefined, queued: number): PrinterView {
    const id = printerId(device, info.port);
    const online = session !== undefined && session.phase === 'online';
    const there = online ? undefined : this.elsewhere.printer(id);
    if (there !== undefined) return { ...there, queued, paused: this.queues.isQueuePaused(id) };
    const status = online ? session.portStatus.get(info.port) : undefined;
    return {
      id,
      device,
      port: info.port,
      dialect: info.dialect,
      name: info.name,
      online,
      status: online ? status?.state ?? 'unknown' : 'offline',
      detail: status?.detail,
      temps: status?.temps,
      confirms: info.confirms,
      job: this.queues.activeJobId(id) ?? status?.job,
      queued,
      paused: this.queues.isQueuePaused(id),
    };
  }

  /** Every known device: registered ones, plus any online one removed from the store meanwhile. */
  private merged(): Merged[] {
    const out = new Map<string, Merged>();
    for (const record of listDevices(this.store)) out.set(record.id, [record.id, record, this.registry.get(record.id)]);
    for (const session of this.registry.all()) {
      if (!out.has(session.id)) out.set(session.id, [session.id, undefined, session]);
    }
    return [...out.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}

type Merged = [id: string, record: DeviceRecord | undefined, session: DeviceSession | undefined];

function portsOf(record: DeviceRecord | undefined, session: DeviceSession | undefined): readonly PortInfo[] {
  return session?.info?.ports ?? record?.ports ?? [];
}

export function deviceView(id: string, record: DeviceRecord | undefined, session: DeviceSession | undefined): DeviceView {
  const live = session !== undefined && session.phase === 'online' ? session : undefined;
  return {
    id,
    online: live !== undefined,
    tags: record?.tags ?? [],
    fw: live?.info?.fw ?? record?.fw,
    address: live?.address ?? record?.address,
    led: live?.led,
    heap: live?.heap,
    rssi: live?.rssi,
    uptime: live?.uptime,
    ports: [...portsOf(record, live)],
    lastSeen: live?.lastSeen ?? record?.lastSeen,
    caps: live?.info !== undefined && live.info.caps.length > 0 ? [...live.info.caps] : undefined,
  };
}
