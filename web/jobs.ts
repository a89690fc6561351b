// The jobs table: newest first, each job by its name (the start of its id
// when it has none), with its state, progress, rate and time left, size,
// and the operator's actions: cancel, pause, resume, and reprint for any
// finished job while the server still holds its bytes (job.reprint).
//
// The search box filters the live list at once (name, id, printer) and asks
// the server for older jobs whose name matches (jobs.list q), since the page
// holds only the latest few hundred.

import { isFinal, type JobView } from '../sdk/index.js';
import { codeOf, describe, newKey, type App } from './app.js';
import { paceText } from './rates.js';
import { byId, h, KeyedList, setAttr, setText, type Row } from './dom.js';
import { bytes, JOB_LABEL, jobName, percent, shortId, time } from './format.js';

const SHOWN = 200;
/** Typing pauses this long before the server is asked. */
const SEARCH_DELAY_MS = 250;
/** How long a job just submitted from this page stays marked. */
const MARKED_MS = 4000;

export interface JobsSection {
  render(): void;
  show(id: string): void;
}

export function jobsSection(app: App, redraw: () => void): JobsSection {
  const filter = byId<HTMLSelectElement>('job-filter');
  const search = byId<HTMLInputElement>('job-search');
  /** Jobs the server found for the search, beyond the live list. */
  let found = new Map<string, JobView>();
  let asked = '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Jobs whose bytes the server no longer holds (a reprint said JOB_DATA_GONE). */
  const gone = new Set<string>();
  let showing: string | undefined;
  const list = new KeyedList<JobView>(byId('job-rows'), (j) => j.id, (j) => jobRow(app, j, gone));

  const wantedState = (j: JobView): boolean => {
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
  };
  const text = (): string => search.value.trim().toLowerCase();
  const matchesText = (j: JobView, q: string): boolean =>
    q === '' || (j.name?.toLowerCase().includes(q) ?? false) || j.id.toLowerCase().startsWith(q) || j.printer.toLowerCase().includes(q);

  const ask = (q: string): void => {
    asked = q;
    if (q === '') {
      found = new Map();
      return;
    }
    app.client.jobs({ q, limit: SHOWN }).then(
      (jobs) => {
        if (asked !== q) return; // typed on meanwhile
        found = new Map(jobs.map((j) => [j.id, j]));
        redraw();
      },
      () => undefined,
    );
  };
  search.addEventListener('input', () => {
    if (timer !== undefined) clearTimeout(timer);
    const q = text();
    if (q === '') ask('');
    else timer = setTimeout(() => ask(q), SEARCH_DELAY_MS);
    redraw();
  });
  filter.addEventListener('change', redraw);

  const render = (): void => {
    const q = text();
    const all: JobView[] = app.live.jobList();
    const wanted = all.filter((j) => wantedState(j) && matchesText(j, q));
    if (q !== '') {
      for (const j of found.values()) if (!app.live.jobs.has(j.id) && wantedState(j)) wanted.push(j);
      wanted.sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : -1));
    }
    list.sync(wanted.slice(0, SHOWN));
    const active = all.filter((j) => !isFinal(j.state)).length;
    const filtered = q !== '' || filter.value !== 'all';
    setText(
      byId('jobs-count'),
      all.length || wanted.length ? `${active} unfinished · ${Math.min(wanted.length, SHOWN)} ${filtered ? 'matching' : 'shown'}` : '',
    );
    const empty = byId('jobs-empty');
    empty.hidden = wanted.length > 0;
    setText(empty, filtered && all.length > 0 ? 'No job matches.' : 'No jobs to show.');
    if (showing !== undefined) reveal(showing, wanted);
  };

  /** Scrolls to a job just submitted; a filter or search that hides it is cleared. */
  const reveal = (id: string, wanted: readonly JobView[]): void => {
    const j = app.live.jobs.get(id);
    if (j === undefined) return; // its first update has not come yet
    if (!wanted.some((w) => w.id === id)) {
      filter.value = 'all';
      search.value = '';
      ask('');
      redraw();
      return;
    }
    showing = undefined;
    const row = byId('job-rows').querySelector<HTMLElement>(`tr[data-key="${CSS.escape(id)}"]`);
    if (!row) return; // beyond the rows shown
    row.scrollIntoView({ block: 'nearest' });
    row.dataset['marked'] = 'true';
    setTimeout(() => delete row.dataset['marked'], MARKED_MS);
  };

  return {
    render,
    show(id) {
      showing = id;
      redraw();
    },
  };
}

