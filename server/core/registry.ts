// Online device sessions by device id. The newest connection of an id wins:
// registering a session returns the one it displaced, and only the current
// session can unregister the id, so a late close of a replaced socket never
// marks a reconnected device offline. A session is known by its id alone,
// so the registry imports nothing of the sessions that use it.

/** What the registry needs of a session. */
export interface Registered {
  readonly id: string;
}

export class Registry<S extends Registered> {
  private readonly sessions = new Map<string, S>();

  /** Makes `session` the current one for its id and returns the one it replaced. */
  register(session: S): S | undefined {
    const old = this.sessions.get(session.id);
    this.sessions.set(session.id, session);
    return old === session ? undefined : old;
  }

  /** Removes the session only if it is still the current one for its id. */
  unregister(session: S): boolean {
    if (this.sessions.get(session.id) !== session) return false;
    this.sessions.delete(session.id);
    return true;
  }

  get(id: string): S | undefined {
    return this.sessions.get(id);
  }

  has(id: string): boolean {
    return this.sessions.has(id);
  }

  all(): IterableIterator<S> {
    return this.sessions.values();
  }

  get size(): number {
    return this.sessions.size;
  }
}
