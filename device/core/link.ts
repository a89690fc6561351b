// The connection to the server as one state machine.
//
//   offline ──network up──▶ backoff ──deadline──▶ connecting ──ws.open──▶ handshaking
//      ▲                      ▲  ▲                     │ timeout              │ welcome
//      │                      │  └─────────────────────┴──────────┐          ▼
//      └──network down── (any state)             closed / timeout / dead ◀── online
//
//   connecting / handshaking / online ──REPLACED, REVOKED, VERSION──▶ stopped
//
// - A new socket per attempt; after we close one, we forget it at once (the
//   host reports nothing more of it), so a half-dead socket cannot hold us.
// - Every failure goes through one funnel, `fail`, which picks the next
//   backoff wait: uniform in [0, min(cap, base·2^attempt)) (backoff.ts).
// - The attempt counter resets only after the link stayed online for
//   `stableAfter`: a server that accepts and then drops us keeps backing off.
// - A server that refuses the upgrade itself (HTTP 401/403: a device not
//   registered yet, or a wrong token) is retried from the widest backoff
//   window: a person may still register the device, so it never gives up.
// - `stopped` is final: the server closed with a code its table marks as not
//   to be retried (REPLACED: a twin with our id took over; REVOKED), or it
//   speaks another major version. Coming back would only fight the twin or
//   repeat the refusal, so the link waits for a new core: a restart, the
//   firmware's offline watchdog, or a restart of the bridge process.
// - Heartbeat: liveness is application level, so it works the same through
//   any WebSocket client and any proxy. We ping when nothing has arrived for
//   `pingInterval` (at most once per interval: what we send proves nothing
//   about the server, so a device busy sending still pings), and give up when
//   nothing at all arrived for `deadAfter`.

import { CLOSE } from '../../protocol/errors.js';
import { backoffDelay, WIDEST_ATTEMPT } from './backoff.js';
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
  private lastPing = 0;
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
    if (this.state === 'stopped') return;
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
    this.lastPing = now;
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

  /**
   * The host says the socket is gone. `refused`: the server turned the
   * upgrade down (HTTP 401/403), so the next try waits in the widest backoff
   * window. Returns false when the report is stale (we had dropped it already).
   */
  closed(now: number, why: string, refused = false): boolean {
    if (!this.socketExists()) return false;
    if (refused) this.attempt = Math.max(this.attempt, WIDEST_ATTEMPT);
    this.fail(now, why);
    return true;
  }

  /**
   * Gives up for good: closes the socket with `code` when we still hold one
   * (none when the server closed it), and connects no more. Returns false
   * when there was no socket, i.e. the report is stale.
   */
  stop(why: string, out: DeviceEffect[], code?: number): boolean {
    if (!this.socketExists()) return false;
    if (code !== undefined) out.push({ type: 'ws.close', code, reason: why });
    this.state = 'stopped';
    this.deadline = undefined;
    this.lastFailure = why;
    return true;
  }

  /** We give up on the current socket ourselves. */
  drop(now: number, code: number, why: string, out: DeviceEffect[]): void {
    if (!this.socketExists()) return;
    out.push({ type: 'ws.close', code, reason: why });
    this.fail(now, why);
  }

  /** Drop the socket and come back at once, e.g. after the server URL or token changed. */
  restart(now: number, why: string, out: DeviceEffect[]): void {
    if (this.state === 'stopped') return;
    if (this.socketExists()) out.push({ type: 'ws.close', code: CLOSE.NORMAL.code, reason: why });
    this.attempt = 0;
    if (!this.network) return;
    this.state = 'backoff';
    this.deadline = now;
  }

  received(now: number): void {
    this.lastRx = now;
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
        } else if (now - this.lastRx >= this.t.pingInterval && now - this.lastPing >= this.t.pingInterval) {
          this.lastPing = now;
          ping();
        }
        break;
      case 'offline':
      case 'stopped':
        break;
      default:
        this.state satisfies never;
    }
  }

  nextDeadline(): number | undefined {
    if (this.state === 'online') {
      const times = [this.lastRx + this.t.deadAfter, Math.max(this.lastRx, this.lastPing) + this.t.pingInterval];
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
