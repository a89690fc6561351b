// Every bound the server puts on what a peer controls, in one place. Each has
// a default that works on one machine and a test that crosses it.

export interface Limits {
  /** Largest WebSocket message a device may send (devices only send small JSON). Over it: close 1009. */
  maxDeviceFrame: number;
  /** Largest job, in decoded bytes. Over it: JOB_TOO_LARGE. */
  maxJobBytes: number;
  /** Unfinished jobs per printer. At it: QUEUE_FULL. */
  maxQueue: number;
  /** Bytes the server lets pile up unsent towards one peer before closing it with SLOW_CONSUMER. */
  maxClientBuffer: number;
  /** Peer-blamed errors one device connection may cause; one more closes it with PROTOCOL. */
  maxProtocolErrors: number;
  /** Concurrent client connections. Over it: the upgrade is refused with 503. */
  maxClients: number;
  /** Concurrent device connections. Over it: 503, unless the id is already connected (it replaces itself). */
  maxDevices: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxDeviceFrame: 64 * 1024,
  maxJobBytes: 16 * 1024 * 1024,
  maxQueue: 1000,
  maxClientBuffer: 4 * 1024 * 1024,
  maxProtocolErrors: 20,
  maxClients: 1000,
  maxDevices: 10000,
});

export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const value = partial[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`limits.${key} must be a non-negative integer, got ${value}`);
    limits[key] = value;
  }
  return limits;
}

/**
 * A client frame must hold a whole job.submit: the job in base64 (4 bytes per
 * 3) plus room for the JSON around it.
 */
export function clientFrameLimit(limits: Limits): number {
  return Math.ceil((limits.maxJobBytes * 4) / 3) + 64 * 1024;
}
