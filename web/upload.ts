// Print a file: choose one (the picker, or drop it anywhere on the page),
// choose a printer, print. Dropped on a printer's card, a file prints on
// that printer at once. The file's name names the job (it can be changed
// before printing), so the job is found by it later; the new job is shown
// in the jobs table as soon as the server took it.
//
// The bytes go as they are (job.submit with base64 data), with an
// idempotency key: a connection lost during the upload sends it again
// without printing twice.

import { JOB_NAME_MAX, type PrinterView } from '../sdk/index.js';
import { describe, newKey, type App } from './app.js';
import { byId, carriesFiles, h, setText } from './dom.js';
import { bytes, shortId } from './format.js';
import { byKey } from './paged.js';

/**
 * The biggest job a server before 1.5 takes unless a program starting it
 * changed it (one since says, in its hello's `limits`). A file over the limit
 * is refused here, with its size and the limit, rather than as a TOO_BIG
 * from the SDK.
 */
const DEFAULT_MAX_UPLOAD = 16 * 1024 * 1024;
/** Up to this many printers, the select lists them all; beyond, a search narrows it to SUGGESTED. */
const LIST_ALL = 200;
const SUGGESTED = 50;

const DIALECT_NAME: Record<string, string> = { escpos: 'ESC/POS', gcode: 'G-code', zpl: 'ZPL', tspl: 'TSPL', raw: 'raw' };

/** The dialect a file's extension suggests, if any. */
export function dialectOf(fileName: string): string | undefined {
  const ext = /\.([a-z0-9]+)$/i.exec(fileName)?.[1]?.toLowerCase();
  if (ext === undefined) return undefined;
  if (['gcode', 'gco', 'g', 'gc', 'nc'].includes(ext)) return 'gcode';
  if (['zpl', 'zpl2'].includes(ext)) return 'zpl';
  if (['tspl', 'tsc'].includes(ext)) return 'tspl';
  if (['escpos', 'pos'].includes(ext)) return 'escpos';
  return undefined;
}

export function printerLabel(p: PrinterView): string {
  return `${p.name ? `${p.name} (${p.id})` : p.id} · ${DIALECT_NAME[p.dialect] ?? p.dialect}`;
}

export interface UploadSection {
  render(): void;
  /** Prints `file` on `printer` at once (a drop on a printer's card). */
  print(printer: string, file: File): void;
}

