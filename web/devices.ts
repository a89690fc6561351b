// The devices table: online state, firmware, signal, memory, LED, tags, and
// an identify button that blinks the board so someone can find it (bridges
// only: a Zebra printer on Weblink is its own device and has no such LED).

import { WEBLINK_TAG, type DeviceView } from '../sdk/index.js';
import { describe, type App } from './app.js';
import { byId, h, KeyedList, setAttr, setText, type Row } from './dom.js';
import { bytes, duration, signalBars, time } from './format.js';

/** The tag `printbridge devices add SERIAL --weblink` gives a Link-OS printer (server/store/devices.ts). */

export function devicesSection(app: App): () => void {
  const list = new KeyedList<DeviceView>(byId('device-rows'), (d) => d.id, (d) => deviceRow(app, d));
  return () => {
    const devices = [...app.live.devices.values()].sort((a, b) => Number(b.online) - Number(a.online) || a.id.localeCompare(b.id));
    list.sync(devices);
    setText(byId('devices-count'), devices.length ? `${devices.filter((d) => d.online).length} of ${devices.length} online` : '');
    byId('devices-empty').hidden = devices.length > 0;
  };
}

function deviceRow(app: App, first: DeviceView): Row<DeviceView> {
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
    h('td', { class: 'row-actions' }, identify),
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
      tags.replaceChildren(...(d.tags.length ? d.tags.map((t) => h('span', { class: 'tag', text: t })) : ['—']));
      setText(address, d.address ?? '—');
      setAttr(el, 'data-online', String(d.online));
      // A Zebra printer on Weblink (the server's `weblink` tag) has no LED of ours to blink: the server refuses controls to it.
      identify.hidden = !d.online || d.tags.includes(WEBLINK_TAG);
    },
  };
}
