// Properties of the device protocol's decoders (protocol/device-messages.ts)
// on hostile text: they never throw, they answer a typed result whose error
// has a decoder code from protocol/errors.ts, what they accept survives
// encoding again unchanged, every message the encoder writes decodes to
// itself, and every bounded field refuses one character or item too many.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeDeviceMessage, decodeServerMessage, encodeDeviceMessage, encodeServerMessage, type DeviceMessage } from '../../protocol/device-messages.js';
import { assertDecoderError, deepText, fuzzRuns, fuzzSeed, hostileText, mutated, PROTO_KEYS } from './arbitraries.js';
import { DEVICE_FIELDS, DEVICE_TYPES, deviceMessage, SERVER_FIELDS, SERVER_TYPES, serverMessage } from './vocabulary.js';

/** The JSON a value encodes to, so that -0 and 0, or a missing and an undefined field, compare equal. */
const wire = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

// --- the properties ---------------------------------------------------------

function checkDecoder<T>(decode: (s: string) => { ok: true; value: T } | { ok: false; error: { code: string; message: string } }, encode: (m: T) => string) {
  return (input: string): void => {
    const r = decode(input);
    if (!r.ok) return assertDecoderError(r.error as never, input);
    // What was accepted is a message the encoder can write, and it reads back the same.
    const again = decode(encode(r.value));
    assert.ok(again.ok, `re-encoded ${input.slice(0, 200)} no longer decodes`);
    assert.deepEqual(wire(again.value), wire(r.value));
  };
}

describe('device messages under fuzz', () => {
  test('decodeDeviceMessage never throws and answers a typed result on hostile text', () => {
    fc.assert(fc.property(hostileText('t', DEVICE_TYPES, DEVICE_FIELDS), checkDecoder(decodeDeviceMessage, encodeDeviceMessage)), {
      seed: fuzzSeed(0x0d1), numRuns: fuzzRuns(1500),
    });
  });

  test('decodeServerMessage never throws and answers a typed result on hostile text', () => {
    fc.assert(fc.property(hostileText('t', SERVER_TYPES, SERVER_FIELDS), checkDecoder(decodeServerMessage, encodeServerMessage)), {
      seed: fuzzSeed(0x0d2), numRuns: fuzzRuns(2000),
    });
  });

  test('decodeDeviceMessage never throws on valid messages with a few fields changed, dropped or added', () => {
    fc.assert(fc.property(mutated(deviceMessage), checkDecoder(decodeDeviceMessage, encodeDeviceMessage)), {
      seed: fuzzSeed(0x0d6), numRuns: fuzzRuns(2000),
    });
  });

  test('decodeServerMessage never throws on valid messages with a few fields changed, dropped or added', () => {
    fc.assert(fc.property(mutated(serverMessage), checkDecoder(decodeServerMessage, encodeServerMessage)), {
      seed: fuzzSeed(0x0d7), numRuns: fuzzRuns(1000),
    });
  });

  test('every device message the encoder writes decodes to itself', () => {
    fc.assert(fc.property(deviceMessage, (m) => {
      const r = decodeDeviceMessage(encodeDeviceMessage(m));
      assert.ok(r.ok, `did not decode: ${r.ok ? '' : r.error.message}`);
      assert.deepEqual(wire(r.value), wire(m));
    }), { seed: fuzzSeed(0x0d3), numRuns: fuzzRuns(3000) });
  });

  test('every server message the encoder writes decodes to itself', () => {
    fc.assert(fc.property(serverMessage, (m) => {
      const r = decodeServerMessage(encodeServerMessage(m));
      assert.ok(r.ok, `did not decode: ${r.ok ? '' : r.error.message}`);
      assert.deepEqual(wire(r.value), wire(m));
    }), { seed: fuzzSeed(0x0d4), numRuns: fuzzRuns(1000) });
  });

  test('a prototype key in place of a field is a missing or bad field, never a match on Object.prototype', () => {
    fc.assert(fc.property(fc.constantFrom(...PROTO_KEYS), fc.constantFrom(...DEVICE_TYPES), (key, t) => {
      // The type itself named by a prototype key, and a message whose only field is one.
      for (const input of [`{"t":${JSON.stringify(key)}}`, `{"t":${JSON.stringify(t)},${JSON.stringify(key)}:{"x":1}}`]) {
        const r = decodeDeviceMessage(input);
        if (!r.ok) assertDecoderError(r.error, input);
        else assert.ok(r.value.t === 'ping' || r.value.t === 'pong', `${input} decoded as ${r.value.t}`);
      }
      const viaProto = decodeDeviceMessage(`{"t":"job.done","__proto__":{"id":"x"}}`);
      assert.equal(viaProto.ok, false, 'a field inherited through __proto__ counts as given');
    }), { seed: fuzzSeed(0x0d5), numRuns: fuzzRuns(100) });
  });

  test('a data object nested thousands of levels deep is decoded without a stack overflow', () => {
    for (const depth of [1000, 10_000, 100_000]) {
      const input = `{"t":"control.result","ref":"r","ok":true,"data":{"x":${deepText(depth)}}}`;
      const r = decodeDeviceMessage(input);
      // Whether the decoder takes it or refuses it by depth, it answers.
      if (!r.ok) assertDecoderError(r.error, input.slice(0, 100));
    }
  });

  test('each bounded field refuses one character or item over its bound', () => {
    const over: [DeviceMessage['t'], Record<string, unknown>, string][] = [
      ['hello', { id: 'x'.repeat(129) }, 'id'],
      ['hello', { fw: 'x'.repeat(65) }, 'fw'],
      ['hello', { caps: Array.from({ length: 33 }, () => 'c') }, 'caps'],
      ['hello', { caps: ['x'.repeat(33)] }, 'caps'],
      ['hello', { window: 63 }, 'window'],
      ['hello', { window: (1 << 24) + 1 }, 'window'],
      ['hello', { maxChunk: (1 << 20) + 1 }, 'maxChunk'],
      ['hello', { ports: Array.from({ length: 17 }, (_, i) => ({ port: i, dialect: 'raw' })) }, 'ports'],
      ['job.fail', { message: 'x'.repeat(513) }, 'message'],
      ['status', { ports: [{ port: 256, state: 'online' }] }, 'port'],
      ['status', { ports: [{ port: 0, state: 'online', temps: Array.from({ length: 9 }, () => ({ name: 'T', current: 1 })) }] }, 'temps'],
      ['status', { rssi: 1 }, 'rssi'],
      ['job.ack', { written: Number.MAX_SAFE_INTEGER + 1 }, 'written'],
      ['job.ack', { written: -1 }, 'written'],
    ];
    const base: Record<string, Record<string, unknown>> = {
      hello: { t: 'hello', v: [1, 0], id: 'd', fw: 'f', caps: [], window: 4096, maxChunk: 1024, ports: [] },
      'job.fail': { t: 'job.fail', id: 'j', code: 'PRINTER_ERROR', message: 'm' },
      status: { t: 'status', ports: [], led: 'online', uptime: 1 },
      'job.ack': { t: 'job.ack', id: 'j', written: 1 },
    };
    for (const [t, change, field] of over) {
      const good = base[t];
      assert.ok(good !== undefined);
      assert.ok(decodeDeviceMessage(JSON.stringify(good)).ok, `the base ${t} decodes`);
      const r = decodeDeviceMessage(JSON.stringify({ ...good, ...change }));
      assert.equal(r.ok, false, `${t} with ${field} over its bound was accepted`);
      if (!r.ok) assert.equal(r.error.code, 'BAD_FIELD', `${t} ${field}: ${r.error.message}`);
    }
  });
});