function jobRow(app: App, first: JobView, gone: Set<string>): Row<JobView> {
  const id = first.id;
  const label = (): string => jobName(current);
  const name = h('span', { class: 'job-name' });
  const sub = h('span', { class: 'job-id mono muted small' });
  const head = h('th', { attrs: { scope: 'row', title: `job ${id}` } }, name, sub);
  const printer = h('td', { attrs: { 'data-label': 'Printer' } });
  const state = h('span', { class: 'badge' });
  const why = h('span', { class: 'why small' });
  const bar = h('progress', { attrs: { max: '1' } });
  const pct = h('span', { class: 'pct' });
  const pace = h('span', { class: 'pace small muted' });
  const size = h('td', { attrs: { 'data-label': 'Size' } });
  const created = h('td', { class: 'small', attrs: { 'data-label': 'Submitted' } });
  const cancel = h('button', { class: 'danger small', text: 'Cancel', attrs: { type: 'button' } });
  const pause = h('button', { class: 'small', attrs: { type: 'button' } });
  const reprint = h('button', { class: 'small', text: 'Reprint', attrs: { type: 'button' } });
  let current = first;

  const act = (what: string, p: Promise<JobView>): void => {
    p.then(
      (j) => app.log(`Job ${jobName(j)}: ${what}`, 'neutral'),
      (e) => app.toast(`Job ${label()}: ${describe(e)}`, 'bad'),
    );
  };
  cancel.addEventListener('click', () => act('cancel requested', app.client.cancel(id)));
  pause.addEventListener('click', () => act(current.held ? 'resumed' : 'paused', current.held ? app.client.resumeJob(id) : app.client.pauseJob(id)));
  reprint.addEventListener('click', () => {
    const what = label();
    reprint.disabled = true;
    app.client
      .reprint(id, { key: newKey('reprint') })
      .then(
        (j) => {
          app.log(`Job ${what} reprinted on ${j.printer} as job ${shortId(j.id)}`, 'neutral');
          app.toast(`Reprinting ${what} on ${j.printer}`, 'ok');
          app.showJob(j.id);
        },
        (e) => {
          if (codeOf(e) === 'JOB_DATA_GONE') {
            gone.add(id);
            app.toast(`Cannot reprint ${what}: the server no longer keeps its data. Upload the file again to print it.`, 'bad');
          } else app.toast(`Reprint of ${what} failed — ${describe(e)}`, 'bad');
        },
      )
      .finally(() => {
        reprint.disabled = gone.has(id);
        setAttr(reprint, 'title', gone.has(id) ? 'The server no longer keeps the data of this job' : undefined);
      });
  });

  const el = h(
    'tr',
    {},
    head,
    printer,
    h('td', { attrs: { 'data-label': 'State' } }, state, ' ', why),
    h('td', { class: 'progress', attrs: { 'data-label': 'Progress' } }, bar, pct, pace),
    size,
    created,
    h('td', { class: 'row-actions' }, pause, cancel, reprint),
  );
  return {
    el,
    update(j) {
      current = j;
      const called = jobName(j);
      setText(name, called);
      name.classList.toggle('mono', j.name === undefined || j.name === '');
      setText(sub, j.name ? shortId(j.id) : '');
      setText(printer, j.printer);
      const [word, tone] = JOB_LABEL[j.state] ?? [j.state, 'neutral'];
      setText(state, j.held && j.state === 'paused' ? 'Paused (held)' : word);
      setAttr(state, 'data-tone', tone);
      setText(why, j.error ? `${j.error.code}${j.error.message ? ` — ${j.error.message}` : ''}` : '');
      bar.value = j.progress;
      setAttr(bar, 'aria-label', `Progress of ${called}`);
      setText(pct, percent(j.progress));
      setText(pace, paceText(app.rates, j));
      setText(size, bytes(j.size));
      setText(created, time(j.created));
      setAttr(el, 'data-state', j.state);
      setAttr(el, 'aria-label', `Job ${called}`);
      const final = isFinal(j.state);
      cancel.hidden = final;
      pause.hidden = final;
      reprint.hidden = !final;
      setAttr(cancel, 'aria-label', `Cancel job ${called}`);
      setText(pause, j.held ? 'Resume' : 'Pause');
      setAttr(pause, 'aria-label', `${j.held ? 'Resume' : 'Pause'} job ${called}`);
      setAttr(reprint, 'aria-label', `Reprint job ${called}`);
    },
  };
}
