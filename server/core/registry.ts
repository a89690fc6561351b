// Online device sessions by device id. The newest connection of an id wins:
// registering a session returns the one it displaced, and only the current
// session can unregister the id, so a late close of a replaced socket never
// marks a reconnected device offline.

import type { DeviceSession } from './device-session.js';

export class Registry {
  private readonly sessions = new Map<string, DeviceSession>();

  /** Makes `session` the current one for its id and returns the one it replaced. */
  register(session: DeviceSession): DeviceSession | undefined {
    const old = this.sessions.get(session.id);
    this.sessions.set(session.id, session);
    return old === session ? undefined : old;
  }

  /** Removes the session only if it is still the current one for its id. */
  unregister(session: DeviceSession): boolean {
    if (this.sessions.get(session.id) !== session) return false;
    this.sessions.delete(session.id);
    return true;
  }

  get(id: string): DeviceSession | undefined {
    return this.sessions.get(id);
  }

  has(id: string): boolean {
    return this.sessions.has(id);
  }

  all(): IterableIterator<DeviceSession> {
    return this.sessions.values();
  }

  get size(): number {
    return this.sessions.size;
  }
}
