// One copy of each of the few distinct values a fleet repeats: most devices
// of a kind report the same ports, and a server holding 20,000 of them need
// not hold 20,000 equal arrays and strings. Bounded: a peer chooses what it
// reports, so past `max` distinct keys values are kept as they come.

export class Interned<T> {
  private readonly byKey = new Map<string, T>();

  constructor(private readonly max: number) {}

  /** The value kept for `key`, or `value` (kept for it when there is room). */
  of(key: string, value: T): T {
    const kept = this.byKey.get(key);
    if (kept !== undefined) return kept;
    if (this.byKey.size < this.max) this.byKey.set(key, value);
    return value;
  }
}
