// Properties of what the server decodes from a Weblink printer: the
// reassembly of split JSON, the first message, alerts, the discovery value and
// ~HS answers. Whatever a printer (or whoever holds its password) sends, the
// decoders answer with a typed result, never throw, and hold no more than
// their bounds.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { crc16xmodem, parseDiscovery } from '../../server/weblink/discovery.js';
import { HostStatusReader } from '../../server/weblink/host-status.js';
import { classifyFirst, MAX_PIECES, parseAlert, Reassembler } from '../../server/weblink/messages.js';
import { fuzzRuns, fuzzSeed } from './arbitraries.js';

const json = fc.jsonValue({ maxDepth: 4 });
const anyValue = fc.oneof(json, fc.anything({ maxDepth: 3 }));

describe('Weblink decoders under fuzz', () => {
  test('reassembly: any pieces give json, more, too-large or bad, never a throw; what it holds stays within its bound', () => {
    const max = 512;
    fc.assert(fc.property(fc.array(fc.oneof(fc.string({ maxLength: 80 }), json.map((v) => JSON.stringify(v) ?? 'null')), { maxLength: 120 }), (pieces) => {
      const r = new Reassembler(max);
      let run = 0;
      for (const p of pieces) {
        const a = r.push(p);
        assert.ok(['more', 'json', 'too-large', 'bad'].includes(a.kind));
        run = a.kind === 'more' ? run + 1 : 0;
        assert.ok(r.pending <= max, `holds ${r.pending}`);
        assert.ok(run <= MAX_PIECES, `${run} pieces held`);
      }
    }), { seed: fuzzSeed(0xeb1), numRuns: fuzzRuns(500) });
  });

  test('reassembly: a JSON text cut anywhere into a few pieces comes back whole', () => {
    fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 6 }), fc.array(fc.nat(), { maxLength: 5 }), (value, cuts) => {
      const text = JSON.stringify(value);
      const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const pieces = [0, ...at].map((from, i) => text.slice(from, at[i] ?? text.length)).filter((p) => p !== '');
      const r = new Reassembler(1 << 16);
      const results = pieces.map((p) => r.push(p));
      const last = results.at(-1);
      assert.equal(last?.kind, 'json', JSON.stringify({ pieces, results }));
      if (last?.kind === 'json') assert.deepEqual(last.value, JSON.parse(text));
    }), { seed: fuzzSeed(0xeb2), numRuns: fuzzRuns(500) });
  });

  test('first messages and alerts: any value is classified or ignored, with bounded strings', () => {
    fc.assert(fc.property(anyValue, fc.string({ maxLength: 5000 }), (v, s) => {
      for (const value of [v, { discovery_b64: s }, { channel_name: s, unique_id: v }, { alert: v }, { alert: { condition_id: s, condition_state: 'SET' } }]) {
        const first = classifyFirst(value);
        assert.ok(['main', 'channel', 'unknown'].includes(first.kind));
        if (first.kind === 'main') assert.ok(first.discovery.length <= 4096);
        if (first.kind === 'channel') assert.ok(first.name.length <= 128);
        const alert = parseAlert(value);
        if (alert !== undefined) assert.ok(alert.condition.length <= 64);
      }
    }), { seed: fuzzSeed(0xeb3), numRuns: fuzzRuns(1000) });
  });

  test('discovery: any text is read or refused with a message; a value with a right CRC over garbage is still refused unless it is a packet', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 700 }), fc.base64String({ maxLength: 700 })), (s) => {
      for (const value of [s, `${s}:${crc16xmodem(s).toString(16).padStart(4, '0')}`]) {
        const d = parseDiscovery(value);
        if (d.ok) {
          assert.ok(d.value.serial !== '' && /^[\x20-\x7e]*$/.test(d.value.serial + d.value.product + d.value.firmware));
        } else {
          assert.equal(typeof d.message, 'string');
        }
      }
    }), { seed: fuzzSeed(0xeb4), numRuns: fuzzRuns(1000) });
  });

  test('~HS reader: any bytes in any pieces give only whole answers with integer counts, and it holds a bounded tail', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.constantFrom('\x02030,0,0,1218,003,0,0,0,000,0,0,0\x03\r\n', '\x02001,0,0,0,1,2,6,0,00000017,1,000\x03\r\n', '\x021234,0\x03\r\n').map((t) => Buffer.from(t, 'latin1'))), { maxLength: 40 }), (chunks) => {
      const reader = new HostStatusReader();
      for (const c of chunks) {
        for (const s of reader.push(Buffer.from(c))) {
          assert.ok(Number.isInteger(s.formatsInBuffer) && Number.isInteger(s.labelsRemaining));
        }
      }
    }), { seed: fuzzSeed(0xeb5), numRuns: fuzzRuns(500) });
  });
});
