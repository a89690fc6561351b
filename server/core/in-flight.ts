// Requests in flight per caller: received, and waiting for something (a
// device's answer, their turn) before they can be answered. A caller is one
// connection (or one REST request), so this bounds what one connection can
// make the server hold at once (pending control relays, queued turns, the
// replies they will make) whatever its transport. A request answered at
// once is never in flight, so a client that sends a hundred jobs without
// waiting is not refused. At the bound, any request is answered RATE_LIMITED
// at once and costs nothing more.

import { PrintbridgeError } from '../errors.js';

export class InFlight {
  private readonly counts = new WeakMap<object, number>();
  /** One refusal for all: a burst of thousands costs no stack trace each. */
  private refusal: { readonly max: number; readonly error: PrintbridgeError } | undefined;

  constructor(private readonly max: () => number) {}

  run<T>(caller: object, work: () => T | Promise<T>): Promise<T> {
    const max = this.max();
    const n = this.counts.get(caller) ?? 0;
    if (n >= max) return Promise.reject(this.refused(max));
    let result: T | Promise<T>;
    try {
      result = work();
    } catch (e) {
      return Promise.reject(e);
    }
    if (!(result instanceof Promise)) return Promise.resolve(result);
    this.counts.set(caller, n + 1);
    return result.finally(() => this.counts.set(caller, (this.counts.get(caller) ?? 1) - 1));
  }

  private refused(max: number): PrintbridgeError {
    if (this.refusal?.max !== max) {
      this.refusal = { max, error: new PrintbridgeError('RATE_LIMITED', `${max} requests of this connection are in flight; wait for their answers`) };
    }
    return this.refusal.error;
  }
}
