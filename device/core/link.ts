// The connection to the server as one state machine.
//
//   offline ──network up──▶ backoff ──deadline──▶ connecting ──ws.open──▶ handshaking
//      ▲                      ▲  ▲                     │ timeout              │ welcome
//      │                      │  └─────────────────────┴──────────┐          ▼
//      └──network down── (any state)             closed / timeout / dead ◀── online
//
// - A new socket per attempt; after we close one, we forget it at once (the
//   host reports nothing more of it), so a half-dead socket cannot hold us.
// - Every failure goes through one funnel, `fail`, which picks the next
//   backoff wait: uniform in [0, min(cap, base·2^attempt)) (backoff.ts).
// - The attempt counter resets only after the link stayed online for
//   `stableAfter`: a server that accepts and then drops us keeps backing off.
// - Heartbeat: the ESP32 WebSocket client can neither send pings nor see
//   pongs, so liveness is application level. We ping when we have sent
//   nothing for `pingInterval`, and give up when nothing at all arrived for
//   `deadAfter`.

import { CLOSE } from '../../protocol/errors.js';
import { backoffDelay } from './backoff.js';
import type { DeviceEffect, LinkState, LinkTimings } from './types.js';

export const DEFAULT_TIMINGS: LinkTimings = {
  backoffBase: 1000,
  backoffCap: 30_000,
  stableAfter: 30_000,
  connectTimeout: 15_000,
  helloTimeout: 10_000,
  pingInterval: 15_000,
  deadAfter: 40_000,
};

export interface LinkTarget {
  url(): string;
  token(): string;
}

export class Link {
  state: LinkState = 'offline';
  attempt = 0;
  /** Why the last socket ended, for status and logs. */
  lastFailure = '';
  private deadline: number | undefined;
  private onlineSince = 0;
  private lastRx = 0;
  private lastTx = 0;
  private network = false;

  constructor(
    private readonly t: LinkTimings,
    private readonly random: () => number,
    private readonly target: LinkTarget,
  ) {}

  get open(): boolean {
    return this.state === 'handshaking' || this.state === 'online';
  }

  networkChanged(up: boolean, now: number, out: DeviceEffect[]): void {
    if (up === this.network) return;
    this.network = up;
    if (up) {
      this.wait(now);
    } else {
      if (this.socketExists()) out.push({ type: 'ws.close', code: CLOSE.GOING_AWAY.code, reason: 'network down' });
      this.state = 'offline';
      this.deadline = undefined;
    }
  }

  /** The socket opened: the caller sends hello now. Returns false if the event is stale. */
  opened(now: number): boolean {
    if (this.state !== 'connecting') return false;
    this.state = 'handshaking';
    this.deadline = now + this.t.helloTimeout;
    this.lastRx = now;
    this.lastTx = now;
    return true;
  }

  welcomed(now: number): boolean {
    if (this.state !== 'handshaking') return false;
    this.state = 'online';
    this.deadline = undefined;
    this.onlineSince = now;
    this.lastRx = now;
    return true;
  }

  /** The host says the socket is gone. */
  closed(now: number, why: string): void {
    if (!this.socketExists()) return;
    this.fail(now, why);
  }

  /** We give up on the current socket ourselves. */
  drop(now: number, code: number, why: string, out: DeviceEffect[]): void {
    if (!this.socketExists()) return;
    out.push({ type: 'ws.close', code, reason: why });
    this.fail(now, why);
  }

  /** Drop the socket and come back at once, e.g. after the server URL or token changed. */
  restart(now: number, why: string, out: DeviceEffect[]): void {
    if (this.socketExists()) out.push({ type: 'ws.close', code: CLOSE.NORMAL.code, reason: why });
    this.attempt = 0;
    if (!this.network) return;
    this.state = 'backoff';
    this.deadline = now;
  }

  received(now: number): void {
    this.lastRx = now;
  }

  sent(now: number): void {
    this.lastTx = now;
  }

  tick(now: number, out: DeviceEffect[], ping: () => void): void {
    switch (this.state) {
      case 'backoff':
        if (this.deadline !== undefined && now >= this.deadline) {
          this.state = 'connecting';
          this.deadline = now + this.t.connectTimeout;
          out.push({ type: 'ws.connect', url: this.target.url(), token: this.target.token() });
        }
        break;
      case 'connecting':
        if (this.deadline !== undefined && now >= this.deadline) this.drop(now, CLOSE.NORMAL.code, 'connect timeout', out);
        break;
      case 'handshaking':
        if (this.deadline !== undefined && now >= this.deadline) this.drop(now, CLOSE.HELLO_TIMEOUT.code, 'no welcome from server', out);
        break;
      case 'online':
        if (this.attempt > 0 && now - this.onlineSince >= this.t.stableAfter) this.attempt = 0;
        if (now - this.lastRx >= this.t.deadAfter) {
          this.drop(now, CLOSE.HEARTBEAT.code, 'server silent', out);
        } else if (now - this.lastTx >= this.t.pingInterval) {
          ping();
        }
        break;
      case 'offline':
        break;
    }
  }

  nextDeadline(): number | undefined {
    if (this.state === 'online') {
      const times = [this.lastRx + this.t.deadAfter, this.lastTx + this.t.pingInterval];
      if (this.attempt > 0) times.push(this.onlineSince + this.t.stableAfter);
      return Math.min(...times);
    }
    return this.deadline;
  }

  private socketExists(): boolean {
    return this.state === 'connecting' || this.state === 'handshaking' || this.state === 'online';
  }

  private fail(now: number, why: string): void {
    if (this.state === 'online' && now - this.onlineSince >= this.t.stableAfter) this.attempt = 0;
    this.lastFailure = why;
    this.wait(now);
  }

  private wait(now: number): void {
    const delay = backoffDelay(this.attempt, this.t.backoffBase, this.t.backoffCap, this.random);
    this.attempt += 1;
    this.state = 'backoff';
    this.deadline = now + delay;
  }
}
