// Properties of the client request decoders (protocol/client-messages.ts) on
// hostile input: they never throw, a refusal has a decoder code from
// protocol/errors.ts and still carries the request's id when it had a valid
// one (so the error reply correlates), what they accept survives encoding
// again, the text form (WebSocket) and the value form (REST) agree, and
// job.submit's data is bounded by the limit the transport passes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeClientRequest, decodeClientValue, type RequestId } from '../../protocol/client-messages.js';
import { isObj } from '../../protocol/fields.js';
import { assertDecoderError, fuzzRuns, fuzzSeed, hostileText, mutated } from './arbitraries.js';
import { CLIENT_FIELDS, CLIENT_OPS, clientRequest } from './vocabulary.js';

/** The limit tests pass for job.submit's base64; small so that the fuzz crosses it. */
const MAX_DATA = 64;
const request = clientRequest(MAX_DATA);

const wire = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** The id a request object carries, when it is one the decoder must keep. */
function validId(input: string): { has: boolean; id: RequestId } {
  let o: unknown;
  try {
    o = JSON.parse(input);
  } catch {
    return { has: false, id: null };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof (o as Record<string, unknown>)['op'] !== 'string') return { has: false, id: null };
  const v = (o as Record<string, unknown>)['id'];
  if ((typeof v === 'string' && v.length <= 128) || (typeof v === 'number' && Number.isFinite(v))) return { has: true, id: v };
  return { has: false, id: null };
}

function check(input: string): void {
  const r = decodeClientRequest(input, MAX_DATA);
  const given = validId(input);
  // Text refused for its depth is judged on the text alone, before parsing: its id
  // may be unread, and a duplicate key that parsing drops still counts.
  const deep = !r.ok && r.error.code === 'TOO_DEEP';
  if (!deep) {
    if (given.has) assert.equal(r.id, given.id, `id not kept for ${input.slice(0, 200)}`);
    else assert.equal(r.id, null, `an id out of nothing for ${input.slice(0, 200)}`);
  }
  // The REST form takes the parsed value and must judge it the same way.
  let parsed: unknown;
  let parses = true;
  try {
    parsed = JSON.parse(input);
  } catch {
    parses = false;
  }
  if (parses && !deep) {
    const v = decodeClientValue(parsed, MAX_DATA);
    assert.equal(v.ok, r.ok, `text and value forms disagree on ${input.slice(0, 200)}`);
    // A bad id and a bad field are both refusals; which one is named first may differ.
    const badId = !given.has && isObj(parsed) && parsed['id'] !== undefined && parsed['id'] !== null;
    if (!v.ok && !r.ok && !badId) assert.equal(v.error.code, r.error.code, `text and value forms disagree on ${input.slice(0, 200)}`);
  }
  if (!r.ok) return assertDecoderError(r.error, input);
  assert.ok(CLIENT_OPS.includes(r.value.op));
  assert.equal(r.value.id, r.id);
  const again = decodeClientRequest(JSON.stringify(r.value), MAX_DATA);
  assert.ok(again.ok, `re-encoded ${input.slice(0, 200)} no longer decodes`);
  assert.deepEqual(wire(again.value), wire(r.value));
}

describe('client requests under fuzz', () => {
  test('decodeClientRequest never throws on hostile text, keeps a valid id, and agrees with decodeClientValue', () => {
    fc.assert(fc.property(hostileText('op', CLIENT_OPS, CLIENT_FIELDS), check), { seed: fuzzSeed(0xc11), numRuns: fuzzRuns(3000) });
  });

  test('the same on valid requests with a few fields changed, dropped or added', () => {
    fc.assert(fc.property(mutated(request), check), { seed: fuzzSeed(0xc12), numRuns: fuzzRuns(3000) });
  });

  test('decodeClientValue never throws on any JavaScript value', () => {
    fc.assert(fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withTypedArray: true, withSparseArray: true }), (value) => {
      const r = decodeClientValue(value, MAX_DATA);
      if (!r.ok) assertDecoderError(r.error, String(typeof value));
    }), { seed: fuzzSeed(0xc13), numRuns: fuzzRuns(1500) });
  });

  test('every request the client writes decodes to itself', () => {
    fc.assert(fc.property(request, (req) => {
      const r = decodeClientRequest(JSON.stringify(req), MAX_DATA);
      assert.ok(r.ok, `did not decode: ${r.ok ? '' : r.error.message} ${JSON.stringify(req).slice(0, 200)}`);
      assert.deepEqual(wire(r.value), wire(req));
      assert.equal(r.id, wire(req.id));
    }), { seed: fuzzSeed(0xc14), numRuns: fuzzRuns(1500) });
  });

  test('job.submit data and text are bounded by the limit the transport passes', () => {
    fc.assert(fc.property(fc.nat({ max: 4 * MAX_DATA }), fc.constantFrom('data', 'text'), fc.nat({ max: 1000 }), (length, kind, maxData) => {
      const r = decodeClientRequest(JSON.stringify({ op: 'job.submit', id: 1, printer: 'p', [kind]: 'A'.repeat(length) }), maxData);
      if (length <= maxData) assert.ok(r.ok, `${length} ≤ ${maxData} refused`);
      else {
        assert.equal(r.ok, false, `${length} > ${maxData} accepted`);
        if (!r.ok) assert.equal(r.error.code, 'BAD_FIELD');
      }
      assert.equal(r.id, 1);
    }), { seed: fuzzSeed(0xc15), numRuns: fuzzRuns(500) });
  });
});
