// The activity log: what happened, newest first, in words. It notes state
// changes (not every progress tick), keeps at most LIMIT lines, and lets a
// delivery report fill in the line of the control message it belongs to.

import type { ClientEvent, DeliveryReport, PrinterView } from '../sdk/index.js';
import { byId, h, setAttr, setText } from './dom.js';
import { bytes, PRINTER_LABEL, shortId, type Tone } from './format.js';
import type { App } from './app.js';

const LIMIT = 200;

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

/** Turns server events into log lines; remembers enough to log changes only. */
export function followEvents(app: App): void {
  const printerState = new Map<string, string>();
  const jobState = new Map<string, string>();
  const describePrinter = (p: PrinterView): string => `${p.status}${p.paused ? '/paused' : ''}`;
  app.client.on('snapshot', (s) => {
    printerState.clear();
    jobState.clear();
    for (const p of s.printers) printerState.set(p.id, describePrinter(p));
    for (const j of s.jobs) jobState.set(j.id, j.state);
  });
  app.client.on('event', (e: ClientEvent) => {
    switch (e.event) {
      case 'device.online':
        return app.log(`${e.device.id} came online${e.device.fw ? ` (firmware ${e.device.fw})` : ''}${e.device.address ? ` from ${e.device.address}` : ''}`, 'ok');
      case 'device.offline':
        return app.log(`${e.device.id} went offline`, 'warn');
      case 'printer.status': {
        const now = describePrinter(e.printer);
        if (printerState.get(e.printer.id) === now) return;
        printerState.set(e.printer.id, now);
        const [label, tone] = PRINTER_LABEL[e.printer.status] ?? [e.printer.status, 'neutral'];
        return app.log(`${e.printer.id}: ${label.toLowerCase()}${e.printer.paused ? ', queue paused' : ''}${e.printer.detail ? ` — ${e.printer.detail}` : ''}`, tone);
      }
      case 'job.updated': {
        const j = e.job;
        if (jobState.get(j.id) === j.state) return;
        jobState.set(j.id, j.state);
        if (j.state === 'sending') return; // queued → sending → printing: two lines are enough
        const tone: Tone = j.state === 'done' ? 'ok' : j.state === 'failed' ? 'bad' : j.state === 'paused' || j.state === 'canceled' ? 'warn' : 'neutral';
        return app.log(`Job ${shortId(j.id)} on ${j.printer}: ${j.state}${j.state === 'done' ? ` (${bytes(j.size)})` : ''}${j.error ? ` — ${j.error.code}` : ''}`, tone);
      }
      case 'control.delivered':
        return app.log(`Delivery: ${reportText(e.reports)}`, e.reports.every((r) => r.status === 'ok') ? 'ok' : 'warn', e.ref);
    }
  });
}
