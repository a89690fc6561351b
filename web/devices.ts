// The devices table: online state, firmware, signal, memory, LED, tags, and
// an identify button that blinks the board so someone can find it (bridges
// only: a Zebra printer on Weblink is its own device and has no such LED).
// A Node bridge also has "Printers…": what its computer can reach, and a
// way to add one (bridge-printers.ts).

import { WEBLINK_TAG, type DeviceView } from '../sdk/index.js';
import { describe, type App } from './app.js';
import { canScan, printerFinder, type PrinterFinder } from './bridge-printers.js';
import { byId, h, setAttr, setChildren, setText, type Row } from './dom.js';
import { bytes, duration, grouped, signalBars, time } from './format.js';
import { fillTags, PagedList, pagedControls, type Filter } from './paged.js';

/** Rows of the table at once; the rest is a page away. */
const PAGE = 50;

export function devicesSection(app: App, redraw: () => void): () => void {
  const controls = pagedControls('device', 'devices');
  const finder = printerFinder(app);
  const list = new PagedList<DeviceView>({
    container: byId('device-rows'), controls, pageSize: PAGE, key: (d) => d.id, create: (d) => deviceRow(app, finder, d), matches: deviceMatches, redraw,
  });
  return () => {
    const { devices } = app.live;
    list.render(devices);
    finder.render();
    let online = 0;
    const tags = new Set<string>();
    for (const d of devices.values()) {
      if (d.online) online++;
      for (const t of d.tags) tags.add(t);
    }
    fillTags(controls.tag, tags);
    setText(byId('devices-count'), devices.size ? `${grouped(online)} of ${grouped(devices.size)} online` : '');
  };
}

export function deviceMatches(d: DeviceView, f: Filter): boolean {
  if (f.state === 'online' && !d.online) return false;
  if (f.state === 'offline' && d.online) return false;
  if (f.tag !== '' && !d.tags.includes(f.tag)) return false;
  return f.text === '' || d.id.toLowerCase().includes(f.text) || d.tags.some((t) => t.toLowerCase().includes(f.text));
}

function deviceRow(app: App, finder: PrinterFinder, first: DeviceView): Row<DeviceView> {
  const id = first.id;
  const name = h('th', { attrs: { scope: 'row' } });
  const status = h('span', { class: 'badge' });
  const seen = h('span', { class: 'muted small' });
  const fw = h('td', { attrs: { 'data-label': 'Firmware' } });
  const bars = h('span', { class: 'bars', attrs: { 'aria-hidden': 'true' } }, h('i'), h('i'), h('i'), h('i'));
  const rssi = h('span');
  const heap = h('td', { attrs: { 'data-label': 'Free memory' } });
  const led = h('span', { class: 'led' });
  const ledText = h('span');
  const tags = h('td', { attrs: { 'data-label': 'Tags' } });
  const address = h('td', { class: 'mono', attrs: { 'data-label': 'Address' } });
  const identify = h('button', { text: 'Identify', attrs: { type: 'button', 'aria-label': `Identify ${id}` } });
  identify.addEventListener('click', () => {
    identify.disabled = true;
    app.client
      .identify(id, 10)
      .then(
        (r) => {
          const report = r.reports.find((x) => x.device === id);
          const status = report?.status ?? 'no report';
          app.toast(`Identify ${id}: ${status}${report?.code ? ` (${report.code})` : ''}`, status === 'ok' ? 'ok' : 'warn');
        },
        (e) => app.toast(`Identify ${id} failed — ${describe(e)}`, 'bad'),
      )
      .finally(() => (identify.disabled = false));
  });
  const printers = h('button', { text: 'Printers…', attrs: { type: 'button', 'aria-label': `Find printers for ${id}`, 'aria-haspopup': 'dialog' } });
  printers.addEventListener('click', () => finder.open(id, printers));
  const el = h(
    'tr',
    {},
    name,
    h('td', { attrs: { 'data-label': 'Status' } }, status, ' ', seen),
    fw,
    h('td', { class: 'signal', attrs: { 'data-label': 'Signal' } }, bars, rssi),
    heap,
    h('td', { attrs: { 'data-label': 'LED' } }, led, ledText),
    tags,
    address,
    h('td', { class: 'row-actions' }, printers, identify),
  );
  return {
    el,
    update(d) {
      setText(name, d.id);
      setText(status, d.online ? 'Online' : 'Offline');
      setAttr(status, 'data-tone', d.online ? 'ok' : 'off');
      setText(seen, d.online ? (d.uptime !== undefined ? `up ${duration(d.uptime)}` : '') : d.lastSeen ? `last seen ${time(d.lastSeen)}` : 'never seen');
      setText(fw, d.fw ?? '—');
      const n = signalBars(d.rssi);
      setAttr(bars, 'data-bars', String(n));
      bars.hidden = d.rssi === undefined;
      setText(rssi, d.rssi !== undefined ? `${d.rssi} dBm` : '—');
      setAttr(rssi, 'title', d.rssi === undefined ? 'no Wi-Fi signal reported (a wired or PC bridge)' : undefined);
      setText(heap, bytes(d.heap));
      setAttr(led, 'data-pattern', d.online ? d.led ?? 'off' : 'off');
      setText(ledText, d.online ? d.led ?? '—' : '—');
      setChildren(tags, d.tags.join('\n'), () => (d.tags.length ? d.tags.map((t) => h('span', { class: 'tag', text: t })) : ['—']));
      setText(address, d.address ?? '—');
      setAttr(el, 'data-online', String(d.online));
      // A Zebra printer on Weblink (the server's `weblink` tag) has no LED of ours to blink: the server refuses controls to it.
      identify.hidden = !d.online || d.tags.includes(WEBLINK_TAG);
      // Only a bridge that announced it can list what its computer reaches (a Node bridge; not the ESP32 firmware, not Weblink).
      printers.hidden = !canScan(d);
    },
  };
}
