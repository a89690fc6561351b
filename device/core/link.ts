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
// - Several servers (the server setting may list them; `parseServers`) are
//   tried in turn, round robin. An attempt that fails to reach a stable
//   session (cannot connect, refused, TLS, no welcome, dropped before
//   `stableAfter`) moves on to the next server; a server that works is kept,
//   and a stable session that drops is retried there first. Within a cycle
//   (one failed attempt at each server) the next server goes after a short
//   jittered wait, [0, backoffBase), that never grows; a whole cycle of
//   failures backs off as one failure does with one server, so N servers
//   are never hammered in a loop. With one server every failure ends a
//   cycle: the rule is the single-server one.
// - A server that refuses the upgrade itself (HTTP 401/403: a device not
//   registered yet, or a wrong token) is retried from the widest backoff
//   window: a person may still register the device, so it never gives up.
//   With several servers the refusal also ends the cycle: the next server
//   (which may know the device) is tried after that widest wait.
// - `stopped` is final: the server closed with a code its table marks as not
//   to be retried (REPLACED: a twin with our id took over; REVOKED), or it
//   speaks another major version. Coming back would only fight the twin or
//   repeat the refusal, so the link waits for the host to start a new core
//   (whatever the host calls a restart).
// - Heartbeat: liveness is application level, so it works the same through
//   any WebSocket client and any proxy. We ping when nothing has arrived for
//   `pingInterval` (at most once per interval: what we send proves nothing
//   about the server, so a device busy sending still pings), and give up when
//   nothing at all arrived for `deadAfter`.
// - Diagnosis: every failure is given a cause (LinkCause in types.ts) from
//   what the host saw (close code, HTTP status of a refused upgrade, the
//   socket failure) and the state it happened in, and one line for a person
//   saying what to do, naming the server tried. `problem` keeps the last one
//   for status answers. The line is logged at once when a cause first
//   appears at a server, then at most once per `REPEAT_AFTER` per cause and
//   server while failures go on, with the attempt count,
//   so a bridge that cannot get in says why without a line per attempt. A
//   stable session (the same rule that resets the attempt counter) starts
//   the counting over.

import { CLOSE, closeName, UPGRADE_REFUSAL, type CloseName } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { backoffDelay, WIDEST_ATTEMPT } from './backoff.js';
import type { DeviceEffect, DeviceEvent, LinkCause, LinkProblem, LinkState, LinkTimings, LogLevel } from './types.js';

export const DEFAULT_TIMINGS: LinkTimings = {
  firstWindow: 1000,
  backoffBase: 1000,
  backoffCap: 30_000,
  stableAfter: 30_000,
  connectTimeout: 15_000,
  helloTimeout: 10_000,
  pingInterval: 15_000,
  deadAfter: 40_000,
};

/** A cause that goes on is logged again at most this often (core clock, ms). */
export const REPEAT_AFTER = 60_000;

export interface LinkTarget {
  /** The servers' base URLs, tried in turn; never empty. */
  servers(): readonly string[];
  /** The device endpoint at one of them. */
  url(server: string): string;
  token(): string;
  /** The device id, for messages to a person. */
  id(): string;
}

export type SocketClosed = Omit<Extract<DeviceEvent, { type: 'ws.closed' }>, 'type'>;

/** A failure's cause and the facts behind it (the parenthesis of its message). */
interface Diagnosis {
  readonly cause: LinkCause;
  readonly detail: string;
}

export class Link {
  state: LinkState = 'offline';
  attempt = 0;
  /** Why the link last failed; kept after it comes back, until the next failure. */
  problem: LinkProblem | undefined;
  /** Failed attempts since the link was last stable online. */
  private failures = 0;
  /** When each cause was first and last logged at each server in this run of failures. */
  private readonly told = new Map<string, { first: number; last: number }>();
  /** Which of the servers the link tries or uses now. */
  private current = 0;
  /** Servers that failed in this cycle. */
  private cycleFailures = 0;
  private deadline: number | undefined;
  private onlineSince = 0;
  private lastRx = 0;
  private lastPing = 0;
  private network = false;
  /** The network came up once since start: later waits are backoffs. */
  private started = false;

  constructor(
    private readonly t: LinkTimings,
    private readonly random: () => number,
    private readonly target: LinkTarget,
  ) {}

