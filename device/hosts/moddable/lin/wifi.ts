// `embedded:network/interface/wifi` for the SDK's Linux host, which has no
// radio (the computer's own network carries the traffic). It keeps the
// ESP32 module's contract, so the firmware's station logic runs unchanged:
// connect() moves `connection` through 300 (connecting) and 400
// (associated) to 500 (address) with an onChanged("connection") per step,
// and "address" once an address arrives; connect() while connecting throws;
// disconnect() drops to 200 without a callback; losing the access point
// (`wifi down` on the control port) drops to 200 with one. While the access
// point is away a join fails after NO_AP_MS with a drop to 200, as the ESP32
// driver reports a disconnect when it finds no access point; so does a join
// under way when it goes.

import Timer from 'timer';
// A bare name: this module is mapped to an SDK module name, so a relative import would resolve against that.
import { onControl } from 'lin-board-control';

type Connection = 200 | 300 | 400 | 500;

/** How long each join step takes: enough to be seen, short enough for tests. */
const STEP_MS = 50;
/** How long a join with no access point in range takes to fail. */
const NO_AP_MS = 1_500;

let present = true;
const stations = new Set<WiFi>();
let listening = false;

export default class WiFi {
  private state: Connection = 200;
  private timer: Timer | undefined;
  private readonly onChanged: ((what: 'connection' | 'address') => void) | undefined;

  constructor(options: { readonly onChanged?: (what: 'connection' | 'address') => void }) {
    this.onChanged = options.onChanged;
    stations.add(this);
    if (!listening) {
      listening = true;
      onControl((words) => {
        if (words[0] !== 'wifi') return;
        if (words[1] === 'down') {
          present = false;
          for (const s of stations) s.lost();
        } else if (words[1] === 'up') {
          present = true;
        }
      });
    }
  }

  get connection(): Connection {
    return this.state;
  }

  get address(): string | undefined {
    return this.state === 500 ? '127.0.0.1' : undefined;
  }

  get RSSI(): number | undefined {
    return this.state >= 400 ? -52 : undefined;
  }

  get SSID(): string | undefined {
    return this.state >= 400 ? 'linux-host' : undefined;
  }

  connect(options: { readonly SSID: string; readonly password?: string }): void {
    if (typeof options?.SSID !== 'string' || options.SSID === '') throw new Error('SSID required');
    if (this.state === 300) throw new Error('already connecting');
    this.set(300);
    this.step();
  }

  disconnect(): void {
    this.clear();
    this.state = 200;
  }

  close(): void {
    this.clear();
    stations.delete(this);
  }

  /** The access point went away: a join under way goes on as one that finds none (and fails after NO_AP_MS); an association drops. */
  lost(): void {
    this.clear();
    if (this.state === 300) return this.step();
    if (this.state !== 200) this.set(200);
  }

  private step(): void {
    this.clear();
    if (!present) {
      this.timer = Timer.set(() => {
        this.timer = undefined;
        if (this.state === 300) this.set(200);
      }, NO_AP_MS);
      return;
    }
    this.timer = Timer.set(() => {
      this.timer = undefined;
      if (!present) return this.step();
      if (this.state === 300) {
        this.set(400);
        this.step();
      } else if (this.state === 400) {
        this.set(500);
        this.onChanged?.('address');
      }
    }, STEP_MS);
  }

  private set(state: Connection): void {
    this.state = state;
    this.onChanged?.('connection');
  }

  private clear(): void {
    if (this.timer !== undefined) Timer.clear(this.timer);
    this.timer = undefined;
  }
}
