// Every bound the server puts on what a peer controls, in one place. Each has
// a default that works on one machine and a test that crosses it.

export interface Limits {
  /** Largest WebSocket message a device may send (devices only send small JSON). Over it: close 1009. */
  maxDeviceFrame: number;
  /** Largest job, in decoded bytes. Over it: JOB_TOO_LARGE. */
  maxJobBytes: number;
  /** Unfinished jobs per printer. At it: QUEUE_FULL. */
  maxQueue: number;
  /**
   * Bytes of the unfinished jobs of one printer (the job data the store holds
   * for it). A job that would take it over: QUOTA_EXCEEDED. Four jobs of the
   * largest size, or a day's receipts many times over.
   */
  maxPrinterQueueBytes: number;
  /**
   * Bytes of the unfinished jobs of every printer together, so that the
   * database stays well below the disk. Over it: QUOTA_EXCEEDED.
   */
  maxQueuedBytes: number;
  /**
   * Bytes of the unfinished jobs one client token submitted, so that one
   * token cannot take the whole of maxQueuedBytes from everyone else. Over
   * it: QUOTA_EXCEEDED. The admin token has no share of its own.
   */
  maxTokenQueueBytes: number;
  /** Bytes the server lets pile up unsent towards one peer before closing it with SLOW_CONSUMER. */
  maxClientBuffer: number;
  /**
   * Errors one device connection may cause (bad input, messages about jobs
   * that never existed); one more closes it with PROTOCOL.
   */
  maxProtocolErrors: number;
  /**
   * Requests one client connection may have in flight (received, not yet
   * answered), on every transport. Beyond it a request is answered
   * RATE_LIMITED at once; the connection stays open.
   */
  maxRequestsInFlight: number;
  /**
   * Messages a second one device connection may send, on average (a token
   * bucket). A bridge sends a few a second; its acks of job data do not
   * count (each data frame sent gives a token back). Beyond it (and
   * deviceMessageBurst) messages are refused with RATE_LIMITED.
   */
  deviceMessageRate: number;
  /**
   * Messages a device may send at once above its rate. As many refused in a
   * row, without the rate letting one through, close it with 4008 RATE_LIMITED.
   */
  deviceMessageBurst: number;
  /** Concurrent client connections. Over it: the upgrade is refused with 503. */
  maxClients: number;
  /** Concurrent device connections. Over it: 503, unless the id is already connected (it replaces itself). */
  maxDevices: number;
  /**
   * Client connections not authenticated yet (Printerlynx /api/v1/ws before its
   * authentication message), across all listeners; they also count towards
   * maxClients. At it, the oldest of them is closed (1013) to make room, as it
   * is for an authenticated client that needs the room.
   */
  maxPreAuthClients: number;
  /** Largest message a connection that has not authenticated yet may send. Over it: close 1009. */
  maxPreAuthFrame: number;
  /**
   * TCP connections of one HTTP listener that have not finished a request
   * head yet, nor over TLS its handshake (slow or idle openers). At it, the
   * oldest of them is dropped.
   */
  maxPendingHttp: number;
  /** A request head must be complete this soon after the connection opens. Over it: 408 and drop. 0: no limit. */
  headersTimeoutMs: number;
  /** A whole HTTP request (head and body) must arrive this soon. Over it: 408 and drop. 0: no limit. */
  requestTimeoutMs: number;
  /** TCP connections one HTTP listener holds, of every kind. Over it: new ones are dropped at once. 0: no cap. */
  maxConnections: number;
  /**
   * Largest JSON message a Weblink printer may send, reassembled from as many
   * WebSocket messages as it split it into (an SGD allconfig answer runs to
   * some 100 KiB). Over it: close 1009.
   */
  maxWeblinkMessage: number;
  /** Sockets one Weblink printer may hold at once (main and channels). Over it: the upgrade gets 503. */
  maxWeblinkConnections: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxDeviceFrame: 64 * 1024,
  maxJobBytes: 16 * 1024 * 1024,
  maxQueue: 1000,
  maxPrinterQueueBytes: 64 * 1024 * 1024,
  maxQueuedBytes: 512 * 1024 * 1024,
  maxTokenQueueBytes: 128 * 1024 * 1024,
  maxClientBuffer: 4 * 1024 * 1024,
  maxProtocolErrors: 20,
  maxRequestsInFlight: 64,
  deviceMessageRate: 500,
  deviceMessageBurst: 200,
  maxClients: 1000,
  maxDevices: 20_000,
  maxPreAuthClients: 100,
  maxPreAuthFrame: 8 * 1024,
  maxPendingHttp: 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  maxConnections: 22_000,
  maxWeblinkMessage: 1024 * 1024,
  maxWeblinkConnections: 8,
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