export function uploadSection(app: App): UploadSection {
  const form = byId<HTMLFormElement>('upload-form');
  const input = byId<HTMLInputElement>('upload-file');
  const zone = byId('upload-drop');
  const chosen = byId('upload-chosen');
  const select = byId<HTMLSelectElement>('upload-printer');
  const find = byId<HTMLInputElement>('upload-find');
  const name = byId<HTMLInputElement>('upload-name');
  const hint = byId('upload-hint');
  const error = byId('upload-error');
  const send = byId<HTMLButtonElement>('upload-send');
  let staged: File | undefined;
  /** The name field holds the file's name, not one the person typed. */
  let nameFromFile = true;
  let drawn = '';
  /** Printers came, went or changed since the select was filled. */
  let dirty = true;
  app.live.on('change', (c) => {
    if (c.kind === 'printer' || c.kind === 'snapshot') dirty = true;
  });

  const checkDialect = (): void => {
    const want = staged ? dialectOf(staged.name) : undefined;
    const p = app.live.printers.get(select.value);
    const mismatch = want !== undefined && p !== undefined && p.dialect !== want && p.dialect !== 'raw';
    setText(hint, mismatch ? `This looks like ${DIALECT_NAME[want] ?? want}; ${p.name ?? p.id} speaks ${DIALECT_NAME[p.dialect] ?? p.dialect}.` : '');
    hint.hidden = !mismatch;
  };

  const stage = (file: File | undefined): void => {
    staged = file;
    setText(error, '');
    zone.dataset['staged'] = String(file !== undefined);
    setText(chosen, file ? `${file.name} · ${bytes(file.size)}` : 'Drop a file here, or choose one');
    if (file && (nameFromFile || name.value.trim() === '')) {
      name.value = file.name.slice(0, JOB_NAME_MAX);
      nameFromFile = true;
    }
    // A file that says what it is goes to a printer that speaks it, unless the chosen one does.
    const want = file ? dialectOf(file.name) : undefined;
    const current = app.live.printers.get(select.value);
    if (want !== undefined && current?.dialect !== want) {
      const match = [...app.live.printers.values()].find((p) => p.dialect === want && p.online);
      if (match) choose(match.id);
    }
    checkDialect();
  };

  /** Options for the printers `list`, the chosen one kept whatever the list. */
  const fill = (list: readonly PrinterView[]): void => {
    const keep = select.value;
    const shown = [...list];
    const kept = app.live.printers.get(keep);
    if (kept && !shown.includes(kept)) shown.unshift(kept);
    const key = shown.map((p) => `${p.id}\t${p.name ?? ''}\t${p.dialect}`).join('\n');
    if (key !== drawn) {
      drawn = key;
      select.replaceChildren(h('option', { text: 'Choose a printer…', attrs: { value: '' } }), ...shown.map((p) => h('option', { text: printerLabel(p), attrs: { value: p.id } })));
    }
    select.value = kept ? keep : app.live.printers.size === 1 ? (shown[0]?.id ?? '') : '';
    checkDialect();
  };
  const choose = (id: string): void => {
    const p = app.live.printers.get(id);
    if (!p) return;
    if (![...select.options].some((o) => o.value === id)) select.append(h('option', { text: printerLabel(p), attrs: { value: id } }));
    select.value = id;
  };
  /** In a fleet, the printers whose id or name holds what was typed in the search beside the select. */
  const suggested = (): PrinterView[] => {
    const typed = find.value.trim().toLowerCase();
    const out: PrinterView[] = [];
    for (const p of app.live.printers.values()) {
      if (typed === '' || p.id.toLowerCase().includes(typed) || (p.name?.toLowerCase().includes(typed) ?? false)) out.push(p);
      if (out.length >= SUGGESTED) break;
    }
    return out.sort((a, b) => byKey(a.id, b.id));
  };
  find.addEventListener('input', () => fill(suggested()));

  input.addEventListener('change', () => stage(input.files?.[0]));
  name.addEventListener('input', () => (nameFromFile = false));
  select.addEventListener('change', checkDialect);

  const print = (printer: string, file: File, jobName = file.name): Promise<void> => {
    // A name is one line of at most JOB_NAME_MAX characters (the server refuses control characters).
    const clean = (text: string): string => text.replace(/\p{Cc}+/gu, ' ').trim().slice(0, JOB_NAME_MAX);
    const called = clean(jobName) || clean(file.name) || 'upload';
    if (file.size === 0) return Promise.reject(new Error(`${file.name} is empty`));
    const max = app.client.limits?.maxJobBytes ?? DEFAULT_MAX_UPLOAD;
    if (file.size > max) return Promise.reject(new Error(`${file.name} is ${bytes(file.size)}; the server takes jobs up to ${bytes(max)}`));
    return file
      .arrayBuffer()
      .then((buf) => app.client.submit(printer, new Uint8Array(buf), { name: called, key: newKey('upload') }))
      .then((job) => {
        app.log(`${called} (${bytes(file.size)}) sent to ${printer} as job ${shortId(job.id)}`, 'neutral');
        app.toast(`Printing ${called} on ${printer}`, 'ok');
        app.showJob(job.id);
      });
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setText(error, '');
    if (!staged) {
      setText(error, 'Choose a file first.');
      input.focus();
      return;
    }
    if (!select.value) {
      setText(error, 'Choose a printer.');
      select.focus();
      return;
    }
    send.disabled = true;
    setText(send, 'Uploading…');
    print(select.value, staged, name.value)
      .then(
        () => {
          // Ready for the next file, on the same printer.
          input.value = '';
          name.value = '';
          nameFromFile = true;
          stage(undefined);
        },
        (err) => setText(error, describe(err)),
      )
      .finally(() => {
        send.disabled = false;
        setText(send, 'Print');
      });
  });

  // Dropping a file anywhere stages it here; a printer card takes it itself
  // (printers.ts) and stops it there. Without this the browser would open the
  // file in place of the dashboard.
  let depth = 0;
  document.addEventListener('dragenter', (e) => {
    if (!carriesFiles(e)) return;
    depth++;
    document.body.dataset['dragging'] = 'true';
  });
  document.addEventListener('dragleave', (e) => {
    if (!carriesFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) delete document.body.dataset['dragging'];
  });
  document.addEventListener('dragover', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  const dropped = (): void => {
    depth = 0;
    delete document.body.dataset['dragging'];
  };
  document.addEventListener('drop', dropped, true);
  document.addEventListener('dragend', dropped, true);
  document.addEventListener('drop', (e) => {
    // A printer card took it (and prevented the browser's default).
    if (e.defaultPrevented || !carriesFiles(e)) return;
    e.preventDefault();
    const file = e.dataTransfer?.files[0];
    if (!file) return;
    stage(file);
    zone.scrollIntoView({ block: 'nearest' });
    send.focus();
  });

  return {
    render() {
      // Rebuilt only when the printers or their names change, not on every event.
      if (!dirty) return;
      dirty = false;
      const many = app.live.printers.size > LIST_ALL;
      find.hidden = !many;
      fill(many ? suggested() : [...app.live.printers.values()].sort((a, b) => byKey(a.id, b.id)));
    },
    print(printer, file) {
      print(printer, file).catch((err) => app.toast(`${file.name} on ${printer}: ${describe(err)}`, 'bad'));
    },
  };
}
