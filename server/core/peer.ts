// What the core needs from a connection, and nothing more. The WebSocket
// transports implement it today; an MQTT or Weblink transport implements the
// same verbs, so the core never learns which wire a peer is on.

export interface Peer {
  sendText(text: string): void;
  sendBinary(bytes: Uint8Array): void;
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