  /** The base URL of the server tried or used now. */
  get server(): string {
    const servers = this.target.servers();
    return servers[this.current % servers.length] ?? '';
  }

  get open(): boolean {
    return this.state === 'handshaking' || this.state === 'online';
  }

  networkChanged(up: boolean, now: number, out: DeviceEffect[]): void {
    if (up === this.network) return;
    this.network = up;
    if (this.state === 'stopped') return;
    if (up) {
      this.wait(now, this.started ? 'backoff' : 'first');
      this.started = true;
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
   * The host says the socket is gone: the close code, the HTTP status of a
   * refused upgrade or the socket failure says why, and whether to come back.
   * A refusal of our credentials (HTTP 401/403: not registered yet, or a
   * wrong token) waits in the widest backoff window. Returns false when the
   * report is stale (we had dropped the socket already).
   */
  closed(e: SocketClosed, now: number, out: DeviceEffect[]): boolean {
    if (!this.socketExists()) return false;
    const name = e.code === undefined ? undefined : closeName(e.code);
    if (name !== undefined && !CLOSE[name].retry) {
      this.stop(finalDiagnosis(name), now, out);
      return true;
    }
    const d = this.diagnose(e);
    if (d.cause === 'unauthorized') this.attempt = Math.max(this.attempt, WIDEST_ATTEMPT);
    this.fail(now, d, out);
    return true;
  }

  /** The server's welcome names another major version: close with VERSION and stop. */
  wrongVersion(detail: string, now: number, out: DeviceEffect[]): void {
    if (!this.socketExists()) return;
    out.push({ type: 'ws.close', code: CLOSE.VERSION.code, reason: detail });
    this.stop({ cause: 'version', detail: `${detail}; closed with ${CLOSE.VERSION.code} VERSION` }, now, out);
  }

  /** We give up on the current socket ourselves. */
  drop(now: number, code: number, reason: string, d: Diagnosis, out: DeviceEffect[]): void {
    if (!this.socketExists()) return;
    out.push({ type: 'ws.close', code, reason });
    this.fail(now, d, out);
  }

  /** Drop the socket and come back at once, e.g. after the server URL or token changed. */
  restart(now: number, why: string, out: DeviceEffect[]): void {
    if (this.state === 'stopped') return;
    if (this.socketExists()) out.push({ type: 'ws.close', code: CLOSE.NORMAL.code, reason: why });
    this.settle();
    this.current = 0;
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
          out.push({ type: 'ws.connect', url: this.target.url(this.server), token: this.target.token() });
        }
        break;
      case 'connecting':
        if (this.deadline !== undefined && now >= this.deadline) {
          this.drop(now, CLOSE.NORMAL.code, 'connect timeout', { cause: 'unreachable', detail: `no answer in ${seconds(this.t.connectTimeout)}` }, out);
        }
        break;
      case 'handshaking':
        if (this.deadline !== undefined && now >= this.deadline) {
          this.drop(now, CLOSE.HELLO_TIMEOUT.code, 'no welcome from server', { cause: 'no-welcome', detail: `no welcome in ${seconds(this.t.helloTimeout)}` }, out);
        }
        break;
      case 'online':
        if (this.attempt > 0 && now - this.onlineSince >= this.t.stableAfter) this.settle();
        if (now - this.lastRx >= this.t.deadAfter) {
          this.drop(now, CLOSE.HEARTBEAT.code, 'server silent', { cause: 'dropped', detail: `the server fell silent for ${seconds(this.t.deadAfter)}` }, out);
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

  /**
   * The one failure funnel: count it, say why (rate-limited), pick the
   * server for the next attempt and wait for it. A stable session that ends
   * is retried at its server; any other failure moves on to the next one.
   */
  private fail(now: number, d: Diagnosis, out: DeviceEffect[]): void {
    const stable = this.state === 'online' && now - this.onlineSince >= this.t.stableAfter;
    if (stable) this.settle();
    this.report(d, now, out, false);
    if (stable) return this.wait(now);
    const count = this.target.servers().length;
    this.current = (this.current + 1) % count;
    this.cycleFailures += 1;
    if (this.cycleFailures < count && d.cause !== 'unauthorized') return this.wait(now, 'next');
    this.cycleFailures = 0;
    this.wait(now);
  }

  /** Gives up for good; only a new core connects again. */
  private stop(d: Diagnosis, now: number, out: DeviceEffect[]): void {
    this.state = 'stopped';
    this.deadline = undefined;
    this.report(d, now, out, true);
  }

  /** The failures going on now (none since the link last proved stable) include a refusal only a person can fix. */
  refused(): boolean {
    return this.failures > 0 && this.problem !== undefined && needsPerson(this.problem.cause);
  }

  /** The link proved stable (or was told to start over): backoff and complaints count from zero. */
  private settle(): void {
    this.attempt = 0;
    this.failures = 0;
    this.cycleFailures = 0;
    this.told.clear();
  }

  private report(d: Diagnosis, now: number, out: DeviceEffect[], final: boolean): void {
    this.failures += 1;
    const message = `${this.explain(d)}; ${final ? 'not reconnecting until restarted' : 'retrying'}`;
    this.problem = { cause: d.cause, message, attempts: this.failures };
    const key = `${d.cause} ${this.server}`;
    const told = this.told.get(key);
    if (told === undefined) {
      this.told.set(key, { first: now, last: now });
      out.push({ type: 'log', level: levelOf(d.cause), message });
    } else if (final || now - told.last >= REPEAT_AFTER) {
      told.last = now;
      out.push({ type: 'log', level: levelOf(d.cause), message: `${message} (attempt ${this.failures}, failing for ${minutes(now - told.first)})` });
    }
  }

  /** What the host saw, read in the light of how far the attempt got. */
  private diagnose(e: SocketClosed): Diagnosis {
    const status = e.status;
    if (status !== undefined) {
      if (status === UPGRADE_REFUSAL.UNAUTHORIZED || status === UPGRADE_REFUSAL.FORBIDDEN) return { cause: 'unauthorized', detail: `HTTP ${status}` };
      return { cause: status >= 500 ? 'server-error' : 'rejected', detail: `HTTP ${status}` };
    }
    const reason = clip(e.reason ?? '');
    if (e.cause === 'tls') return { cause: 'tls', detail: reason || 'handshake failed' };
    if (this.state === 'connecting') return { cause: 'unreachable', detail: failureText(e.cause, reason) };
    if (e.code === CLOSE.INTERNAL.code) return { cause: 'server-error', detail: closeText(e.code, reason) };
    return { cause: 'dropped', detail: e.code === undefined ? reason || 'socket closed' : closeText(e.code, reason) };
  }

  /** One line: what happened, the facts, what to do. Retrying or not is added by `report`. */
  private explain(d: Diagnosis): string {
    const server = this.server;
    const id = this.target.id();
    const add = `"printbridge devices add ${id}"`;
    switch (d.cause) {
      case 'unauthorized':
        return `the server refused device ${id} (${d.detail}: unknown id or wrong token): check the id and the token, or register the device with ${add} on the server at ${server}`;
      case 'unreachable':
        return `cannot reach the server at ${server} (${d.detail}): check the server address and that the server is running`;
      case 'tls':
        return `TLS with the server at ${server} failed (${d.detail}): check the server's certificate and the device's clock, or use ws:// for a server without TLS`;
      case 'rejected':
        return `the server at ${server} answered ${d.detail} instead of taking the device connection: check that the address is a printbridge server's (ws://HOST:PORT) and that the id is 1-64 letters, digits, '.', '_' or '-'`;
      case 'server-error':
        return `the server at ${server} is failing (${d.detail}): it may be full, restarting or broken; see its log`;
      case 'no-welcome':
        return `the server at ${server} took the connection but sent ${d.detail}: check that the address is a printbridge server's`;
      case 'dropped':
        return `lost the connection to the server at ${server} (${d.detail})`;
      case 'version':
        return `the server at ${server} and this device speak different protocol versions (${d.detail}): update the older of the two`;
      case 'replaced':
        return `another device with id ${id} connected to the server and replaced this one (${d.detail}): two bridges share this id; give each its own ("printbridge devices add NEW-ID"); this one was at ${server}`;
      case 'revoked':
        return `the server at ${server} revoked device ${id} (${d.detail}: it was removed): register it again with ${add} and give the device the new token`;
      default:
        return d.cause satisfies never;
    }
  }

  /**
   * `first`: the first connection after start (firstWindow); `next`: the
   * next server within a cycle, in the first backoff window, which does not
   * grow; otherwise the backoff of the attempt count, which does.
   */
  private wait(now: number, kind: 'first' | 'next' | 'backoff' = 'backoff'): void {
    const delay = kind === 'first' ? Math.floor(this.random() * this.t.firstWindow)
      : backoffDelay(kind === 'next' ? 0 : this.attempt, this.t.backoffBase, this.t.backoffCap, this.random);
    if (kind !== 'next') this.attempt += 1;
    this.state = 'backoff';
    this.deadline = now + delay;
  }
}

function finalDiagnosis(name: CloseName): Diagnosis {
  const detail = `close ${CLOSE[name].code} ${name}`;
  switch (name) {
    case 'REPLACED':
      return { cause: 'replaced', detail };
    case 'REVOKED':
      return { cause: 'revoked', detail };
    case 'VERSION':
      return { cause: 'version', detail: `${detail}: the server does not take protocol ${PROTOCOL_VERSION[0]}.${PROTOCOL_VERSION[1]}` };
    default:
      return { cause: 'dropped', detail: `${detail}: ${CLOSE[name].text}` };
  }
}

/** What passes by itself (a server restarting, a cut cable) needs no person; a refusal, a bad certificate, another version do. */
export function needsPerson(cause: LinkCause): boolean {
  return !(cause === 'unreachable' || cause === 'server-error' || cause === 'no-welcome' || cause === 'dropped');
}

function levelOf(cause: LinkCause): LogLevel {
  return needsPerson(cause) ? 'error' : 'warn';
}

function failureText(cause: SocketClosed['cause'], reason: string): string {
  switch (cause) {
    case 'refused':
      return 'connection refused: nothing listens there';
    case 'dns':
      return 'host name not found';
    case 'timeout':
      return 'no answer';
    case 'unreachable':
      return 'no route to the host';
    case 'tls':
    case undefined:
      return reason || 'connection failed';
    default:
      return cause satisfies never;
  }
}

function closeText(code: number, reason: string): string {
  const name = closeName(code);
  if (name !== undefined) return `close ${code} ${name}: ${CLOSE[name].text}`;
  if (code === 1006) return reason ? `cut off: ${reason}` : 'cut off without a close frame';
  return reason ? `close ${code}: ${reason}` : `close ${code}`;
}

/** Host error texts and peer close reasons can be long; a log line stays one line. */
function clip(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

function minutes(ms: number): string {
  return ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}

/**
 * The server setting: one string naming one server or several, separated
 * by spaces and/or commas ("wss://a.example wss://b.example"). One string,
 * because the firmware keeps settings as short NVS strings. No URL class:
 * XS builds for the ESP32 carry none.
 */
export interface ServerList {
  /** The ws:// and wss:// base URLs, in the order given, without a trailing slash. */
  readonly urls: readonly string[];
  /** Entries that are not such a URL, as given. */
  readonly bad: readonly string[];
}

export function parseServers(setting: string): ServerList {
  // Made here, not at module level: this module is preloaded into flash on XS, where a RegExp cannot live.
  const baseUrl = /^wss?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(:\d{1,5})?(\/[^\s?#]*)?$/i;
  const urls: string[] = [];
  const bad: string[] = [];
  for (const entry of setting.split(/[\s,]+/)) {
    if (entry === '') continue;
    const m = baseUrl.exec(entry);
    const port = m?.[2] === undefined ? 1 : Number(m[2].slice(1));
    if (m === null || port < 1 || port > 65535) bad.push(entry);
    else urls.push(entry.replace(/\/+$/, ''));
  }
  return { urls, bad };
}

/** Why `setting` cannot be used, naming the first bad entry; undefined when it lists at least one server and nothing else. */
export function serversProblem(setting: string): string | undefined {
  const { urls, bad } = parseServers(setting);
  const form = 'ws://HOST[:PORT] or wss://HOST[:PORT], several separated by spaces or commas';
  if (bad[0] !== undefined) return `${JSON.stringify(bad[0].slice(0, 64))} is not a server URL (${form})`;
  if (urls.length === 0) return `no server URL given (${form})`;
  return undefined;
}
