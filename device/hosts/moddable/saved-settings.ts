// Settings pushed by the server, kept in Preference (NVS on the ESP32).
// NVS names are at most 15 characters and every write wears flash, so only
// the runtime keys are stored, and only when their value actually changed.

import Preference from 'preference';
import { RUNTIME_KEYS } from './settings.js';

const DOMAIN = 'printbridge';

export function loadSaved(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of RUNTIME_KEYS) {
    const v = Preference.get(DOMAIN, key);
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

/** Returns the keys that were written; keys the firmware does not keep are ignored. */
export function saveSettings(changes: Readonly<Record<string, string>>): string[] {
  const written: string[] = [];
  for (const key of Object.keys(changes)) {
    const value = changes[key];
    if (value === undefined || !RUNTIME_KEYS.includes(key)) continue;
    if (Preference.get(DOMAIN, key) === value) continue;
    Preference.set(DOMAIN, key, value);
    written.push(key);
  }
  return written;
}
