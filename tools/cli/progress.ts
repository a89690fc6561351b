// The progress display of `printbridge print` on a terminal: one line,
// redrawn on each job update, with the state, percent, a bar, bytes, the rate
// and an estimate of the time left, in the one form sizes and durations take
// everywhere (protocol/units.ts). The rate is given, so the line is a plain
// function a test can feed.

import type { JobView } from '../../protocol/client-messages.js';
import { etaMs, formatBytes, formatDuration } from '../../protocol/units.js';

/** The progress line for `job`, at most `width` columns (the bar shrinks first, then goes). */
export function progressLine(job: JobView, rate: number | undefined, width = 80): string {
  const fraction = job.size === 0 ? 1 : Math.min(1, job.written / job.size);
  const pct = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const state = job.state === 'paused' && job.error ? `paused (${job.error.code})` : job.state;
  const moving = rate !== undefined && rate > 0 && job.state !== 'done';
  const eta = etaMs(job.size, job.written, rate);
  const parts = [
    `job ${job.id.slice(0, 8)}`,
    state.padEnd(8),
    pct,
    '',
    `${formatBytes(job.written)} / ${formatBytes(job.size)}`,
    moving ? `${formatBytes(rate)}/s` : '',
    moving && eta !== undefined ? `ETA ${formatDuration(eta)}` : '',
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
  const rate = elapsed > 0 ? `, ${formatBytes((job.written * 1000) / elapsed)}/s` : '';
  return `job ${job.id} ${job.state}: ${formatBytes(job.written)} of ${formatBytes(job.size)} in ${formatDuration(elapsed)}${rate}`;
}
