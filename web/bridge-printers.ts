// "Printers…" on a Node bridge's row: a dialog that asks the bridge which
// printers its computer can reach (control printers.scan) and lists them:
// its own printers marked as such, the others with a form that adds one to
// the bridge (control printers.add). After an add the bridge reconnects
// with the new printer, so the device goes offline for a moment: the list
// is asked for again once it is back, or once the new printer shows up,
// whichever the page sees first. A network printer, which no scan finds,
// is added by its address in a form of its own (printer-add.ts).

import { dialectsFor, SCAN_CAP, type Dialect, type DeviceView, type PrinterScan, type ScannedPrinter } from '../sdk/index.js';
import { describe, type App } from './app.js';
import { byId, h, KeyedList, setAttr, setChildren, setText, type Row } from './dom.js';
import { grouped, type Tone } from './format.js';
import { dialectOptions, networkForm, sendAdd, type AddContext } from './printer-add.js';

/** Asked again after an add even if the page never saw the bridge come back (it may come back within one coalesced event). */
const RESCAN_AFTER_ADD_MS = 8000;

const KIND_LABEL: Record<ScannedPrinter['kind'], string> = { serial: 'Serial', usb: 'USB', cups: 'CUPS', network: 'Network' };

export interface PrinterFinder {
  /** Opens the dialog for `device` and asks it; focus goes back to `opener` when it closes. */
  open(device: string, opener: HTMLElement): void;
  /** Follows the live state while open (called on every redraw). */
  render(): void;
}

/** Whether a device can be asked for its printers: a Node bridge, online. */
export function canScan(d: DeviceView): boolean {
  return d.online && (d.caps ?? []).includes(SCAN_CAP);
}

export function printerFinder(app: App): PrinterFinder {
  const dialog = byId<HTMLDialogElement>('finder');
  const heading = byId('finder-h');
  const state = byId('finder-state');
  const more = byId('finder-more');
  const problems = byId('finder-problems');
  const again = byId<HTMLButtonElement>('finder-again');
  let device = '';
  let opener: HTMLElement | undefined;
  /** Answers of an older scan, or for a device no longer shown, are dropped. */
  let generation = 0;
  let scanning = false;
  let failed = '';
  let scan: PrinterScan | undefined;
  let online = false;
  /** The port of a printer just added, until the page sees it or the timer gives up. */
  let awaiting: number | undefined;
  let awaitTimer: ReturnType<typeof setTimeout> | undefined;
  const ctx: AddContext = { app, device: () => device, online: () => online, added };
  const list = new KeyedList<ScannedPrinter>(byId('finder-list'), (p) => p.uri, (p) => entryRow(ctx, p));
  const network = networkForm(ctx);

  function ask(): void {
    const mine = ++generation;
    scanning = true;
    failed = '';
    stopAwaiting();
    draw();
    app.client.scanPrinters(device).then(
      (r) => {
        if (mine !== generation) return;
        scan = r;
        const configured = r.printers.filter((p) => p.port !== undefined).length;
        app.log(`${device}: ${r.printers.length} printer${r.printers.length === 1 ? '' : 's'} found${configured ? `, ${configured} of them its own` : ''}`, 'neutral', r.ref);
      },
      (e) => {
        if (mine !== generation) return;
        failed = describe(e);
      },
    ).finally(() => {
      if (mine !== generation) return;
      scanning = false;
      draw();
    });
  }

  function added(port: number): void {
    awaiting = port;
    clearTimeout(awaitTimer);
    awaitTimer = setTimeout(() => {
      if (dialog.open && awaiting !== undefined && online) ask();
    }, RESCAN_AFTER_ADD_MS);
    draw();
  }

  function stopAwaiting(): void {
    awaiting = undefined;
    clearTimeout(awaitTimer);
  }

  function draw(): void {
    const d = app.live.devices.get(device);
    const [text, tone] = stateLine(device, d, { scanning, failed, scan, awaiting });
    setText(state, text);
    setAttr(state, 'data-tone', tone);
    again.disabled = scanning || !online;
    list.sync(scan?.printers ?? []);
    const n = scan?.more ?? 0;
    setText(more, n > 0 ? `${grouped(n)} more not shown.` : '');
    more.hidden = n === 0;
    const lines = scan?.problems ?? [];
    setChildren(problems, lines.join('\n'), () => lines.map((p) => h('li', { text: p })));
    problems.hidden = lines.length === 0;
    network.update();
  }

  again.addEventListener('click', ask);
  byId('finder-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    // The event comes a task later: opened again meanwhile, the dialog is someone else's now.
    if (dialog.open) return;
    // Whatever is still on its way belongs to a dialog no one looks at.
    generation++;
    stopAwaiting();
    device = '';
    scan = undefined;
    list.sync([]);
    if (opener?.isConnected && !opener.hidden) opener.focus();
    opener = undefined;
  });

  return {
    open(id, from) {
      if (dialog.open) dialog.close();
      device = id;
      opener = from;
      scan = undefined;
      online = app.live.devices.get(id)?.online ?? false;
      setText(heading, `Printers ${id} can reach`);
      network.reset();
      dialog.showModal();
      ask();
    },
    render() {
      if (!dialog.open || device === '') return;
      const d = app.live.devices.get(device);
      const now = d?.online ?? false;
      const back = now && !online;
      online = now;
      if (!online) {
        // Its answer, if one comes, would be an "offline" report: the list shown stays the last one.
        if (scanning) generation++;
        scanning = false;
      }
      if (back) ask();
      else if (awaiting !== undefined && online && app.live.printers.has(`${device}/${awaiting}`)) ask();
      else draw();
    },
  };
}

