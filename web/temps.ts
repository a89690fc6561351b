// Temperatures over time, for the printers that report them (G-code: hotend
// T, bed B…). The server keeps no history: the page keeps the last few
// minutes of each printer's readings itself, one sample per printer.status
// event that carries temperatures (and one from each snapshot), and draws
// them as a small inline SVG chart on the printer's card: a line per sensor,
// its target dashed. A device reports when a target changes, and otherwise
// now and then, so between samples a reading holds: the line is drawn flat
// from the last sample to now.

import { formatDuration, type PrinterView, type PrintbridgeClient, type Temperature } from '../sdk/index.js';
import { h, setAttr, setText, svg } from './dom.js';

/** How far back the chart looks. */
export const WINDOW_MS = 5 * 60_000;
/** Samples kept per printer, whatever the window: a chatty device cannot grow the page's memory. */
const MAX_SAMPLES = 600;
/** At most this many sensors are drawn (a Marlin board reports T, B, C, and a T per extruder). */
const MAX_SERIES = 4;
const W = 300;
const H = 72;

export interface TempSample {
  /** The browser's clock when the reading arrived. */
  readonly at: number;
  readonly temps: readonly Temperature[];
}

export class TempHistory {
  private readonly byPrinter = new Map<string, TempSample[]>();

  constructor(client: PrintbridgeClient, private readonly clock: () => number = Date.now) {
    client.on('printer.status', (p) => this.add(p));
    client.on('snapshot', (s) => {
      for (const p of s.printers) this.add(p);
    });
  }

  add(p: PrinterView): void {
    if (!p.temps?.length || !p.online) return;
    const now = this.clock();
    let list = this.byPrinter.get(p.id);
    if (list === undefined) {
      list = [];
      this.byPrinter.set(p.id, list);
    }
    list.push({ at: now, temps: p.temps });
    // Keep one sample from before the window, where the line enters it.
    while (list.length > MAX_SAMPLES || (list.length > 1 && list[1]!.at < now - WINDOW_MS)) list.shift();
  }

  samples(id: string): readonly TempSample[] {
    return this.byPrinter.get(id) ?? [];
  }

  /** Whether any printer has readings (the page then redraws now and then, so the charts move on). */
  get any(): boolean {
    return this.byPrinter.size > 0;
  }
}

/** The CSS class of a sensor's colour: hotends warm, the bed cool. */
export function sensorClass(name: string): string {
  if (/^T1$/i.test(name)) return 's-hot2';
  if (/^T/i.test(name)) return 's-hot';
  if (/^B/i.test(name)) return 's-bed';
  if (/^C/i.test(name)) return 's-chamber';
  return 's-other';
}

export interface TempChart {
  readonly el: HTMLElement;
  /** Draws `samples` up to `now`; does nothing when neither moved since the last draw. */
  update(samples: readonly TempSample[], now: number): void;
}

export function tempChart(printer: string): TempChart {
  const plot = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'chart', role: 'img', 'aria-label': `Temperatures of ${printer}` });
  const span = h('span');
  const range = h('span');
  const el = h('figure', { class: 'temp-chart' }, plot, h('figcaption', { class: 'chart-axis' }, span, range));
  let drawn = '';
  return {
    el,
    update(samples, now) {
      const last = samples[samples.length - 1];
      // One reading is not yet a line (the legend above says it).
      el.hidden = samples.length < 2;
      if (last === undefined || samples.length < 2) return;
      // Redrawn when a sample came, and every couple of seconds as time moves on.
      const key = `${samples.length}:${last.at}:${Math.floor(now / 2000)}`;
      if (key === drawn) return;
      drawn = key;
      const t1 = Math.max(now, last.at);
      const t0 = Math.min(t1 - 1000, Math.max(t1 - WINDOW_MS, samples[0]!.at));
      const names: string[] = [];
      let lo = Infinity;
      let hi = -Infinity;
      for (const s of samples) {
        for (const t of s.temps) {
          if (!names.includes(t.name) && names.length < MAX_SERIES) names.push(t.name);
          if (!names.includes(t.name)) continue;
          lo = Math.min(lo, t.current);
          hi = Math.max(hi, t.current);
          if (t.target !== undefined && t.target > 0) {
            lo = Math.min(lo, t.target);
            hi = Math.max(hi, t.target);
          }
        }
      }
      if (hi - lo < 10) {
        // A flat line sits in the middle of a 10° band (above 0° when it reads 0°).
        const mid = Math.max((hi + lo) / 2, lo >= 0 ? 5 : -Infinity);
        lo = mid - 5;
        hi = mid + 5;
      }
      const pad = (hi - lo) * 0.08;
      const y0 = lo - pad;
      const y1 = hi + pad;
      const x = (at: number): number => Math.max(0, ((at - t0) / (t1 - t0)) * W);
      const y = (v: number): number => H - ((v - y0) / (y1 - y0)) * H;
      const pt = (at: number, v: number): string => `${x(at).toFixed(1)},${y(v).toFixed(1)}`;
      const lines: SVGElement[] = [];
      for (const level of [0.25, 0.5, 0.75]) lines.push(svg('line', { class: 'grid', x1: 0, x2: W, y1: H * level, y2: H * level }));
      for (const name of names) {
        const values: string[] = [];
        const targets: string[] = [];
        let value: number | undefined;
        let target: number | undefined;
        for (const s of samples) {
          const t = s.temps.find((u) => u.name === name);
          if (t === undefined) continue;
          value = t.current;
          values.push(pt(s.at, t.current));
          const want = t.target !== undefined && t.target > 0 ? t.target : undefined;
          // A target is a step: it holds until it changes.
          if (want !== target && target !== undefined) targets.push(pt(s.at, target));
          if (want !== undefined) targets.push(pt(s.at, want));
          target = want;
        }
        if (value === undefined) continue;
        values.push(pt(t1, value));
        if (target !== undefined) targets.push(pt(t1, target));
        const cls = sensorClass(name);
        if (targets.length > 1) lines.push(svg('polyline', { class: `target ${cls}`, points: targets.join(' '), 'data-sensor': name, 'vector-effect': 'non-scaling-stroke' }));
        lines.push(svg('polyline', { class: `series ${cls}`, points: values.join(' '), 'data-sensor': name, 'data-samples': values.length - 1, 'vector-effect': 'non-scaling-stroke' }));
      }
      plot.replaceChildren(...lines);
      setText(span, `last ${formatDuration(t1 - t0)}`);
      setText(range, `${Math.round(lo)}–${Math.round(hi)} °C`);
      setAttr(plot, 'aria-label', `Temperatures of ${printer} over the last ${formatDuration(t1 - t0)}, between ${Math.round(lo)} and ${Math.round(hi)} °C`);
    },
  };
}
