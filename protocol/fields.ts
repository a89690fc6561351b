// Small readers that validate one field of a decoded JSON object and say
// exactly which field was wrong. Decoders are built from these so that no
// peer input ever reaches the rest of the code unchecked.

import { protocolError, type ProtocolError } from './errors.js';

export type Obj = Record<string, unknown>;

/** Thrown only inside decoders and caught by `guard`; never escapes protocol/. */
export class FieldError {
  constructor(readonly error: ProtocolError) {}
}

function missing(key: string): FieldError {
  return new FieldError(protocolError('MISSING_FIELD', key));
}

function bad(key: string, want: string): FieldError {
  return new FieldError(protocolError('BAD_FIELD', `${key} must be ${want}`));
}

export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function str(o: Obj, key: string, maxLength = 256): string {
  const v = o[key];
  if (v === undefined || v === null) throw missing(key);
  if (typeof v !== 'string' || v.length > maxLength) throw bad(key, `a string of at most ${maxLength} characters`);
  return v;
}

export function optStr(o: Obj, key: string, maxLength = 256): string | undefined {
  return o[key] === undefined || o[key] === null ? undefined : str(o, key, maxLength);
}

export function int(o: Obj, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (v === undefined || v === null) throw missing(key);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(key, `an integer from ${min} to ${max}`);
  return v;
}

export function optInt(o: Obj, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  return o[key] === undefined || o[key] === null ? undefined : int(o, key, min, max);
}

export function num(o: Obj, key: string): number {
  const v = o[key];
  if (v === undefined || v === null) throw missing(key);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(key, 'a finite number');
  return v;
}

export function bool(o: Obj, key: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) throw missing(key);
  if (typeof v !== 'boolean') throw bad(key, 'true or false');
  return v;
}

export function optBool(o: Obj, key: string): boolean | undefined {
  return o[key] === undefined || o[key] === null ? undefined : bool(o, key);
}

export function obj(o: Obj, key: string): Obj {
  const v = o[key];
  if (v === undefined || v === null) throw missing(key);
  if (!isObj(v)) throw bad(key, 'an object');
  return v;
}

export function optObj(o: Obj, key: string): Obj | undefined {
  return o[key] === undefined || o[key] === null ? undefined : obj(o, key);
}

export function arr(o: Obj, key: string, maxItems = 64): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) throw missing(key);
  if (!Array.isArray(v) || v.length > maxItems) throw bad(key, `an array of at most ${maxItems} items`);
  return v;
}

export function strArr(o: Obj, key: string, maxItems = 64, maxLength = 64): string[] {
  const items = arr(o, key, maxItems);
  for (const item of items) {
    if (typeof item !== 'string' || item.length > maxLength) throw bad(key, `an array of strings of at most ${maxLength} characters`);
  }
  return items as string[];
}

export function oneOf<T extends string>(o: Obj, key: string, allowed: readonly T[]): T {
  const v = str(o, key);
  if (!(allowed as readonly string[]).includes(v)) throw bad(key, `one of ${allowed.join(', ')}`);
  return v as T;
}

export function version(o: Obj, key: string): [number, number] {
  const v = o[key];
  if (v === undefined || v === null) throw missing(key);
  if (!Array.isArray(v) || v.length !== 2 || !v.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 0)) {
    throw bad(key, '[major, minor]');
  }
  return [v[0] as number, v[1] as number];
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

/**
 * How deep objects and arrays may nest in a message. No message of the
 * protocol needs more than a few levels; far deeper input parses fine but
 * overflows the stack of whatever walks it later (JSON.stringify of a reply
 * or an event), far from the peer that sent it.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Whether JSON text nests objects and arrays deeper than `max`. A linear scan
 * without recursion, so it can run before JSON.parse; brackets inside strings
 * do not count (a string is skipped with indexOf, so a long base64 string
 * costs next to nothing). Text that is not JSON may pass: JSON.parse refuses it.
 */
export function nestsDeeper(text: string, max: number): boolean {
  // Depth never exceeds the count of opening brackets, strings or not; most
  // messages have few, counted by the engine's own indexOf (the scan below is
  // one bytecode loop a character, slow on the device's XS).
  let opens = 0;
  for (let i = text.indexOf('{'); i >= 0 && opens <= max; i = text.indexOf('{', i + 1)) opens++;
  for (let i = text.indexOf('['); i >= 0 && opens <= max; i = text.indexOf('[', i + 1)) opens++;
  if (opens <= max) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote is the next one not escaped by an odd run of backslashes.
      for (;;) {
        i = text.indexOf('"', i + 1);
        if (i < 0) return false;
        let slashes = 0;
        while (text.charCodeAt(i - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** The same bound for a value that is already parsed (REST builds requests from a parsed body). Recurses at most `max` levels. */
export function valueNestsDeeper(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (max === 0) return true;
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    if (valueNestsDeeper(item, max - 1)) return true;
  }
  return false;
}

export function tooDeepError(): ProtocolError {
  return protocolError('TOO_DEEP', `more than ${MAX_JSON_DEPTH} levels`);
}

/** Parses text as a JSON object with a string `typeKey` and validates it with `build`. */
export function decodeWith<T>(text: string, typeKey: string, build: (type: string, o: Obj) => T | undefined): Decoded<T> {
  if (nestsDeeper(text, MAX_JSON_DEPTH)) return { ok: false, error: tooDeepError() };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, error: protocolError('BAD_JSON') };
  }
  if (!isObj(parsed) || typeof parsed[typeKey] !== 'string') {
    return { ok: false, error: protocolError('BAD_MESSAGE', `expected an object with a string "${typeKey}"`) };
  }
  const type = parsed[typeKey] as string;
  try {
    const value = build(type, parsed);
    if (value === undefined) return { ok: false, error: protocolError('UNKNOWN_TYPE', type.slice(0, 64)) };
    return { ok: true, value };
  } catch (e) {
    if (e instanceof FieldError) return { ok: false, error: e.error };
    throw e;
  }
}
