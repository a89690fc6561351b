// Hostile input for the decoders, as fast-check arbitraries: JSON-shaped
// values with huge and odd numbers, any Unicode (lone surrogates too), keys
// that name Object.prototype's members, and nesting far deeper than any
// message has. Objects are written out as JSON text by hand, so that a
// "__proto__" key reaches the decoder as a real key (an object literal would
// set the prototype instead and JSON.stringify would drop it).

import fc from 'fast-check';
import { isErrorCode, type ProtocolError } from '../../protocol/errors.js';

// Every fuzz test imports this file: a failure report then says what was thrown, not only the input.
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

/** Seeds are fixed so that a failure repeats exactly; a longer run passes its own (docs/testing.md). */
export function fuzzSeed(base: number): number {
  const env = process.env['PRINTBRIDGE_FUZZ_SEED'];
  return env === undefined || env === '' ? base : (Number(env) ^ base) | 0;
}

/** Runs per property: `base` by default, scaled by PRINTBRIDGE_FUZZ_RUNS_X for a longer run. */
export function fuzzRuns(base: number): number {
  const x = Number(process.env['PRINTBRIDGE_FUZZ_RUNS_X'] ?? '1');
  return Number.isFinite(x) && x > 0 ? Math.max(1, Math.round(base * x)) : base;
}

export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'toJSON'] as const;

/** A JSON value written as text: the shape a decoder gets from a socket. */
export type JsonText = string;

const hugeNumber = fc.constantFrom(
  '1e308', '-1e308', '1e400', '-0', '0.0', '9007199254740993', '-9007199254740993', '4294967296', '65536', '1e-400',
  '123456789012345678901234567890', '0.1', '-1', '255', '256', '2147483648',
);

const anyString = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  // Lone surrogates and other code units JSON.stringify escapes.
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }).map((units) => String.fromCharCode(...units)),
);

/** Text of a JSON scalar. */
export const scalarText: fc.Arbitrary<JsonText> = fc.oneof(
  fc.constantFrom('null', 'true', 'false', '0', '1', '""', '[]', '{}'),
  hugeNumber,
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.integer().map(String),
  anyString.map((s) => JSON.stringify(s)),
);

export const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PROTO_KEYS) },
  { weight: 3, arbitrary: anyString },
);

/** Text of any JSON value up to a small depth, with hostile keys. */
export const valueText: fc.Arbitrary<JsonText> = fc.letrec<{ value: JsonText }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarText,
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc.array(fc.tuple(keyArb, tie('value')), { maxLength: 4 }).map(objectText),
  ),
})).value;

export function objectText(entries: readonly (readonly [string, JsonText])[]): JsonText {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

/** A value nested `depth` levels deep in arrays and objects, as text (built without recursion). */
export function deepText(depth: number, inner: JsonText = '1'): JsonText {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    if (i % 2 === 0) {
      open += '[';
      close = `]${close}`;
    } else {
      open += '{"a":';
      close = `}${close}`;
    }
  }
  return open + inner + close;
}

export const deepValueText: fc.Arbitrary<JsonText> = fc.integer({ min: 1, max: 3000 }).map((d) => deepText(d));

/**
 * An object that calls itself a message of one of `types` (under `typeKey`),
 * with fields drawn from `fields` and hostile keys, each holding any value.
 */
export function messageText(typeKey: string, types: readonly string[], fields: readonly string[]): fc.Arbitrary<JsonText> {
  const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...fields) }, { weight: 1, arbitrary: keyArb });
  const value = fc.oneof({ weight: 20, arbitrary: valueText }, { weight: 1, arbitrary: deepValueText });
  return fc.tuple(
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...types) }, { weight: 1, arbitrary: anyString }, { weight: 1, arbitrary: fc.constant('__proto__') }),
    fc.array(fc.tuple(key, value), { maxLength: 8 }),
    fc.boolean(),
  ).map(([type, entries, typeFirst]) => {
    const all: [string, JsonText][] = [...entries];
    const at = typeFirst ? 0 : all.length;
    all.splice(at, 0, [typeKey, JSON.stringify(type)]);
    return objectText(all);
  });
}

