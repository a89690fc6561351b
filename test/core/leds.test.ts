import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LED_TIMING, ledPattern, levelAt, nextEdge } from '../../device/core/leds.js';
import { LED_PATTERNS } from '../../protocol/device-messages.js';

const base = { identify: false, network: true, server: true, refused: false, printerError: false, printing: false };

test('pattern follows the priority: identify, override, network, server, printer error, printing, online', () => {
  assert.equal(ledPattern(base), 'online');
  assert.equal(ledPattern({ ...base, printing: true }), 'printing');
  assert.equal(ledPattern({ ...base, printing: true, printerError: true }), 'printer-error');
  assert.equal(ledPattern({ ...base, printerError: true, server: false }), 'no-server');
  assert.equal(ledPattern({ ...base, printerError: true, server: false, refused: true }), 'refused');
  assert.equal(ledPattern({ ...base, server: false, refused: true, network: false }), 'no-network');
  assert.equal(ledPattern({ ...base, server: false, network: false }), 'no-network');
  assert.equal(ledPattern({ ...base, network: false, override: 'off' }), 'off');
  assert.equal(ledPattern({ ...base, network: false, override: 'off', identify: true }), 'identify');
});

test('levels follow the timing table and edges land where the level changes', () => {
  for (const p of LED_PATTERNS) {
    const steps = LED_TIMING[p];
    if (steps.length === 0) {
      assert.equal(nextEdge(p, 12345), undefined);
      assert.equal(levelAt(p, 0), p === 'off' ? 0 : 1);
      continue;
    }
    let t = 1_000_003; // an arbitrary phase
    for (let i = 0; i < 20; i++) {
      const edge = nextEdge(p, t);
      assert.ok(edge !== undefined && edge > t, `${p}: edge after ${t}`);
      // Level is constant up to the edge and different right at it.
      assert.equal(levelAt(p, edge - 1), levelAt(p, t), `${p}: level constant before edge`);
      assert.notEqual(levelAt(p, edge), levelAt(p, edge - 1), `${p}: level flips at ${edge}`);
      t = edge;
    }
  }
});

test('the patterns a person must tell apart differ within their first two seconds', () => {
  const sample = (p: (typeof LED_PATTERNS)[number]): string => Array.from({ length: 40 }, (_, i) => levelAt(p, i * 50)).join('');
  const seen = new Map<string, string>();
  for (const p of ['no-network', 'no-server', 'refused', 'online', 'printing', 'printer-error', 'identify'] as const) {
    const s = sample(p);
    assert.equal(seen.get(s), undefined, `${p} looks like ${seen.get(s)}`);
    seen.set(s, p);
  }
});
