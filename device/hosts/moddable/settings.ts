// Every setting of the firmware, where it comes from and how it is read.
// Build-time defaults come from the manifest's `config` section (or
// `mcconfig key=value`), which mc/config hands us as strings or numbers;
// values a server pushed with a `config` control message are kept in
// Preference and win over the build. Parsing is lenient on purpose: a bad
// number falls back to its default rather than leaving a board that cannot
// start.

import type { Dialect } from '../../../protocol/device-messages.js';
import { DIALECTS } from '../../../protocol/device-messages.js';
import type { FlowControl, LinkTimings } from '../../core/types.js';

export interface AccessPoint {
  readonly ssid: string;
  readonly password: string;
}

export interface FirmwareSettings {
  readonly id: string;
  readonly token: string;
  readonly server: string;
  /** Tried in order, then round again. */
  readonly accessPoints: readonly AccessPoint[];
  /** Wait after a failed or lost Wi-Fi connection before the next try. */
  readonly wifiRetry: number;
  /** Give up on one access point after this long without an IP. */
  readonly wifiTimeout: number;
  /** `device` is a tty path on the SDK's Linux host ("" on a board, which uses port and pins). */
  readonly uart: { readonly device: string; readonly port: number; readonly tx: number; readonly rx: number; readonly baud: number };
  readonly dialect: Dialect;
  /** Printer status poll interval in ms; 0 off (and no confirmation). */
  readonly poll: number;
  /** xonxoff: DC3/DC1 from the printer pause and resume job data (the UART has no RTS/CTS). */
  readonly flow: FlowControl;
  readonly printerName: string;
  /** gcode: lines sent after a print ends unfinished; undefined for the dialect's default, [] for none. */
  readonly cancelScript: readonly string[] | undefined;
  /** Status LED pins; all show the same pattern. */
  readonly ledPins: readonly number[];
  readonly ledActiveLow: boolean;
  /** Printer busy/CTS input, or -1 for none. */
  readonly busyPin: number;
  readonly busyActiveLow: boolean;
  /** Restart after this long without the server; 0 never. */
  readonly offlineRestart: number;
  /** How often free heap and RSSI are sampled into the status report. */
  readonly statsInterval: number;
  readonly sntpHost: string;
  /** Resource name of the CA certificate (DER) for wss://, or "" to use the SDK's own CA resources. */
  readonly caCert: string;
  readonly window: number | undefined;
  readonly maxChunk: number | undefined;
  readonly statusInterval: number | undefined;
  readonly timings: Partial<LinkTimings>;
}

/** Keys a server may set at run time; the rest are fixed by the build. */
export const RUNTIME_KEYS: readonly string[] = ['server', 'token', 'ssid', 'password', 'ssid2', 'password2', 'ssid3', 'password3'];

const TIMING_KEYS: readonly (keyof LinkTimings)[] = [
  'firstWindow', 'backoffBase', 'backoffCap', 'stableAfter', 'connectTimeout', 'helloTimeout', 'pingInterval', 'deadAfter',
];

type Source = (key: string) => unknown;

function text(get: Source, key: string, fallback: string): string {
  const v = get(key);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return fallback;
}

function int(get: Source, key: string, fallback: number, min = 0): number {
  const v = get(key);
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isInteger(n) && n >= min ? n : fallback;
}

function optInt(get: Source, key: string, min: number): number | undefined {
  const n = int(get, key, -1, min);
  return n < min ? undefined : n;
}

function flag(get: Source, key: string, fallback: boolean): boolean {
  const v = get(key);
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === '1' || v === 'true' || v === 'yes') return true;
  if (v === 0 || v === '0' || v === 'false' || v === 'no') return false;
  return fallback;
}

function pins(get: Source, key: string, fallback: readonly number[]): number[] {
  const v = get(key);
  if (typeof v === 'number' && Number.isInteger(v)) return v < 0 ? [] : [v];
  if (typeof v !== 'string') return [...fallback];
  if (v.trim() === '' || v.trim() === '-1') return [];
  const out: number[] = [];
  for (const part of v.split(',')) {
    const n = Number(part.trim());
    if (Number.isInteger(n) && n >= 0) out.push(n);
  }
  return out;
}

/** "M104 S0;M140 S0" → lines; anything but a string keeps the dialect's default. */
function scriptLines(v: unknown): string[] | undefined {
  if (typeof v !== 'string') return undefined;
  return v.split(';').map((l) => l.trim()).filter((l) => l !== '' && l.length <= 96);
}

/**
 * `saved` (from Preference) overrides `build` (mc/config) key by key.
 * Only runtime keys are taken from `saved`, so a stray preference cannot
 * move a pin.
 */
export function resolveSettings(build: Readonly<Record<string, unknown>>, saved: Readonly<Record<string, string>>): FirmwareSettings {
  const get: Source = (key) => (RUNTIME_KEYS.includes(key) && saved[key] !== undefined ? saved[key] : build[key]);
  const accessPoints: AccessPoint[] = [];
  for (const suffix of ['', '2', '3']) {
    const ssid = text(get, `ssid${suffix}`, '');
    if (ssid !== '') accessPoints.push({ ssid, password: text(get, `password${suffix}`, '') });
  }
  const dialect = text(get, 'dialect', 'raw');
  const timings: Partial<Record<keyof LinkTimings, number>> = {};
  for (const key of TIMING_KEYS) {
    const n = optInt(get, key, 1);
    if (n !== undefined) timings[key] = n;
  }
  return {
    id: text(get, 'id', ''),
    token: text(get, 'token', ''),
    server: text(get, 'server', ''),
    accessPoints,
    wifiRetry: int(get, 'wifiRetry', 5_000, 1),
    wifiTimeout: int(get, 'wifiTimeout', 30_000, 1),
    uart: { device: text(get, 'uartDevice', ''), port: int(get, 'uartPort', 2), tx: int(get, 'uartTx', 17), rx: int(get, 'uartRx', 16), baud: int(get, 'baud', 115_200, 1) },
    dialect: (DIALECTS as readonly string[]).includes(dialect) ? (dialect as Dialect) : 'raw',
    poll: int(get, 'poll', 5_000),
    flow: text(get, 'flow', 'none') === 'xonxoff' ? 'xonxoff' : 'none',
    printerName: text(get, 'printerName', ''),
    cancelScript: scriptLines(get('cancelGcode')),
    ledPins: pins(get, 'ledPins', [2]),
    ledActiveLow: flag(get, 'ledActiveLow', false),
    busyPin: int(get, 'busyPin', -1, -1),
    busyActiveLow: flag(get, 'busyActiveLow', false),
    offlineRestart: int(get, 'offlineRestart', 30 * 60_000),
    statsInterval: int(get, 'statsInterval', 30_000, 1),
    sntpHost: text(get, 'sntpHost', 'pool.ntp.org'),
    caCert: text(get, 'caCert', ''),
    window: optInt(get, 'window', 64),
    maxChunk: optInt(get, 'maxChunk', 16),
    statusInterval: optInt(get, 'statusInterval', 1),
    timings,
  };
}