/** Anything a socket may carry as text: JSON-shaped or not. */
export function hostileText(typeKey: string, types: readonly string[], fields: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: messageText(typeKey, types, fields) },
    { weight: 2, arbitrary: valueText },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
    // Valid JSON cut short, or with trailing garbage.
    { weight: 1, arbitrary: fc.tuple(messageText(typeKey, types, fields), fc.nat()).map(([t, n]) => t.slice(0, n % (t.length + 1))) },
    { weight: 1, arbitrary: fc.tuple(messageText(typeKey, types, fields), fc.string({ maxLength: 4 })).map(([t, s]) => t + s) },
  );
}

/** Peer-blamed codes a decoder may answer with; anything else from a decoder is a bug. */
export const DECODER_CODES: readonly string[] = ['BAD_JSON', 'BAD_MESSAGE', 'UNKNOWN_TYPE', 'MISSING_FIELD', 'BAD_FIELD', 'TOO_DEEP'];

/** An error message echoes at most a bounded part of the input (a field name, 64 characters of a type). */
export const ERROR_MESSAGE_MAX = 600;

export function assertDecoderError(error: ProtocolError, input: string): void {
  if (!isErrorCode(error.code)) throw new Error(`unknown error code ${String(error.code)} for ${input.slice(0, 200)}`);
  if (!DECODER_CODES.includes(error.code)) throw new Error(`code ${error.code} is not a decoder code, for ${input.slice(0, 200)}`);
  if (typeof error.message !== 'string' || error.message.length > ERROR_MESSAGE_MAX) {
    throw new Error(`error message of ${String(error.message).length} characters for ${input.slice(0, 200)}`);
  }
}

type Path = readonly (string | number)[];
type Change = { set: JsonText } | { drop: true } | { add: readonly [string, JsonText] };

function paths(value: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...at, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) paths(v, [...at, k], out);
  return out;
}

/** JSON text of `value` with `change` made at `path` (undefined: the item is dropped). */
function textWith(value: unknown, path: Path, change: Change): JsonText | undefined {
  if (path.length === 0) {
    if ('set' in change) return change.set;
    if ('drop' in change) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return JSON.stringify(value);
    return objectText([...Object.entries(value).map(([k, v]): [string, JsonText] => [k, JSON.stringify(v)]), change.add]);
  }
  const [head, ...rest] = path;
  if (Array.isArray(value)) {
    const items: JsonText[] = [];
    value.forEach((v, i) => {
      const t = i === head ? textWith(v, rest, change) : JSON.stringify(v);
      if (t !== undefined) items.push(t);
    });
    return `[${items.join(',')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries: [string, JsonText][] = [];
    for (const [k, v] of Object.entries(value)) {
      const t = k === head ? textWith(v, rest, change) : JSON.stringify(v);
      if (t !== undefined) entries.push([k, t]);
    }
    return objectText(entries);
  }
  return JSON.stringify(value);
}

/**
 * A valid message with one to three mutations at random places: a value
 * replaced by any other, an item dropped, a hostile key added to an object.
 * These reach the checks deep inside a decoder that random objects rarely do.
 */
export function mutated<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<JsonText> {
  const change: fc.Arbitrary<[number, Change]> = fc.tuple(
    fc.nat(),
    fc.oneof(
      valueText.map((t): Change => ({ set: t })),
      fc.constant<Change>({ drop: true }),
      fc.tuple(keyArb, valueText).map(([k, t]): Change => ({ add: [k, t] })),
    ),
  );
  return fc.tuple(valid, fc.array(change, { minLength: 1, maxLength: 3 })).map(([message, changes]) => {
    let value: unknown = JSON.parse(JSON.stringify(message));
    let text = JSON.stringify(value);
    for (const [pick, c] of changes) {
      const all = paths(value);
      // Never the root itself for set/drop: that is plain random input, covered elsewhere.
      const candidates = 'add' in c ? all : all.slice(1);
      const path = candidates[pick % Math.max(1, candidates.length)] ?? [];
      text = textWith(value, path, c) ?? 'null';
      try {
        value = JSON.parse(text);
      } catch {
        return text;
      }
    }
    return text;
  });
}
