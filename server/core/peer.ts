// What the core needs from a connection, and nothing more. The WebSocket
// transports implement it today; an MQTT or Weblink transport implements the
// same verbs, so the core never learns which wire a peer is on.

/**
 * A text that goes alike to many peers (a broadcast). A transport may encode
 * it once for all of them; it keeps that encoding itself, keyed by this object.
 */
export interface SharedText {
  readonly text: string;
}

export interface Peer {
  sendText(text: string): void;
  /** sendText for a text many peers get; without it, the core sends `shared.text`. */
  sendShared?(shared: SharedText): void;
  sendBinary(bytes: Uint8Array): void;
  /** Runs `send`; what it sends may leave in one write to the OS (the data frames of one job pump). */
  batch?(send: () => void): void;
  /** Starts an orderly close; the transport drops the connection itself if the peer does not finish it soon. */
  close(code: number, reason: string): void;
  /** Drops the connection now, for a peer that has stopped answering. */
  terminate(): void;
  /**
   * After close: stops reading from a peer closed for flooding, so that what
   * it keeps sending is not even parsed; the close finishes at the grace.
   */
  stopReading?(): void;
  /** A transport-level liveness probe; the transport reports the answer as life. */
  ping(): void;
  /** Bytes accepted for sending that have not left this process yet. */
  bufferedAmount(): number;
}
