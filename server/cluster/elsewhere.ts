// What this node knows of the devices, printers and clients other nodes
// hold: their views as those nodes last told them (the events they pass on,
// and the state they send a node that starts). A node not heard from for
// SILENT_MS is gone, and so is all it held: its devices are offline to
// every node, within that bound, whatever became of the node.

import type { ClientEvent, ClientView, DeviceView, PrinterView } from '../../protocol/client-messages.js';
import type { OtherNodes } from '../core/views.js';

interface Held<V> {
  node: string;
  view: V;
}

/** What a node that went silent held: told to this node's subscribers as gone. */
export interface Vanished {
  /** The nodes, as the store names them. */
  nodes: string[];
  devices: DeviceView[];
  printers: PrinterView[];
  clients: ClientView[];
}

export class Elsewhere implements OtherNodes {
  private readonly devices = new Map<string, Held<DeviceView>>();
  /** By device, then printer id: a device's printers go with it in one step (heldHere runs for every device a node claims). */
  private readonly printers = new Map<string, Map<string, Held<PrinterView>>>();
  /** By node, then client id. */
  private readonly clients = new Map<string, Map<string, ClientView>>();
  private readonly heard = new Map<string, number>();

  /**
   * Takes in an event `node` passed on; returns whether this node's
   * subscribers should hear it. A device going offline at a node that no
   * longer held it (it moved on, and its new node said so first) is not news.
   */
  event(node: string, e: ClientEvent, now: number): boolean {
    this.heard.set(node, now);
    switch (e.event) {
      case 'device.online':
      case 'device.status':
        this.devices.set(e.device.id, { node, view: e.device });
        return true;
      case 'device.offline': {
        const held = this.devices.get(e.device.id);
        if (held !== undefined && held.node !== node) return false;
        this.devices.delete(e.device.id);
        return true;
      }
      case 'device.removed':
        this.devices.delete(e.device.id);
        this.printers.delete(e.device.id);
        return true;
      case 'printer.status': {
        const ofDevice = this.printers.get(e.printer.device);
        const held = ofDevice?.get(e.printer.id);
        if (e.printer.online) {
          if (ofDevice === undefined) this.printers.set(e.printer.device, new Map([[e.printer.id, { node, view: e.printer }]]));
          else ofDevice.set(e.printer.id, { node, view: e.printer });
          return true;
        }
        if (held !== undefined && held.node !== node) return false;
        ofDevice?.delete(e.printer.id);
        if (ofDevice?.size === 0) this.printers.delete(e.printer.device);
        return true;
      }
      case 'client.connected':
        this.clientsOf(node).set(e.client.id, e.client);
        return true;
      case 'client.disconnected':
        this.clients.get(node)?.delete(e.client.id);
        return true;
      case 'job.updated':
      case 'control.delivered':
        return true;
    }
  }

  /** `node` is alive (its beat, or any message from it). */
  beat(node: string, now: number): void {
    this.heard.set(node, now);
  }

  /** This node holds the device now: what another said of it is old. */
  heldHere(device: string): void {
    this.devices.delete(device);
    this.printers.delete(device);
  }

  device(id: string): DeviceView | undefined {
    return this.devices.get(id)?.view;
  }

  printer(id: string): PrinterView | undefined {
    return this.printers.get(id.slice(0, id.lastIndexOf('/')))?.get(id)?.view;
  }

  clientViews(): ClientView[] {
    return [...this.clients.values()].flatMap((m) => [...m.values()]);
  }

  /** Forgets every node not heard from since `before`, and returns what they held. */
  forgetSilent(before: number): Vanished {
    const gone = new Set<string>();
    for (const [node, at] of this.heard) if (at < before) gone.add(node);
    const out: Vanished = { nodes: [...gone], devices: [], printers: [], clients: [] };
    if (gone.size === 0) return out;
    for (const node of gone) {
      this.heard.delete(node);
      out.clients.push(...(this.clients.get(node)?.values() ?? []));
      this.clients.delete(node);
    }
    for (const [id, held] of this.devices) {
      if (!gone.has(held.node)) continue;
      this.devices.delete(id);
      out.devices.push({ ...held.view, online: false, led: undefined, heap: undefined, rssi: undefined, uptime: undefined });
    }
    for (const [device, ofDevice] of this.printers) {
      for (const [id, held] of ofDevice) {
        if (!gone.has(held.node)) continue;
        ofDevice.delete(id);
        out.printers.push({ ...held.view, online: false, status: 'offline', detail: undefined, temps: undefined });
      }
      if (ofDevice.size === 0) this.printers.delete(device);
    }
    return out;
  }

  private clientsOf(node: string): Map<string, ClientView> {
    let m = this.clients.get(node);
    if (m === undefined) this.clients.set(node, (m = new Map()));
    return m;
  }
}
