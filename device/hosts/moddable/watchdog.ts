// Restart after a long time without the server. Some failures only a reset
// cures on an ESP32 (a wedged lwIP or Wi-Fi driver, fragmented heap), and a
// board on a shelf has nobody to press its button. Pure: it is told the link
// state and the time, and answers when the restart is due.

export class OfflineWatchdog {
  private since: number | undefined;

  /** `limit` ms offline before a restart; 0 turns the watchdog off. */
  constructor(private readonly limit: number) {}

  /** Reports whether the link is online now; returns true once the limit has passed offline. */
  observe(online: boolean, now: number): boolean {
    if (this.limit <= 0) return false;
    if (online || this.since === undefined) this.since = now;
    return !online && now - this.since >= this.limit;
  }

  /** When the restart would be due if nothing changes, for the host's timer. */
  deadline(): number | undefined {
    return this.limit <= 0 || this.since === undefined ? undefined : this.since + this.limit;
  }
}
