// Device comings and goings are logged one line each until a fleet comes at
// once; then one line per window counts the rest, so that nothing goes
// unsaid and a reconnect storm does not write a line per device.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogLevel } from '../../server/core/context.js';
import { LogBurst } from '../../server/core/log-burst.js';
import { manualClock } from '../helpers/manual-clock.js';

test('lines past the window budget are counted in one line at the window end, and the next window starts afresh', () => {
  const clock = manualClock();
  const lines: { level: LogLevel; msg: string; fields?: Record<string, unknown> }[] = [];
  const burst = new LogBurst((level, msg, fields) => lines.push({ level, msg, fields }), clock, 'info', 'device online', 3, 1000);

  for (let i = 0; i < 10; i++) burst.line({ device: `d${i}` });
  assert.deepEqual(lines.map((l) => l.fields?.['device']), ['d0', 'd1', 'd2']);

  clock.advance(999);
  assert.equal(lines.length, 3, 'the count waits for the window to end');
  clock.advance(1);
  assert.equal(lines.length, 4);
  assert.equal(lines[3]?.level, 'info');
  assert.match(lines[3]?.msg ?? '', /^device online \(7 more in 1 s/);
  assert.deepEqual(lines[3]?.fields, { more: 7 });

  // A new window: lines are written again, and a quiet window writes no count.
  burst.line({ device: 'e0' });
  assert.equal(lines.at(-1)?.fields?.['device'], 'e0');
  clock.advance(5000);
  assert.equal(lines.length, 5);
});
