// Settings pushed by the server (a `config` control message) survive a
// bridge restart in a small JSON file of string values, the Node
// counterpart of the ESP32's Preference store. Writes go to a temporary
// file first and are renamed into place, so a crash never leaves half a file.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';

export type Settings = Record<string, string>;

/** Missing file: no settings. A file that is not a JSON object of strings is an error worth stopping for. */
export function loadSettings(path: string): Settings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${path}: settings must be a JSON object`);
  const out: Settings = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') throw new Error(`${path}: setting ${key} must be a string`);
    out[key] = value;
  }
  return out;
}

/** Merges `changes` into the file and returns the full settings. */
export function saveSettings(path: string, changes: Readonly<Settings>): Settings {
  const merged = { ...loadSettings(path), ...changes };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(merged, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  return merged;
}
