// Drives the status LED pins from the core's pattern: the level is a pure
// function of pattern and time (core/leds.ts), so this only writes the level
// now and sleeps until the next edge. It owns its own Timer, apart from the
// core's deadline timer, so blinking never wakes the core.

import Digital from 'embedded:io/digital';
import Timer from 'timer';
import type { LedPattern } from '../../../protocol/device-messages.js';
import { levelAt, nextEdge } from '../../core/leds.js';

export class StatusLed {
  private readonly outputs: Digital[] = [];
  private pattern: LedPattern = 'off';
  private timer: Timer | undefined;
  private level: 0 | 1 | undefined;

  constructor(
    pins: readonly number[],
    private readonly activeLow: boolean,
    private readonly clock: () => number,
  ) {
    for (const pin of pins) this.outputs.push(new Digital({ pin, mode: Digital.Output }));
  }

  show(pattern: LedPattern): void {
    this.pattern = pattern;
    // Forget the level written last: a pattern change must reach the pins even if the level matches.
    this.level = undefined;
    this.update();
  }

  private update(): void {
    if (this.timer !== undefined) Timer.clear(this.timer);
    this.timer = undefined;
    const t = this.clock();
    this.write(levelAt(this.pattern, t));
    const edge = nextEdge(this.pattern, t);
    if (edge === undefined || this.outputs.length === 0) return;
    this.timer = Timer.set(() => {
      this.timer = undefined;
      this.update();
    }, Math.max(1, edge - t));
  }

  private write(lit: 0 | 1): void {
    if (lit === this.level) return;
    this.level = lit;
    const value = (this.activeLow ? 1 - lit : lit) as 0 | 1;
    for (const out of this.outputs) out.write(value);
  }
}
