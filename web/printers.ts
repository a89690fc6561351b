// Printer cards: what the printer is doing now in one badge ("Printing
// 48 %", "Paused: paper out", "Ready"), the job on it by name with its
// progress, rate and time left, temperatures over the last minutes as a
// chart, the queue, the operator's buttons, and for G-code printers a
// command line (M105, M114…) that shows the answer. A file dropped on a
// card prints on that printer.

import { isFinal, testPage, type DeviceView, type JobView, type PrinterView } from '../sdk/index.js';
import { describe, type App } from './app.js';
import { byId, carriesFiles, h, setAttr, setChildren, setText, type Row } from './dom.js';
import { bytes, grouped, jobName, NEEDS_ATTENTION, percent, PRINTER_LABEL, shortId, type Tone } from './format.js';
import { fillTags, PagedList, pagedControls, type Filter } from './paged.js';
import { paceText } from './rates.js';
import { sensorClass, tempChart } from './temps.js';

/**
 * What the printer is doing now, in a few words and a tone. A job on it
 * says more than the printer's own state: a G-code printer reports "online"
 * all through a print.
 */
export function doingNow(p: PrinterView, job: JobView | undefined): [string, Tone] {
  const [label, tone] = PRINTER_LABEL[p.status] ?? [p.status, 'neutral'];
  if (!p.online || p.status === 'offline') return PRINTER_LABEL.offline;
  const trouble = NEEDS_ATTENTION.includes(p.status);
  if (job !== undefined && !isFinal(job.state) && job.state !== 'queued') {
    if (job.state === 'paused') {
      if (job.held) return [`Paused (held) ${percent(job.progress)}`, 'warn'];
      return [`Paused: ${trouble || p.status === 'paper-low' ? label.toLowerCase() : pausedWhy(job)}`, trouble ? 'bad' : 'warn'];
    }
    if (trouble) return [label, tone];
    return [`Printing ${percent(job.progress)}`, 'busy'];
  }
  if (p.paused && p.status === 'online') return ['Queue paused', 'warn'];
  return [label, tone];
}

/** Why the printer holds a job, from the job's error ("paper-out: …" from the device). */
function pausedWhy(job: JobView): string {
  const said = job.error?.message ?? '';
  const state = said.split(':')[0]?.trim() as PrinterView['status'];
  const known = PRINTER_LABEL[state];
  if (known) return known[0].toLowerCase();
  return said || 'by the printer';
}

/** Cards at once; each is a few dozen elements. */
const PAGE = 24;

export function printersSection(app: App, redraw: () => void): () => void {
  const controls = pagedControls('printer', 'printers');
  const list = new PagedList<PrinterView>({
    container: byId('printer-list'), controls, pageSize: PAGE, key: (p) => p.id, create: (p) => printerCard(app, p),
    matches: (p, f) => printerMatches(p, app.live.devices.get(p.device), f, printing.has(p.id)), redraw,
  });
  /** Printers with a job moving on them, for the "printing" filter (a G-code printer says "online" while it prints). */
  let printing = new Set<string>();
  return () => {
    const { printers } = app.live;
    printing = new Set();
    for (const j of app.live.jobs.values()) if (j.state === 'sending' || j.state === 'printing') printing.add(j.printer);
    list.render(printers);
    let online = 0;
    let trouble = 0;
    const tags = new Set<string>();
    for (const p of printers.values()) {
      if (p.online) online++;
      if (NEEDS_ATTENTION.includes(p.status)) trouble++;
      for (const t of app.live.devices.get(p.device)?.tags ?? []) tags.add(t);
    }
    fillTags(controls.tag, tags);
    setText(
      byId('printers-count'),
      printers.size ? `${grouped(online)} of ${grouped(printers.size)} online${trouble ? ` · ${grouped(trouble)} need${trouble === 1 ? 's' : ''} attention` : ''}` : '',
    );
  };
}

/** The tag filter and the search look at the tags of the printer's device. */
export function printerMatches(p: PrinterView, device: DeviceView | undefined, f: Filter, printing = false): boolean {
  switch (f.state) {
    case 'attention':
      if (!NEEDS_ATTENTION.includes(p.status)) return false;
      break;
    case 'busy':
      if (p.status !== 'busy' && !printing) return false;
      break;
    case 'ready':
      if (p.status !== 'online' || printing || !p.online) return false;
      break;
    case 'offline':
      if (p.online) return false;
      break;
    default:
      break;
  }
  const tags = device?.tags ?? [];
  if (f.tag !== '' && !tags.includes(f.tag)) return false;
  return f.text === '' || p.id.toLowerCase().includes(f.text) || (p.name?.toLowerCase().includes(f.text) ?? false) || tags.some((t) => t.toLowerCase().includes(f.text));
}

