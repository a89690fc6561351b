// The jobs table: newest first, with state, progress and the operator's
// actions (cancel, pause, resume, reprint when this page has the bytes).

import { isFinal, type JobView } from '../sdk/index.js';
import { describe, type App } from './app.js';
import { byId, h, KeyedList, setAttr, setText, type Row } from './dom.js';
import { bytes, JOB_LABEL, percent, shortId, time } from './format.js';

const SHOWN = 200;

export function jobsSection(app: App): () => void {
  const filter = byId<HTMLSelectElement>('job-filter');
  const list = new KeyedList<JobView>(byId('job-rows'), (j) => j.id, (j) => jobRow(app, j));
  const render = (): void => {
    const all = app.live.jobList();
    const wanted = all.filter((j) => {
      switch (filter.value) {
        case 'active':
          return !isFinal(j.state);
        case 'done':
          return j.state === 'done';
        case 'problem':
          return j.state === 'failed' || j.state === 'canceled';
        default:
          return true;
      }
    });
    list.sync(wanted.slice(0, SHOWN));
    const active = all.filter((j) => !isFinal(j.state)).length;
    setText(byId('jobs-count'), all.length ? `${active} unfinished · ${all.length} shown` : '');
    byId('jobs-empty').hidden = wanted.length > 0;
  };
  filter.addEventListener('change', render);
  return render;
}

function jobRow(app: App, first: JobView): Row<JobView> {
  const id = first.id;
  const name = h('th', { class: 'mono', attrs: { scope: 'row', title: id } });
  const printer = h('td', { attrs: { 'data-label': 'Printer' } });
  const state = h('span', { class: 'badge' });
  const why = h('span', { class: 'why small' });
  const bar = h('progress', { attrs: { max: '1', 'aria-label': `Progress of job ${shortId(id)}` } });
  const pct = h('span', { class: 'small muted' });
  const size = h('td', { attrs: { 'data-label': 'Size' } });
  const created = h('td', { class: 'small', attrs: { 'data-label': 'Submitted' } });
  const cancel = h('button', { class: 'danger small', text: 'Cancel', attrs: { type: 'button', 'aria-label': `Cancel job ${shortId(id)}` } });
  const pause = h('button', { class: 'small', attrs: { type: 'button' } });
  const reprint = h('button', { class: 'small', text: 'Reprint', attrs: { type: 'button', 'aria-label': `Reprint job ${shortId(id)}` } });
  let current = first;

  const act = (what: string, p: Promise<JobView>): void => {
    p.then(
      (j) => app.log(`Job ${shortId(j.id)}: ${what}`, 'neutral'),
      (e) => app.toast(`Job ${shortId(id)}: ${describe(e)}`, 'bad'),
    );
  };
  cancel.addEventListener('click', () => act('cancel requested', app.client.cancel(id)));
  pause.addEventListener('click', () => act(current.held ? 'resumed' : 'paused', current.held ? app.client.resumeJob(id) : app.client.pauseJob(id)));
  reprint.addEventListener('click', () => {
    const sent = app.sent.get(id);
    if (!sent) return;
    app.client.submit(sent.printer, sent.data).then(
      (j) => {
        app.sent.set(j.id, sent);
        app.log(`Job ${shortId(id)} reprinted as ${shortId(j.id)}`, 'neutral');
      },
      (e) => app.toast(`Reprint failed — ${describe(e)}`, 'bad'),
    );
  });

  const el = h(
    'tr',
    {},
    name,
    printer,
    h('td', { attrs: { 'data-label': 'State' } }, state, ' ', why),
    h('td', { class: 'progress', attrs: { 'data-label': 'Progress' } }, bar, pct),
    size,
    created,
    h('td', { class: 'row-actions' }, pause, cancel, reprint),
  );
  return {
    el,
    update(j) {
      current = j;
      setText(name, shortId(j.id));
      setText(printer, j.printer);
      const [label, tone] = JOB_LABEL[j.state] ?? [j.state, 'neutral'];
      setText(state, j.held && j.state === 'paused' ? 'Paused (held)' : label);
      setAttr(state, 'data-tone', tone);
      setText(why, j.error ? `${j.error.code}${j.error.message ? ` — ${j.error.message}` : ''}` : '');
      bar.value = j.progress;
      setText(pct, percent(j.progress));
      setText(size, bytes(j.size));
      setText(created, time(j.created));
      setAttr(el, 'data-state', j.state);
      const final = isFinal(j.state);
      cancel.hidden = final;
      pause.hidden = final;
      setText(pause, j.held ? 'Resume' : 'Pause');
      setAttr(pause, 'aria-label', `${j.held ? 'Resume' : 'Pause'} job ${shortId(id)}`);
      reprint.hidden = !final || !app.sent.has(j.id);
    },
  };
}
