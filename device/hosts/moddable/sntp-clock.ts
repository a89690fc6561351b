// Wall-clock time for TLS. SecureSocket checks certificate validity against
// the clock, and an ESP32 boots in 1970, so wss:// waits until SNTP has set
// the time once. Plain ws:// never asks for it. A failed query is retried on
// the next network-up or after `retry` ms, whichever comes first.

import SNTP from 'sntp';
import Time from 'time';
import Timer from 'timer';

export class SntpClock {
  private ready = false;
  private query: SNTP | undefined;
  private timer: Timer | undefined;

  constructor(
    private readonly host: string,
    private readonly retry: number,
    private readonly log: (message: string) => void,
    private readonly onSet: () => void,
  ) {}

  get isSet(): boolean {
    return this.ready;
  }

  /** Call when the network comes up. */
  sync(): void {
    if (this.ready || this.query !== undefined || this.host === '') return;
    if (this.timer !== undefined) Timer.clear(this.timer);
    this.timer = undefined;
    try {
      this.query = new SNTP({ host: this.host }, (message, value) => {
        if (message === SNTP.time && value !== undefined) {
          Time.set(value);
          this.ready = true;
          this.query = undefined;
          this.log('clock set by SNTP');
          this.onSet();
        } else if (message === SNTP.error) {
          this.query = undefined;
          this.log(`SNTP ${this.host} failed`);
          this.timer = Timer.set(() => {
            this.timer = undefined;
            this.sync();
          }, this.retry);
        }
      });
    } catch (e) {
      this.query = undefined;
      this.log(`SNTP: ${String(e)}`);
    }
  }
}
