// How sizes, durations and transfer rates read wherever a person sees them:
// the CLI, the dashboard, logs. One form everywhere (binary units, one
// decimal below 10 of a unit): "512 B", "48.6 KiB", "1.2 MiB", "3m05s".

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  if (n < 1024) return `${Math.round(n)} B`;
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
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

/** Milliseconds left at `rate` bytes per second; undefined when nothing moves or nothing is left. */
export function etaMs(size: number, written: number, rate: number | undefined): number | undefined {
  if (rate === undefined || !(rate > 0) || written >= size) return undefined;
  return ((size - written) / rate) * 1000;
}
