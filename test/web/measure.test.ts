// What the dashboard measures itself, without a browser: the temperature
// history's caps (samples per printer, the window) and the job rate's stall
// timeout, each crossed by a clock the test moves.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobView, PrinterView, PrintbridgeClient } from '../../sdk/index.js';

// Loaded by a path tsc does not follow: web/ is checked with the DOM's types
// (tsconfig.web.json), which this project's node tests do not have.
interface Pace { rate: number | undefined; eta: number | undefined; took: number | undefined; still: number | undefined }
interface Rates { sample(j: JobView): void; pace(j: JobView): Pace; readonly moving: boolean }
interface Temps { add(p: PrinterView): void; samples(id: string): readonly { at: number }[] }
const web = (name: string): string => new URL(`../../web/${name}`, import.meta.url).href;
const { JobRates, STALLED_MS } = (await import(web('rates.js'))) as { JobRates: new (c: PrintbridgeClient, clock: () => number) => Rates; STALLED_MS: number };
const { TempHistory, WINDOW_MS } = (await import(web('temps.js'))) as { TempHistory: new (c: PrintbridgeClient, clock: () => number) => Temps; WINDOW_MS: number };

/** A client that is never open: the tests feed the measures themselves. */
const idle = { on: () => undefined } as unknown as PrintbridgeClient;

const printer = (temp: number): PrinterView =>
  ({ id: 'maker/0', online: true, status: 'online', temps: [{ name: 'T0', current: temp, target: 210 }] }) as unknown as PrinterView;

test('a printer keeps at most 600 temperature samples, however chatty its device', () => {
  let now = 0;
  const temps = new TempHistory(idle, () => now);
  for (let i = 0; i < 1000; i++) {
    now += 10; // 10 s of readings: all inside the window
    temps.add(printer(20 + i / 100));
  }
  const kept = temps.samples('maker/0');
  assert.equal(kept.length, 600);
  assert.equal(kept[kept.length - 1]!.at, 10_000, 'the newest are kept');
  assert.equal(kept[0]!.at, 4010, 'the oldest are dropped');
});

test('temperature samples older than the window go, but for the one where the line enters it', () => {
  let now = 0;
  const temps = new TempHistory(idle, () => now);
  for (let i = 0; i < 12; i++) {
    temps.add(printer(200));
    now += 60_000;
  }
  now -= 60_000;
  const kept = temps.samples('maker/0');
  assert.ok(kept[0]!.at < now - WINDOW_MS, 'one sample from before the window');
  assert.ok(kept[1]!.at >= now - WINDOW_MS, 'only one');
  assert.equal(kept.length, 7);
  temps.add({ ...printer(200), online: false });
  assert.equal(temps.samples('maker/0').length, 7, 'an offline printer adds nothing');
});

test('a moving job shows a rate until its bytes have not moved for STALLED_MS, then how long', () => {
  let now = 1_000_000;
  const rates = new JobRates(idle, () => now);
  const job = (written: number, updated: number): JobView =>
    ({ id: 'j1', printer: 'maker/0', state: 'printing', size: 100_000, written, updated, progress: written / 100_000 }) as unknown as JobView;
  rates.sample(job(0, now));
  now += 1000;
  rates.sample(job(1000, now));
  assert.equal(rates.pace(job(1000, now)).rate, 1000);
  assert.equal(rates.pace(job(1000, now)).eta, 99_000);
  now += STALLED_MS - 1;
  const before = rates.pace(job(1000, now));
  assert.equal(before.still, undefined, 'not yet stalled');
  assert.equal(before.rate, 1000);
  now += 1;
  const after = rates.pace(job(1000, now));
  assert.deepEqual(after, { rate: undefined, eta: undefined, took: undefined, still: STALLED_MS });
  // Bytes move again: the rate comes back.
  now += 500;
  rates.sample(job(3000, now));
  assert.equal(rates.pace(job(3000, now)).still, undefined);
  assert.equal(rates.moving, true);
  rates.sample({ ...job(100_000, now), state: 'done' } as JobView);
  assert.equal(rates.moving, false, 'a finished job has no meter');
});
