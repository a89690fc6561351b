import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueryStripper } from '../../tools/emulator/query-stripper.js';

const DLE_EOT = [1, 2, 3, 4].map((n) => Uint8Array.of(0x10, 0x04, n));

function run(chunks: number[][], queries = DLE_EOT): number[] {
  const s = new QueryStripper(queries);
  const out: number[] = [];
  for (const c of chunks) out.push(...s.push(Uint8Array.from(c)));
  out.push(...s.flush());
  return out;
}

test('answered queries are left out, data around them kept', () => {
  assert.deepEqual(run([[0x10, 0x04, 0x01, 0x41, 0x10, 0x04, 0x04, 0x42]]), [0x41, 0x42]);
});

test('a query split across reads is still recognised', () => {
  assert.deepEqual(run([[0x41, 0x10], [0x04], [0x02, 0x42]]), [0x41, 0x42]);
});

test('lookalikes are data: DLE EOT with another n, a lone DLE, a held tail at the end', () => {
  assert.deepEqual(run([[0x10, 0x04, 0x05, 0x10, 0x41]]), [0x10, 0x04, 0x05, 0x10, 0x41]);
  assert.deepEqual(run([[0x41, 0x10, 0x04]]), [0x41, 0x10, 0x04]);
});

test('text queries (ZPL) are matched as bytes', () => {
  const zpl = ['~HS', '~HQES'].map((q) => Uint8Array.from(q, (c) => c.charCodeAt(0)));
  const text = '^XA~HS^FDhi^FS~H~HQES^XZ';
  const out = run([[...text].map((c) => c.charCodeAt(0))], zpl);
  assert.equal(String.fromCharCode(...out), '^XA^FDhi^FS~H^XZ');
});
