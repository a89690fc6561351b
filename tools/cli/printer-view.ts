// How printers read in text: one table row each for `printers`, and the
// key/value block and one-line change summary for `status`.

import type { JobView, PrinterView } from '../../protocol/client-messages.js';
import type { Temperature } from '../../protocol/device-messages.js';
import { formatBytes } from '../../protocol/units.js';
import { details, table } from './table.js';

export function temps(list: Temperature[] | undefined): string | undefined {
  if (list === undefined || list.length === 0) return undefined;
  return list.map((t) => `${t.name} ${t.current}${t.target === undefined ? '' : `/${t.target}`}°C`).join(' ');
}

/** "48% (23.4 KiB of 48.6 KiB)": how far a job is, the same in every view. */
export function jobProgress(j: JobView): string {
  return `${Math.floor(j.progress * 100)}% (${formatBytes(j.written)} of ${formatBytes(j.size)})`;
}

/** The printer's own state, with what the link and the queue add to it. */
export function condition(p: PrinterView): string {
  const parts: string[] = [p.online ? p.status : 'offline'];
  if (p.online && p.detail) parts[0] += ` (${p.detail})`;
  if (p.paused) parts.push('queue paused');
  return parts.join(', ');
}

export function printersTable(list: PrinterView[]): string {
  return table(
    ['PRINTER', 'DIALECT', 'STATUS', 'JOB', 'QUEUED', 'NAME'],
    list.map((p) => [p.id, p.dialect, condition(p), p.job ?? '-', String(p.queued), p.name ?? '']),
  );
}

export function printerDetails(p: PrinterView, job?: JobView): string {
  return details([
    ['printer', p.id],
    ['name', p.name],
    ['dialect', `${p.dialect}${p.confirms ? ' (confirms printing)' : ''}`],
    ['device', `${p.device} ${p.online ? 'online' : 'offline'}`],
    ['status', p.online ? `${p.status}${p.detail ? ` (${p.detail})` : ''}` : `${p.status} (last known)`],
    ['temps', temps(p.temps)],
    ['queue', `${p.queued} unfinished${p.paused ? ', paused' : ''}`],
    ['job', p.job === undefined ? undefined : job === undefined || job.id !== p.job ? p.job : `${p.job} ${job.state} ${jobProgress(job)}`],
  ]);
}

/** One timestamped line per change for `status --watch`. */
export function statusLine(at: number, p: PrinterView): string {
  const time = new Date(at).toISOString().slice(11, 19);
  const t = temps(p.temps);
  return [time, condition(p), p.job === undefined ? undefined : `job ${p.job}`, `queued ${p.queued}`, t].filter((x) => x !== undefined).join('  ');
}

export function jobLine(at: number, j: JobView): string {
  const time = new Date(at).toISOString().slice(11, 19);
  return `${time}  job ${j.id} ${j.state} ${jobProgress(j)}${j.error ? ` ${j.error.code}: ${j.error.message}` : ''}`;
}
