// How fast each job moves and when it will be done. A job's updates carry
// the bytes the printer took (`written`) and the server's time of the change
// (`updated`); successive updates make a RateMeter's samples (the SDK's, as
// the CLI uses), and the rate gives the time left with etaMs. A job that
// pauses starts measuring again when it goes on, so the pause does not drag
// its rate down. A moving job that has not moved for STALLED_MS (a G-code
// printer heating up, a printer that stopped reading) shows no rate and no
// time left, but how long it has been still. Finished jobs have no meter:
// their average is size over the time from first byte to end. paceText says
// it all in a few words, for the jobs table and the printer cards.

import { etaMs, formatDuration, isFinal, RateMeter, type JobView, type PrintbridgeClient } from '../sdk/index.js';
import { grouped, left, rate as rateText } from './format.js';

const MOVING: ReadonlySet<JobView['state']> = new Set(['sending', 'printing']);
/** Without a byte moving for this long, a job's rate is no longer its rate. */
export const STALLED_MS = 10_000;

export interface JobPace {
  /** Bytes per second now (moving jobs), or on average (finished jobs); undefined while unknown. */
  rate: number | undefined;
  /** Milliseconds left, for a moving job whose rate is known. */
  eta: number | undefined;
  /** How long a finished job took from its first byte. */
  took: number | undefined;
  /** How long a moving job's bytes have not moved, once that is STALLED_MS or more. */
  still: number | undefined;
}

interface Meter {
  readonly meter: RateMeter;
  written: number;
  /** The page's clock when `written` last changed. */
  movedAt: number;
}

export class JobRates {
  private readonly meters = new Map<string, Meter>();

  constructor(client: PrintbridgeClient, private readonly clock: () => number = Date.now) {
    client.on('job.updated', (j) => this.sample(j));
    client.on('snapshot', (s) => {
      // After a reconnect the samples from before the gap say nothing about now.
      this.meters.clear();
      for (const j of s.jobs) this.sample(j);
    });
  }

  sample(j: JobView): void {
    if (!MOVING.has(j.state)) {
      this.meters.delete(j.id);
      return;
    }
    let m = this.meters.get(j.id);
    if (m === undefined) {
      m = { meter: new RateMeter(), written: j.written, movedAt: this.clock() };
      this.meters.set(j.id, m);
    }
    if (j.written !== m.written) {
      m.written = j.written;
      m.movedAt = this.clock();
    }
    m.meter.sample(j.updated, j.written);
  }

  /** Some job is moving: its time left and stillness change with the clock. */
  get moving(): boolean {
    return this.meters.size > 0;
  }

  pace(j: JobView): JobPace {
    if (isFinal(j.state)) {
      const took = j.started !== undefined && j.finished !== undefined && j.finished > j.started ? j.finished - j.started : undefined;
      const rate = took !== undefined && j.state === 'done' && j.written > 0 ? (j.written * 1000) / took : undefined;
      return { rate, eta: undefined, took, still: undefined };
    }
    const m = this.meters.get(j.id);
    if (!MOVING.has(j.state) || m === undefined) return { rate: undefined, eta: undefined, took: undefined, still: undefined };
    const still = this.clock() - m.movedAt;
    if (still >= STALLED_MS && j.written < j.size) return { rate: undefined, eta: undefined, took: undefined, still };
    const rate = m.meter.rate();
    return { rate, eta: etaMs(j.size, j.written, rate), took: undefined, still: undefined };
  }
}

/** Where a G-code job is, then "3.2 KiB/s · 1m05s left" while it moves ("no progress for 25s" when it does not), "took 12s at 3.2 KiB/s" once done. */
export function paceText(rates: JobRates, j: JobView): string {
  const p = rates.pace(j);
  const parts: string[] = [];
  if (j.layer !== undefined) parts.push(`layer ${j.layer}`);
  if (j.line !== undefined) parts.push(`line ${grouped(j.line)}`);
  if (isFinal(j.state)) {
    if (j.state !== 'done' || p.took === undefined) return '';
    // Under a second, a rate says more about timers than about the printer.
    if (p.took < 1000) return 'took under 1s';
    return `took ${formatDuration(p.took)}${p.rate !== undefined ? ` at ${rateText(p.rate)}` : ''}`;
  }
  if (p.still !== undefined) parts.push(`no progress for ${formatDuration(p.still)}`);
  if (p.rate !== undefined) parts.push(rateText(p.rate));
  if (p.eta !== undefined) parts.push(left(p.eta));
  return parts.join(' · ');
}
