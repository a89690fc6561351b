// The activity log: what happened, newest first, in words. It notes state
// changes (not every progress tick), keeps at most LIMIT lines, and lets a
// delivery report fill in the line of the control message it belongs to.
// Devices and printers coming and going are gathered for a moment and told
// once per kind when many arrive together: a server restart brings every
// device back at once, and 10,000 lines would say less than one.

import type { ClientEvent, DeliveryReport, PrinterView } from '../sdk/index.js';
import { byId, h, setAttr, setText } from './dom.js';
import { bytes, grouped, jobName, PRINTER_LABEL, type Tone } from './format.js';
import type { App } from './app.js';

const LIMIT = 200;
/** How long lines of one kind are gathered before they are told. */
const GATHER_MS = 500;
/** More lines than this of one kind in one gathering are told as one. */
const ONE_BY_ONE = 3;
/** Ids named in a line that tells many. */
const NAMED = 3;

export interface ActivityLog {
  log(text: string, tone?: Tone, key?: string): void;
}

export function activityLog(): ActivityLog {
  const list = byId('activity-log');
  const keyed = new Map<string, HTMLElement>();
  byId('activity-clear').addEventListener('click', () => {
    list.replaceChildren();
    keyed.clear();
  });
  return {
    log(text, tone = 'neutral', key) {
      const existing = key ? keyed.get(key) : undefined;
      const stamp = new Date();
      if (existing) {
        setText(existing.querySelector('.text')!, text);
        setAttr(existing, 'data-tone', tone);
        return;
      }
      const li = h(
        'li',
        { attrs: { 'data-tone': tone } },
        h('time', { text: stamp.toLocaleTimeString(), attrs: { datetime: stamp.toISOString() } }),
        h('span', { class: 'text', text }),
      );
      if (key) {
        li.dataset['key'] = key;
        keyed.set(key, li);
      }
      list.prepend(li);
      while (list.childElementCount > LIMIT) {
        const last = list.lastElementChild as HTMLElement;
        if (last.dataset['key']) keyed.delete(last.dataset['key']);
        last.remove();
      }
    },
  };
}

export function reportText(reports: DeliveryReport[]): string {
  if (reports.length === 0) return 'no devices matched';
  return reports.map((r) => `${r.device} ${r.status}${r.code ? ` (${r.code})` : ''}`).join(', ');
}

interface Gathered {
  /** The line that tells many, after their count. */
  many: string;
  tone: Tone;
  lines: string[];
  ids: string[];
  count: number;
}

/** Lines by kind, told together after GATHER_MS: one by one when few, as one line when many. */
function gatherer(app: App): (kind: string, many: string, tone: Tone, id: string, line: string) => void {
  const kinds = new Map<string, Gathered>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tell = (): void => {
    timer = undefined;
    for (const g of kinds.values()) {
      if (g.count <= ONE_BY_ONE) {
        for (const line of g.lines) app.log(line, g.tone);
        continue;
      }
      const named = g.ids.slice(0, NAMED).join(', ');
      app.log(`${grouped(g.count)} ${g.many} (${named}${g.count > NAMED ? ', …' : ''})`, g.tone);
    }
    kinds.clear();
  };
  return (kind, many, tone, id, line) => {
    let g = kinds.get(kind);
    if (g === undefined) {
      g = { tone, many, lines: [], ids: [], count: 0 };
      kinds.set(kind, g);
    }
    g.count++;
    if (g.lines.length < ONE_BY_ONE) g.lines.push(line);
    if (g.ids.length < NAMED) g.ids.push(id);
    timer ??= setTimeout(tell, GATHER_MS);
  };
}

/** Turns server events into log lines; remembers enough to log changes only. */
export function followEvents(app: App): void {
  const gather = gatherer(app);
  const printerState = new Map<string, string>();
  const jobState = new Map<string, string>();
  // Whether each device was last seen online: the page subscribes with
  // coalescing, so a device's online event may arrive as its status event (the
  // last of the two), and a short drop may arrive as nothing at all.
  const deviceOnline = new Map<string, boolean>();
  const describePrinter = (p: PrinterView): string => `${p.status}${p.paused ? '/paused' : ''}`;
  app.client.on('snapshot', (s) => {
    printerState.clear();
    jobState.clear();
    deviceOnline.clear();
    for (const d of s.devices) deviceOnline.set(d.id, d.online);
    for (const p of s.printers) printerState.set(p.id, describePrinter(p));
    for (const j of s.jobs) jobState.set(j.id, j.state);
  });
  app.client.on('event', (e: ClientEvent) => {
    switch (e.event) {
      case 'device.online':
      case 'device.offline':
      case 'device.status': {
        const d = e.device;
        if (deviceOnline.get(d.id) === d.online) return;
        deviceOnline.set(d.id, d.online);
        if (!d.online) return gather('offline', 'devices went offline', 'warn', d.id, `${d.id} went offline`);
        return gather('online', 'devices came online', 'ok', d.id, `${d.id} came online${d.fw ? ` (firmware ${d.fw})` : ''}${d.address ? ` from ${d.address}` : ''}`);
      }
      case 'device.removed':
        deviceOnline.delete(e.device.id);
        for (const id of printerState.keys()) if (id.slice(0, id.lastIndexOf('/')) === e.device.id) printerState.delete(id);
        return app.log(`${e.device.id} was removed`, 'warn');
      case 'printer.status': {
        const now = describePrinter(e.printer);
        if (printerState.get(e.printer.id) === now) return;
        printerState.set(e.printer.id, now);
        const [label, tone] = PRINTER_LABEL[e.printer.status] ?? [e.printer.status, 'neutral'];
        const line = `${e.printer.id}: ${label.toLowerCase()}${e.printer.paused ? ', queue paused' : ''}${e.printer.detail ? ` — ${e.printer.detail}` : ''}`;
        return gather(`printer ${now}`, `printers: ${label.toLowerCase()}${e.printer.paused ? ', queue paused' : ''}`, tone, e.printer.id, line);
      }
      case 'job.updated': {
        const j = e.job;
        if (jobState.get(j.id) === j.state) return;
        jobState.set(j.id, j.state);
        if (j.state === 'sending') return; // queued → sending → printing: two lines are enough
        const tone: Tone = j.state === 'done' ? 'ok' : j.state === 'failed' ? 'bad' : j.state === 'paused' || j.state === 'canceled' ? 'warn' : 'neutral';
        return app.log(`Job ${jobName(j)} on ${j.printer}: ${j.state}${j.state === 'done' ? ` (${bytes(j.size)})` : ''}${j.error ? ` — ${j.error.code}` : ''}`, tone);
      }
      case 'control.delivered':
        return app.log(`Delivery: ${reportText(e.reports)}`, e.reports.every((r) => r.status === 'ok') ? 'ok' : 'warn', e.ref);
    }
  });
}
