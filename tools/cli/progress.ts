// The progress display of `printbridge print` on a terminal: one line,
// redrawn on each job update, with the state, percent, a bar, bytes, the rate
// and an estimate of the time left. Time is an input (`now`), so the line and
// the rate are plain functions a test can feed.

import type { JobView } from '../../protocol/client-messages.js';

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

/** Bytes per second over the last `window` ms of samples. */
export class RateMeter {
  private readonly samples: { at: number; written: number }[] = [];

  constructor(private readonly window = 5000) {}

  sample(now: number, written: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last !== undefined && written < last.written) this.samples.length = 0; // a restart from 0
    this.samples.push({ at: now, written });
    while (this.samples.length > 2 && now - this.samples[1]!.at >= this.window) this.samples.shift();
  }

  /** Undefined until two samples at least 200 ms apart exist. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined || last.at - first.at < 200) return undefined;
    return ((last.written - first.written) * 1000) / (last.at - first.at);
  }
}

/** The progress line for `job`, at most `width` columns (the bar shrinks first, then goes). */
export function progressLine(job: JobView, rate: number | undefined, width = 80): string {
  const fraction = job.size === 0 ? 1 : Math.min(1, job.written / job.size);
  const pct = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const state = job.state === 'paused' && job.error ? `paused (${job.error.code})` : job.state;
  const moving = rate !== undefined && rate > 0 && job.state !== 'done';
  const parts = [
    `job ${job.id.slice(0, 8)}`,
    state.padEnd(8),
    pct,
    '',
    `${bytes(job.written)} / ${bytes(job.size)}`,
    moving ? `${bytes(Math.round(rate))}/s` : '',
    moving && job.written < job.size ? `ETA ${duration(((job.size - job.written) / rate) * 1000)}` : '',
  ];
  const fixed = parts.filter((p) => p !== '').join('  ').length + 2;
  const barWidth = Math.min(30, width - fixed - 4);
  if (barWidth >= 5) {
    const full = Math.round(fraction * barWidth);
    parts[3] = `[${'#'.repeat(full)}${'-'.repeat(barWidth - full)}]`;
  }
  return parts.filter((p) => p !== '').join('  ').slice(0, Math.max(0, width - 1));
}

/** The closing line: how much, how long, how fast. */
export function summaryLine(job: JobView, elapsed: number): string {
  const rate = elapsed > 0 ? `, ${bytes(Math.round((job.written * 1000) / elapsed))}/s` : '';
  return `job ${job.id} ${job.state}: ${bytes(job.written)} of ${bytes(job.size)} in ${duration(elapsed)}${rate}`;
}
