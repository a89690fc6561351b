// The few DOM helpers the dashboard needs: `h()` to build elements (`svg()`
// for a chart's), and `KeyedList` to keep one element per item, updated in place. Rows are never
// rebuilt on an update, so a button keeps its focus and a click that starts
// during a progress update still lands.

type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  text?: string;
  attrs?: Record<string, string | undefined>;
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (ev: HTMLElementEventMap[K]) => void }>;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  for (const [k, v] of Object.entries(props.attrs ?? {})) if (v !== undefined) el.setAttribute(k, v);
  for (const [name, fn] of Object.entries(props.on ?? {})) el.addEventListener(name, fn as EventListener);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element (charts are drawn inline: no library, nothing for the page's policy to refuse). */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number | undefined> = {}, ...children: SVGElement[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** Sets text only when it changed (no needless layout, no lost selection). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function setAttr(el: Element, name: string, value: string | undefined): void {
  if (value === undefined) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

const drawnFrom = new WeakMap<Element, string>();

/**
 * Replaces `el`'s children with what `make` builds, only when `key` (what
 * they are built from) changed: replacing them on every redraw made the
 * browser lay out the whole list again each frame.
 */
export function setChildren(el: Element, key: string, make: () => (Node | string)[]): void {
  if (drawnFrom.get(el) === key) return;
  drawnFrom.set(el, key);
  el.replaceChildren(...make());
}

/** Whether a drag carries files (not text or a link dragged within the page). */
export function carriesFiles(e: DragEvent): boolean {
  return e.dataTransfer?.types.includes('Files') ?? false;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
}

export interface Row<T> {
  readonly el: HTMLElement;
  update(item: T): void;
}

/** Keeps `container`'s children in step with a list of items, one row per key. */
export class KeyedList<T> {
  private readonly rows = new Map<string, Row<T>>();

  constructor(
    private readonly container: HTMLElement,
    private readonly key: (item: T) => string,
    private readonly create: (item: T) => Row<T>,
  ) {}

  sync(items: readonly T[]): void {
    const seen = new Set<string>();
    let prev: Element | null = null;
    for (const item of items) {
      const k = this.key(item);
      seen.add(k);
      let row = this.rows.get(k);
      if (!row) {
        row = this.create(item);
        row.el.dataset['key'] = k;
        this.rows.set(k, row);
      }
      row.update(item);
      const want: Element | null = prev ? prev.nextElementSibling : this.container.firstElementChild;
      if (want !== row.el) this.container.insertBefore(row.el, want);
      prev = row.el;
    }
    for (const [k, row] of this.rows) {
      if (!seen.has(k)) {
        row.el.remove();
        this.rows.delete(k);
      }
    }
  }

  get size(): number {
    return this.rows.size;
  }
}
