// Properties of the binary job-data frames (protocol/frames.ts): any bytes
// decode to a typed result without throwing, exactly the well-formed ones are
// accepted, the payload limit holds, and encode then decode is the identity.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeDataFrame, encodeDataFrame, FRAME_HEADER, FRAME_KIND_DATA } from '../../protocol/frames.js';
import { isErrorCode } from '../../protocol/errors.js';
import { fuzzRuns, fuzzSeed } from './arbitraries.js';

const maxPayload = fc.oneof(fc.nat({ max: 64 }), fc.constant(0), fc.constant(1 << 20), fc.integer({ min: -5, max: -1 }));

/** Any bytes, and bytes that start like a data frame, so that both branches are reached. */
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 80 }),
  fc.tuple(fc.uint8Array({ minLength: 7, maxLength: 7 }), fc.uint8Array({ maxLength: 80 })).map(([h, p]) => Uint8Array.from([FRAME_KIND_DATA, ...h, ...p])),
);

describe('job-data frames under fuzz', () => {
  test('any bytes decode to a typed result, and only a well-formed frame within the limit is accepted', () => {
    fc.assert(fc.property(bytes, maxPayload, (b, max) => {
      const r = decodeDataFrame(b, max);
      const wellFormed = b.length >= FRAME_HEADER && b[0] === FRAME_KIND_DATA && b.length - FRAME_HEADER <= max;
      assert.equal(r.ok, wellFormed);
      if (!r.ok) {
        assert.ok(isErrorCode(r.error.code));
        assert.ok(r.error.code === 'BAD_FRAME' || r.error.code === 'FRAME_TOO_LARGE', r.error.code);
        assert.equal(r.error.code === 'FRAME_TOO_LARGE', b.length >= FRAME_HEADER && b[0] === FRAME_KIND_DATA);
        return;
      }
      const { stream, offset, payload } = r.frame;
      assert.ok(Number.isInteger(stream) && stream >= 0 && stream <= 0xffff);
      assert.ok(Number.isInteger(offset) && offset >= 0 && offset <= 0xffffffff);
      assert.ok(payload.length <= max);
      assert.deepEqual([...payload], [...b.subarray(FRAME_HEADER)]);
    }), { seed: fuzzSeed(0xf1), numRuns: fuzzRuns(5000) });
  });

  test('encode then decode is the identity for every stream, offset and payload', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 300 }), (stream, offset, payload) => {
      const encoded = encodeDataFrame(stream, offset, payload);
      assert.equal(encoded.length, FRAME_HEADER + payload.length);
      const r = decodeDataFrame(encoded, payload.length);
      assert.ok(r.ok);
      assert.equal(r.frame.stream, stream);
      assert.equal(r.frame.offset, offset);
      assert.deepEqual([...r.frame.payload], [...payload]);
      // One byte under the payload's size is over the limit.
      if (payload.length > 0) assert.equal(decodeDataFrame(encoded, payload.length - 1).ok, false);
    }), { seed: fuzzSeed(0xf2), numRuns: fuzzRuns(3000) });
  });

  test('the encoder refuses a stream or offset that does not fit its field, instead of wrapping it', () => {
    const bad = fc.oneof(
      fc.double(), fc.integer({ min: -1e6, max: -1 }), fc.constant(Number.NaN), fc.constant(Infinity), fc.integer({ min: 0x100000000, max: 2 ** 52 }),
    );
    fc.assert(fc.property(bad, fc.boolean(), (n, asStream) => {
      const fits = Number.isInteger(n) && n >= 0 && n <= (asStream ? 0xffff : 0xffffffff);
      const call = (): Uint8Array => (asStream ? encodeDataFrame(n, 0, new Uint8Array(0)) : encodeDataFrame(0, n, new Uint8Array(0)));
      if (fits) call();
      else assert.throws(call, RangeError);
    }), { seed: fuzzSeed(0xf3), numRuns: fuzzRuns(1000) });
  });
});
