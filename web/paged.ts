// A list that shows one page of what matches its search and filters, never
// all of it: with 10,000 devices a row each made the page take seconds per
// redraw. The items stay in the SDK's LiveState; this keeps their order
// (sorted by key again only when the set of keys changes, not on every
// event), filters them on each redraw (a few milliseconds at 10,000) and
// hands one page to a KeyedList. The page number stays put while items
// change underneath, so a row being looked at does not run away.

import { byId, KeyedList, setText, type Row } from './dom.js';
import { grouped } from './format.js';

/** The controls of one list in the page (index.html), by the prefix of their ids. */
export interface PagedControls {
  readonly search: HTMLInputElement;
  readonly state: HTMLSelectElement;
  readonly tag: HTMLSelectElement;
  readonly prev: HTMLButtonElement;
  readonly next: HTMLButtonElement;
  /** Holds prev, range and next; hidden while nothing matches. */
  readonly pager: HTMLElement;
  readonly range: HTMLElement;
  /** "nothing yet" and "nothing matches" */
  readonly empty: HTMLElement;
  readonly none: HTMLElement;
}

export function pagedControls(item: string, items: string): PagedControls {
  return {
    search: byId<HTMLInputElement>(`${item}-search`),
    state: byId<HTMLSelectElement>(`${item}-state`),
    tag: byId<HTMLSelectElement>(`${item}-tag`),
    prev: byId<HTMLButtonElement>(`${items}-prev`),
    next: byId<HTMLButtonElement>(`${items}-next`),
    pager: byId(`${items}-pager`),
    range: byId(`${items}-range`),
    empty: byId(`${items}-empty`),
    none: byId(`${items}-none`),
  };
}

export interface Filter {
  /** Lower case, trimmed; '' matches everything. */
  readonly text: string;
  readonly state: string;
  /** '' for any tag. */
  readonly tag: string;
}

export interface PagedOptions<T> {
  readonly container: HTMLElement;
  readonly controls: PagedControls;
  readonly pageSize: number;
  readonly key: (item: T) => string;
  readonly create: (item: T) => Row<T>;
  readonly matches: (item: T, filter: Filter) => boolean;
  /** Asks for a redraw (the dashboard's one per frame). */
  readonly redraw: () => void;
}

export class PagedList<T> {
  private readonly rows: KeyedList<T>;
  private page = 0;
  private order: string[] = [];
  private known = new Set<string>();

  constructor(private readonly opts: PagedOptions<T>) {
    this.rows = new KeyedList(opts.container, opts.key, opts.create);
    const { controls: c } = opts;
    const refilter = (): void => {
      this.page = 0;
      opts.redraw();
    };
    c.search.addEventListener('input', refilter);
    c.state.addEventListener('change', refilter);
    c.tag.addEventListener('change', refilter);
    c.prev.addEventListener('click', () => this.turn(-1));
    c.next.addEventListener('click', () => this.turn(1));
  }

  get filter(): Filter {
    const c = this.opts.controls;
    return { text: c.search.value.trim().toLowerCase(), state: c.state.value, tag: c.tag.value };
  }

  /** Shows the page of `items` (a map by key) that the controls ask for. */
  render(items: ReadonlyMap<string, T>): void {
    const { controls: c, pageSize, matches } = this.opts;
    this.keepOrder(items);
    const filter = this.filter;
    const all = filter.text === '' && filter.state === 'all' && filter.tag === '';
    const shown: T[] = [];
    let matched = 0;
    const from = this.page * pageSize;
    for (const k of this.order) {
      const item = items.get(k);
      if (item === undefined || (!all && !matches(item, filter))) continue;
      if (matched >= from && matched < from + pageSize) shown.push(item);
      matched++;
    }
    // The filter narrowed below the page being shown: go to its last page.
    if (shown.length === 0 && matched > 0) {
      this.page = Math.floor((matched - 1) / pageSize);
      return this.render(items);
    }
    this.rows.sync(shown);
    const pages = Math.max(1, Math.ceil(matched / pageSize));
    setText(c.range, matched === 0 ? '' : `${grouped(from + 1)}–${grouped(from + shown.length)} of ${grouped(matched)}${all ? '' : ' matching'}`);
    c.prev.disabled = this.page === 0;
    c.next.disabled = this.page >= pages - 1;
    c.prev.hidden = c.next.hidden = pages === 1;
    c.pager.hidden = matched === 0;
    c.empty.hidden = items.size > 0;
    c.none.hidden = items.size === 0 || matched > 0;
  }

  private turn(by: number): void {
    this.page = Math.max(0, this.page + by);
    this.opts.redraw();
  }

  /** Sorted by key; sorted again only when keys came or went. */
  private keepOrder(items: ReadonlyMap<string, T>): void {
    let same = items.size === this.known.size;
    if (same) {
      for (const k of items.keys()) {
        if (!this.known.has(k)) {
          same = false;
          break;
        }
      }
    }
    if (same) return;
    this.known = new Set(items.keys());
    this.order = [...this.known].sort(byKey);
  }
}

/** Numbers inside ids compare as numbers, so "shop-2" comes before "shop-10". */
const collator = new Intl.Collator('en', { numeric: true });
export const byKey = (a: string, b: string): number => collator.compare(a, b);

/** Fills a tag select with `tags`, keeping what is chosen. */
export function fillTags(select: HTMLSelectElement, tags: ReadonlySet<string>): void {
  const want = [...tags].sort();
  const have = [...select.options].slice(1).map((o) => o.value);
  if (want.length === have.length && want.every((t, i) => t === have[i])) return;
  const chosen = select.value;
  const any = select.options[0];
  select.replaceChildren(...(any ? [any] : []), ...want.map((t) => new Option(t, t)));
  select.value = want.includes(chosen) ? chosen : '';
}