interface Progress {
  scanning: boolean;
  failed: string;
  scan: PrinterScan | undefined;
  awaiting: number | undefined;
}

function stateLine(device: string, d: DeviceView | undefined, p: Progress): [string, Tone] {
  if (!d) return [`${device} is no longer registered.`, 'bad'];
  if (!d.online) {
    return [p.awaiting !== undefined
      ? `${device} is reconnecting with its new printer…`
      : `${device} is offline.${p.scan ? ' The list is from before; it is asked again when the device is back.' : ' It is asked once the device is back.'}`, 'warn'];
  }
  if (p.scanning) return [p.scan ? 'Asking again…' : `Asking ${device}…`, 'busy'];
  if (p.failed !== '') return [`Could not ask ${device} — ${p.failed}`, 'bad'];
  if (!p.scan) return ['', 'neutral'];
  if (p.awaiting !== undefined) return [`Added printer ${p.awaiting}; waiting for ${device} to list it…`, 'busy'];
  const found = p.scan.printers.length;
  const unread = p.scan.problems.length;
  const problems = unread ? ` · ${unread === 1 ? 'one place' : `${unread} places`} could not be read (below)` : '';
  if (found === 0) return [`${device} found no printers${problems}.`, unread ? 'warn' : 'neutral'];
  const own = p.scan.printers.filter((x) => x.port !== undefined).length;
  return [`${grouped(found)} found${own ? ` · ${grouped(own)} ${own === 1 ? 'is already a printer' : 'are already printers'} of ${device}` : ''}${problems}.`, unread ? 'warn' : 'ok'];
}

