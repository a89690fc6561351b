// Liveness by rounds. Every round each peer that showed no life since the
// previous round is dropped, and every other peer is marked silent and
// pinged. A pong or any message marks it alive again. So a peer is dropped
// after one to two rounds of silence, which is what lets a half-open socket
// (the far end vanished without a FIN) be noticed at all.
//
// A round that comes much later than planned means this process stalled
// (GC, CPU starvation): the event loop runs timers before the I/O that piled
// up meanwhile, so pongs may be waiting unread. Such a round judges no one;
// it only pings, and the next punctual round decides.

import { CLOSE } from '../../protocol/errors.js';
import type { Peer } from './peer.js';

/** A round this much later than the interval is treated as a stall of ours, not the peers'. */
const LATE_FACTOR = 1.5;

export class Heartbeat {
  private readonly alive = new Map<Peer, boolean>();
  private lastRound: number | undefined;

  constructor(private readonly intervalMs: number) {}

  add(peer: Peer): void {
    this.alive.set(peer, true);
  }

  remove(peer: Peer): void {
    this.alive.delete(peer);
  }

  life(peer: Peer): void {
    if (this.alive.has(peer)) this.alive.set(peer, true);
  }

  get size(): number {
    return this.alive.size;
  }

  round(now: number): void {
    const late = this.lastRound !== undefined && now - this.lastRound > this.intervalMs * LATE_FACTOR;
    this.lastRound = now;
    for (const [peer, alive] of [...this.alive]) {
      if (alive || late) {
        this.alive.set(peer, false);
        peer.ping();
        continue;
      }
      this.alive.delete(peer);
      // The close frame tells a peer that is merely slow why; terminate frees
      // the socket of one that will never answer the closing handshake.
      peer.close(CLOSE.HEARTBEAT.code, CLOSE.HEARTBEAT.text);
      peer.terminate();
    }
  }
}
