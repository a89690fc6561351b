// The control form: one message to every device, a tag or one device, with
// the delivery reports shown under it and in the activity log.

import type { Target } from '../sdk/index.js';
import { describe, type App } from './app.js';
import { reportText } from './activity.js';
import { byId, h, setText } from './dom.js';

const DEFAULT_ARGS: Record<string, string> = {
  identify: '{"seconds": 10}',
  led: '{"pattern": "identify", "seconds": 10}',
  status: '{}',
  restart: '{}',
  custom: '{}',
};

/** Suggestions under the target field: a fleet's every id would make a list nobody scrolls. */
const SUGGESTIONS = 50;

export function broadcastSection(app: App): void {
  const form = byId<HTMLFormElement>('broadcast-form');
  const target = byId<HTMLInputElement>('broadcast-target');
  const name = byId<HTMLSelectElement>('broadcast-name');
  const custom = byId<HTMLInputElement>('broadcast-custom');
  const args = byId<HTMLTextAreaElement>('broadcast-args');
  const error = byId('broadcast-error');
  const reports = byId('broadcast-reports');
  const send = byId<HTMLButtonElement>('broadcast-send');
  const options = byId('broadcast-targets');
  const mode = (): string => (form.elements.namedItem('to') as RadioNodeList).value;

  form.addEventListener('change', (e) => {
    if ((e.target as HTMLInputElement).name === 'to') {
      target.disabled = mode() === 'all';
      target.required = mode() !== 'all';
      target.placeholder = mode() === 'tag' ? 'tag' : mode() === 'device' ? 'device id' : 'tag or device id';
      refreshOptions();
    }
  });
  name.addEventListener('change', () => {
    byId('custom-name-label').hidden = name.value !== 'custom';
    custom.required = name.value === 'custom';
    args.value = DEFAULT_ARGS[name.value] ?? '{}';
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setText(error, '');
    let parsed: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(args.value.trim() || '{}');
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('arguments must be a JSON object');
      parsed = v as Record<string, unknown>;
    } catch (err) {
      setText(error, `Arguments: ${err instanceof Error ? err.message : String(err)}`);
      args.focus();
      return;
    }
    const to: Target = mode() === 'all' ? { all: true } : mode() === 'tag' ? { tag: target.value.trim() } : { device: target.value.trim() };
    const message = name.value === 'custom' ? custom.value.trim() : name.value;
    const who = 'all' in to ? 'all devices' : 'tag' in to ? `tag ${to.tag}` : to.device;
    if (message === 'restart' && !confirm(`Restart ${who}?`)) return;
    send.disabled = true;
    reports.replaceChildren(h('li', { class: 'muted', text: 'Waiting for answers…' }));
    app.client
      .control(to, message, parsed)
      .then(
        (r) => {
          reports.replaceChildren(
            ...(r.reports.length ? r.reports : [null]).map((rep) =>
              rep
                ? h('li', { attrs: { 'data-tone': rep.status === 'ok' ? 'ok' : 'warn' } }, h('strong', { text: rep.device }), ` ${rep.status}${rep.code ? ` (${rep.code})` : ''}${rep.data ? ` ${JSON.stringify(rep.data)}` : ''}`)
                : h('li', { class: 'muted', text: 'No device matched.' }),
            ),
          );
          app.log(`${message} → ${who}: ${reportText(r.reports)}`, r.reports.length && r.reports.every((x) => x.status === 'ok') ? 'ok' : 'warn', r.ref);
        },
        (err) => {
          reports.replaceChildren();
          setText(error, describe(err));
        },
      )
      .finally(() => (send.disabled = false));
  });

  // Filled while someone types, from what they typed; never on a redraw.
  function refreshOptions(): void {
    const typed = target.value.trim().toLowerCase();
    const values = new Set<string>();
    for (const d of app.live.devices.values()) {
      for (const v of mode() === 'tag' ? d.tags : [d.id]) if (v.toLowerCase().includes(typed)) values.add(v);
      if (values.size >= SUGGESTIONS) break;
    }
    options.replaceChildren(...[...values].sort().map((v) => h('option', { attrs: { value: v } })));
  }
  target.addEventListener('focus', refreshOptions);
  target.addEventListener('input', refreshOptions);
}