/** One address the bridge can reach: what it is, and either the printer it already is or a form that adds it. */
function entryRow(ctx: AddContext, first: ScannedPrinter): Row<ScannedPrinter> {
  const { app } = ctx;
  const uri = first.uri;
  const kind = h('span', { class: 'badge kind' });
  const detail = h('p', { class: 'finder-detail' });
  const mine = h('div', { class: 'finder-mine' });
  const dialect = h('select', { attrs: { 'aria-label': `Dialect for ${uri}` } });
  const name = h('input', { attrs: { type: 'text', maxlength: '64', autocomplete: 'off', spellcheck: 'false', placeholder: 'optional', 'aria-label': `Name for ${uri}` } });
  const add = h('button', { class: 'primary small', text: 'Add', attrs: { type: 'submit', 'aria-label': `Add ${uri}` } });
  const error = h('p', { class: 'form-error', attrs: { role: 'alert' } });
  const form = h(
    'form',
    { class: 'finder-add' },
    h('label', {}, h('span', { class: 'small muted', text: 'Dialect' }), dialect),
    h('label', {}, h('span', { class: 'small muted', text: 'Name' }), name),
    add,
  );
  const choices = dialectsFor(uri);
  dialect.append(...dialectOptions(choices));
  if (choices.length === 1) setAttr(dialect, 'title', 'A CUPS queue prints the bytes as they are: raw only');
  let busy = false;
  /** Added: nothing more to do here until the next scan lists it as a printer. */
  let done = false;
  let current = first;
  const enable = (): void => {
    const can = ctx.online() && !busy && !done;
    dialect.disabled = name.disabled = !can;
    add.disabled = !can;
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (busy || !ctx.online()) return;
    const label = name.value.trim();
    busy = true;
    enable();
    setText(error, '');
    setText(add, 'Adding…');
    void sendAdd(ctx, { uri, dialect: dialect.value as Dialect, name: label || undefined }, error).then((added) => {
      busy = false;
      done = added;
      setText(add, done ? 'Added' : 'Add');
      enable();
    });
  });

  const el = h(
    'li',
    { class: 'finder-item', attrs: { 'aria-label': uri } },
    h('div', { class: 'finder-what' }, h('div', { class: 'finder-line' }, h('code', { class: 'finder-uri', text: uri }), kind), detail),
    h('div', { class: 'finder-do' }, mine, form, error),
  );
  return {
    el,
    update(p) {
      // Each scan brings new entries; the same one comes back on every redraw.
      if (p !== current && done) {
        done = false;
        setText(add, 'Add');
      }
      current = p;
      setText(kind, KIND_LABEL[p.kind]);
      setAttr(kind, 'data-kind', p.kind);
      setText(detail, p.detail);
      detail.hidden = p.detail === '';
      const configured = current.port !== undefined;
      form.hidden = configured;
      mine.hidden = !configured;
      setAttr(el, 'data-configured', String(configured));
      if (configured) {
        const id = `${ctx.device()}/${current.port}`;
        const printer = app.live.printers.get(id);
        setChildren(mine, `${id}\n${printer?.name ?? ''}\n${printer ? 'y' : 'n'}`, () => [
          h('span', { class: 'badge', text: `printer ${current.port}`, attrs: { 'data-tone': 'ok' } }),
          printer ? showButton(id, printer.name) : h('span', { class: 'small muted', text: id }),
        ]);
        setText(error, '');
      }
      enable();
    },
  };
}

/** Closes the dialog and brings the printer's card into view (found by a search when it is on another page). */
function showButton(id: string, name: string | undefined): HTMLButtonElement {
  const b = h('button', { class: 'ghost small', text: name ? `${name} →` : `${id} →`, attrs: { type: 'button', 'aria-label': `Show printer ${id}` } });
  b.addEventListener('click', () => {
    b.closest('dialog')?.close();
    const find = (): HTMLElement | null => document.querySelector<HTMLElement>(`#printer-list [data-printer="${CSS.escape(id)}"]`);
    if (!find()) {
      const search = byId<HTMLInputElement>('printer-search');
      search.value = id;
      search.dispatchEvent(new Event('input'));
    }
    // The search redraws on the next frame.
    requestAnimationFrame(() => requestAnimationFrame(() => {
      const card = find();
      if (!card) return;
      card.scrollIntoView({ block: 'center', behavior: 'smooth' });
      card.querySelector('button')?.focus({ preventScroll: true });
      card.dataset['marked'] = 'true';
      setTimeout(() => delete card.dataset['marked'], 2400);
    }));
  });
  return b;
}
