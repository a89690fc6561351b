// How values read on the dashboard: sizes, times, signal, states. Sizes,
// rates and times left read as everywhere else (the CLI, logs): the SDK's
// formatBytes and formatDuration (protocol/units.ts).

import { formatBytes, formatDuration, type JobState, type JobView, type PrinterState } from '../sdk/index.js';

export type Tone = 'ok' | 'busy' | 'warn' | 'bad' | 'off' | 'neutral';

/** "48.6 KiB"; '—' when unknown. */
export function bytes(n: number | undefined): string {
  return n === undefined ? '—' : formatBytes(n);
}

/** "12.0 KiB/s" */
export function rate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** "1m05s left" */
export function left(ms: number): string {
  return `${formatDuration(ms)} left`;
}

/** What a job is called: its name (since protocol 1.5), else the start of its id. */
export function jobName(j: Pick<JobView, 'id' | 'name'>): string {
  return j.name !== undefined && j.name !== '' ? j.name : shortId(j.id);
}

const numbers = new Intl.NumberFormat('en');

/** 10,000: counts read the same whatever the browser's locale. */
export function grouped(n: number): string {
  return numbers.format(n);
}

export function time(ms: number | undefined): string {
  if (ms === undefined) return '—';
  const d = new Date(ms);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

export function duration(seconds: number | undefined): string {
  if (seconds === undefined) return '—';
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** 0–4 bars from a Wi-Fi RSSI in dBm. */
export function signalBars(rssi: number | undefined): number {
  if (rssi === undefined) return 0;
  if (rssi >= -55) return 4;
  if (rssi >= -67) return 3;
  if (rssi >= -75) return 2;
  if (rssi >= -85) return 1;
  return 0;
}

export const PRINTER_LABEL: Record<PrinterState, [string, Tone]> = {
  online: ['Ready', 'ok'],
  busy: ['Printing', 'busy'],
  'paper-out': ['Paper out', 'bad'],
  'paper-low': ['Paper low', 'warn'],
  'cover-open': ['Cover open', 'bad'],
  error: ['Error', 'bad'],
  offline: ['Offline', 'off'],
  unknown: ['Unknown', 'neutral'],
};

/** Printer states a person has to go and fix; the page title counts them. */
export const NEEDS_ATTENTION: readonly PrinterState[] = ['paper-out', 'cover-open', 'error'];

export const JOB_LABEL: Record<JobState, [string, Tone]> = {
  queued: ['Queued', 'neutral'],
  sending: ['Sending', 'busy'],
  printing: ['Printing', 'busy'],
  paused: ['Paused', 'warn'],
  done: ['Done', 'ok'],
  failed: ['Failed', 'bad'],
  canceled: ['Canceled', 'off'],
};

export function shortId(id: string): string {
  return id.length > 10 ? id.slice(0, 8) : id;
}

/** "48 %" (a no-break space: the number and its sign stay on one line). */
export function percent(p: number): string {
  return `${Math.floor(Math.max(0, Math.min(1, p)) * 100)}\u00a0%`;
}

/** A short name for a User-Agent: "Chrome 131", "Firefox 128", "pos-till 2.1"; undefined when there is none. */
export function agentName(ua: string | undefined): string | undefined {
  if (ua === undefined || ua.trim() === '') return undefined;
  const browsers: Array<[RegExp, string]> = [
    [/Firefox\/(\d+)/, 'Firefox'],
    [/Edg\/(\d+)/, 'Edge'],
    [/HeadlessChrome\/(\d+)/, 'Headless Chrome'],
    [/Chrome\/(\d+)/, 'Chrome'],
    [/Version\/(\d+)[\d.]* .*Safari\//, 'Safari'],
  ];
  for (const [re, name] of browsers) {
    const m = re.exec(ua);
    if (m) return `${name} ${m[1]!}`;
  }
  // Anything else (a till, a script, a back-end): its first product token.
  const product = /^([\w.-]+)\/([\w.-]+)/.exec(ua.trim());
  if (product) return `${product[1]!} ${product[2]!}`;
  return ua.length > 40 ? `${ua.slice(0, 39)}…` : ua;
}
