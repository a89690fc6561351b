// Printer cards: live status (paper out stands out), temperatures, the job
// on the printer with its progress, the queue, and the operator's buttons.

import { isFinal, testPage, type JobView, type PrinterView } from '../sdk/index.js';
import { describe, type App } from './app.js';
import { byId, h, KeyedList, setAttr, setText, type Row } from './dom.js';
import { bytes, percent, PRINTER_LABEL, shortId } from './format.js';

export function printersSection(app: App): () => void {
  const list = new KeyedList<PrinterView>(byId('printer-list'), (p) => p.id, (p) => printerCard(app, p));
  return () => {
    const printers = [...app.live.printers.values()].sort((a, b) => a.id.localeCompare(b.id));
    list.sync(printers);
    setText(byId('printers-count'), printers.length ? `${printers.filter((p) => p.online).length} of ${printers.length} online` : '');
    byId('printers-empty').hidden = printers.length > 0;
  };
}

function printerCard(app: App, first: PrinterView): Row<PrinterView> {
  const id = first.id;
  const title = h('h3', { class: 'card-title' });
  const sub = h('p', { class: 'card-sub' });
  const badge = h('span', { class: 'badge' });
  const detail = h('p', { class: 'detail' });
  const temps = h('ul', { class: 'temps', attrs: { 'aria-label': `Temperatures of ${id}` } });
  const jobLine = h('p', { class: 'job-line' });
  const bar = h('progress', { attrs: { max: '1', 'aria-label': `Progress of the current job on ${id}` } });
  const jobBox = h('div', { class: 'job-box' }, jobLine, bar);
  const queue = h('p', { class: 'queue' });
  const testBtn = h('button', { class: 'primary', text: 'Test print', attrs: { type: 'button', 'aria-label': `Test print on ${id}` } });
  const pauseBtn = h('button', { attrs: { type: 'button' } });
  const cancelBtn = h('button', { class: 'danger', text: 'Cancel all', attrs: { type: 'button', 'aria-label': `Cancel all jobs on ${id}` } });
  let current = first;

  testBtn.addEventListener('click', () => {
    const data = testPage(current.dialect);
    testBtn.disabled = true;
    app.log(`Test print sent to ${id}`, 'neutral');
    app.client
      .print(id, data, {
        onUpdate: (job) => {
          app.sent.set(job.id, { printer: id, data });
          testBtn.disabled = false;
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
    { class: 'card printer', attrs: { 'aria-label': `Printer ${id}` } },
    h('div', { class: 'card-head' }, h('div', {}, title, sub), badge),
    detail,
    temps,
    jobBox,
    queue,
    h('div', { class: 'actions' }, testBtn, pauseBtn, cancelBtn),
  );

  return {
    el,
    update(p) {
      current = p;
      setText(title, p.name ?? p.id);
      setText(sub, `${p.name ? `${p.id} · ` : ''}${p.dialect.toUpperCase()}${p.confirms ? ' · confirms prints' : ''}`);
      const [label, tone] = PRINTER_LABEL[p.status] ?? [p.status, 'neutral'];
      setText(badge, p.paused && p.status === 'online' ? 'Queue paused' : label);
      setAttr(badge, 'data-tone', p.paused && p.status === 'online' ? 'warn' : tone);
      setAttr(el, 'data-tone', tone);
      setText(detail, p.detail ?? '');
      detail.hidden = !p.detail;
      temps.replaceChildren(
        ...(p.temps ?? []).map((t) => h('li', { text: `${t.name} ${t.current.toFixed(1)}°${t.target !== undefined && t.target > 0 ? ` → ${t.target.toFixed(0)}°` : ''}` })),
      );
      temps.hidden = !p.temps?.length;
      // The printer view's queue length and job are only as fresh as its
      // last printer.status; the jobs themselves are always live.
      const mine = [...app.live.jobs.values()].filter((j) => j.printer === p.id && !isFinal(j.state));
      const job: JobView | undefined =
        mine.find((j) => j.id === p.job) ?? mine.find((j) => j.state === 'sending' || j.state === 'printing' || (j.state === 'paused' && !j.held && j.written > 0));
      const waiting = mine.filter((j) => j !== job).length;
      jobBox.hidden = !job;
      if (job) {
        setText(jobLine, `Job ${shortId(job.id)} · ${job.state} · ${bytes(job.written)} of ${bytes(job.size)} · ${percent(job.progress)}`);
        bar.value = job.progress;
      }
      setText(queue, waiting > 0 ? `${waiting} job${waiting === 1 ? '' : 's'} waiting${p.paused ? ' (queue paused)' : ''}` : p.paused ? 'Queue paused' : 'Queue empty');
      setText(pauseBtn, p.paused ? 'Resume queue' : 'Pause queue');
      setAttr(pauseBtn, 'aria-label', `${p.paused ? 'Resume' : 'Pause'} the queue of ${id}`);
      cancelBtn.disabled = mine.length === 0;
    },
  };
}
