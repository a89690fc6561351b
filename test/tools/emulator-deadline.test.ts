// The emulator's deadline timer (pacing and G-code ok delays rely on it):
// never before the deadline, never synchronously, cancellable.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atDeadline } from '../../tools/emulator/deadline.js';

test('a deadline already passed still fires asynchronously, after the caller has the cancel function', async () => {
  let fired = false;
  const done = new Promise<void>((resolve) => {
    atDeadline(performance.now() - 5, () => {
      fired = true;
      resolve();
    });
  });
  assert.equal(fired, false, 'not during the call');
  await done;
  assert.equal(fired, true);
});

test('never fires before its deadline', async () => {
  for (const ms of [0.3, 1, 1.7, 4]) {
    const deadline = performance.now() + ms;
    const firedAt = await new Promise<number>((resolve) => atDeadline(deadline, () => resolve(performance.now())));
    assert.ok(firedAt >= deadline, `${ms} ms: fired ${(deadline - firedAt).toFixed(3)} ms early`);
  }
});

test('a cancelled deadline does not fire', async () => {
  let fired = false;
  const cancel = atDeadline(performance.now() + 2, () => (fired = true));
  cancel();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fired, false);
});