function printerCard(app: App, first: PrinterView): Row<PrinterView> {
  const id = first.id;
  const title = h('h3', { class: 'card-title' });
  const sub = h('p', { class: 'card-sub' });
  const badge = h('span', { class: 'badge now' });
  const detail = h('p', { class: 'detail' });
  const temps = h('ul', { class: 'temps', attrs: { 'aria-label': `Temperatures of ${id}` } });
  const chart = tempChart(id);
  const jobTitle = h('strong', { class: 'job-name' });
  const jobState = h('span', { class: 'job-state' });
  const jobLine = h('p', { class: 'job-line' }, jobTitle, jobState);
  const jobPace = h('p', { class: 'job-pace small muted' });
  const bar = h('progress', { attrs: { max: '1', 'aria-label': `Progress of the current job on ${id}` } });
  const jobBox = h('div', { class: 'job-box' }, jobLine, bar, jobPace);
  const dropHint = h('p', { class: 'drop-hint', attrs: { 'aria-hidden': 'true' } });
  const queue = h('p', { class: 'queue' });
  const testBtn = h('button', { class: 'primary', text: 'Test print', attrs: { type: 'button', 'aria-label': `Test print on ${id}` } });
  const pauseBtn = h('button', { attrs: { type: 'button' } });
  const cancelBtn = h('button', { class: 'danger', text: 'Cancel all', attrs: { type: 'button', 'aria-label': `Cancel all jobs on ${id}` } });
  const command = commandBox(app, id);
  let current = first;

  testBtn.addEventListener('click', () => {
    const data = testPage(current.dialect);
    testBtn.disabled = true;
    app.log(`Test print sent to ${id}`, 'neutral');
    let shown = false;
    app.client
      .print(id, data, {
        name: 'Test page',
        onUpdate: (job) => {
          testBtn.disabled = false;
          if (!shown) app.showJob(job.id);
          shown = true;
        },
      })
      .then(
        (job) => app.toast(`Test page on ${id}: done (job ${shortId(job.id)})`, 'ok'),
        (e) => app.toast(`Test print on ${id} failed — ${describe(e)}`, 'bad'),
      )
      .finally(() => (testBtn.disabled = false));
  });
  pauseBtn.addEventListener('click', () => {
    const op = current.paused ? app.client.resumePrinter(id) : app.client.pausePrinter(id);
    op.then(
      (r) => app.log(`${id}: queue ${r.paused ? 'paused' : 'resumed'}`, r.paused ? 'warn' : 'ok'),
      (e) => app.toast(`${id}: ${describe(e)}`, 'bad'),
    );
  });
  cancelBtn.addEventListener('click', () => {
    if (!confirm(`Cancel every unfinished job on ${id}?`)) return;
    app.client.cancelPrinter(id).then(
      (r) => app.log(`${id}: ${r.canceled.length} job(s) canceled`, 'warn'),
      (e) => app.toast(`${id}: ${describe(e)}`, 'bad'),
    );
  });

  const el = h(
    'li',
    { class: 'card printer', attrs: { 'aria-label': `Printer ${id}`, 'data-printer': id } },
    h('div', { class: 'card-head' }, h('div', {}, title, sub), badge),
    detail,
    jobBox,
    temps,
    chart.el,
    queue,
    command.el,
    h('div', { class: 'actions' }, testBtn, pauseBtn, cancelBtn),
    dropHint,
  );
  // A file dropped here prints here (the page's own drop handler, upload.ts, stages it for the form instead).
  let over = 0;
  const leave = (): void => {
    over = 0;
    delete el.dataset['over'];
    setText(dropHint, '');
  };
  el.addEventListener('dragenter', (e) => {
    if (!carriesFiles(e)) return;
    over++;
    el.dataset['over'] = 'true';
    setText(dropHint, `Drop to print on ${current.name ?? current.id}`);
  });
  el.addEventListener('dragleave', (e) => {
    if (!carriesFiles(e)) return;
    over = Math.max(0, over - 1);
    if (over === 0) leave();
  });
  el.addEventListener('dragover', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  el.addEventListener('drop', (e) => {
    leave();
    if (!carriesFiles(e)) return;
    e.preventDefault();
    for (const file of e.dataTransfer?.files ?? []) app.printFile(id, file);
  });

  return {
    el,
    update(p) {
      current = p;
      setText(title, p.name ?? p.id);
      setText(sub, `${p.name ? `${p.id} · ` : ''}${p.dialect.toUpperCase()}${p.confirms ? ' · confirms prints' : ''}`);
      setText(detail, p.detail ?? '');
      detail.hidden = !p.detail;
      const lines = (p.temps ?? []).map((t) => ({
        text: `${t.name} ${t.current.toFixed(1)}°${t.target !== undefined && t.target > 0 ? ` → ${t.target.toFixed(0)}°` : ''}`,
        cls: sensorClass(t.name),
      }));
      setChildren(temps, lines.map((l) => l.text).join('\n'), () => lines.map((l) => h('li', { class: l.cls, text: l.text })));
      temps.hidden = !p.temps?.length;
      chart.update(app.temps.samples(p.id), Date.now());
      // The printer view's queue length and job are only as fresh as its
      // last printer.status; the jobs themselves are always live.
      const mine = [...app.live.jobs.values()].filter((j) => j.printer === p.id && !isFinal(j.state));
      const job: JobView | undefined =
        mine.find((j) => j.id === p.job) ?? mine.find((j) => j.state === 'sending' || j.state === 'printing' || (j.state === 'paused' && (j.written > 0 || !j.held)));
      const waiting = mine.filter((j) => j !== job).length;
      const [label, tone] = doingNow(p, job);
      setText(badge, label);
      setAttr(badge, 'data-tone', tone);
      setAttr(el, 'data-tone', tone);
      jobBox.hidden = !job;
      if (job) {
        setText(jobTitle, jobName(job));
        setAttr(jobTitle, 'title', `job ${job.id}`);
        setText(jobState, ` · ${bytes(job.written)} of ${bytes(job.size)} · ${percent(job.progress)}`);
        setText(jobPace, paceText(app.rates, job));
        jobPace.hidden = jobPace.textContent === '';
        bar.value = job.progress;
      }
      setText(queue, waiting > 0 ? `${waiting} job${waiting === 1 ? '' : 's'} waiting${p.paused ? ' (queue paused)' : ''}` : p.paused ? 'Queue paused' : job ? 'Nothing waiting' : 'Queue empty');
      setText(pauseBtn, p.paused ? 'Resume queue' : 'Pause queue');
      setAttr(pauseBtn, 'aria-label', `${p.paused ? 'Resume' : 'Pause'} the queue of ${id}`);
      cancelBtn.disabled = mine.length === 0;
      command.update(p);
    },
  };
}

/**
 * One G-code line to the printer between jobs (printer.command) and the
 * lines it answered up to its `ok`. Only G-code printers answer in lines, so
 * only their cards show it.
 */
function commandBox(app: App, id: string): Row<PrinterView> {
  const input = h('input', {
    attrs: { type: 'text', maxlength: '256', placeholder: 'G-code, e.g. M105', autocomplete: 'off', spellcheck: 'false', 'aria-label': `G-code command for ${id}` },
  });
  const send = h('button', { text: 'Send', attrs: { type: 'submit', 'aria-label': `Send the command to ${id}` } });
  const answer = h('pre', { class: 'answer', attrs: { 'aria-live': 'polite', 'aria-label': `Answer from ${id}` } });
  answer.hidden = true;
  let online = true;
  let waiting = false;
  const enable = (): void => {
    input.disabled = !online;
    send.disabled = !online || waiting;
  };
  const el = h('form', { class: 'command' }, h('div', { class: 'command-row' }, input, send), answer);
  el.addEventListener('submit', (e) => {
    e.preventDefault();
    const line = input.value.trim();
    if (line === '' || waiting) return;
    waiting = true;
    enable();
    answer.hidden = false;
    setAttr(answer, 'data-tone', 'busy');
    setText(answer, `> ${line}`);
    app.client
      .command(id, line)
      .then(
        (r) => {
          setAttr(answer, 'data-tone', undefined);
          setText(answer, [`> ${line}`, ...(r.lines ?? [`${r.written ?? 0} byte(s) written`])].join('\n'));
          // The command travelled as a control message: this line takes the place of its delivery report.
          const said = (r.lines ?? [`${r.written ?? 0} byte(s) written`]).join(' ');
          app.log(`${id}: ${line} → ${said.length > 80 ? `${said.slice(0, 79)}…` : said}`, 'ok', r.ref);
        },
        (err) => {
          setAttr(answer, 'data-tone', 'bad');
          setText(answer, `> ${line}\n${describe(err)}`);
        },
      )
      .finally(() => {
        waiting = false;
        enable();
      });
  });
  return {
    el,
    update(p) {
      el.hidden = p.dialect !== 'gcode';
      online = p.online;
      enable();
    },
  };
}
