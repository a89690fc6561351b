// One bound on client connections across every listener (/v1/client,
// Printerlynx /api/v1/ws, the compat listener), so that opening sockets on
// one endpoint cannot push the server past maxClients on another.
//
// A slot is `pending` while its connection has not authenticated (it may only
// send small frames and must log in before a deadline) and `client` after.
//
//   admitPending ──→ pending ── promote ──→ client ── release ──→ (free)
//                       └── evicted (its `evict` runs) or release ──→ (free)
//
// Invariant: pending + clients ≤ maxClients and pending ≤ maxPreAuthClients.
// Pending slots never keep anyone out: when there is no room, the oldest
// pending connection is evicted for an authenticated client and for a newer
// pending one (whose owner most likely logs in within a round trip, while the
// oldest has had the longest to do so). So a flood of idle sockets costs each
// of them a short life, and authenticated users only ever meet maxClients.
// Promotion needs no room: the slot already counts.

import type { Limits } from '../limits.js';

export interface ClientSlot {
  /** Pending → client. */
  promote(): void;
  /** Frees the slot; safe to call more than once. */
  release(): void;
}

export class ClientSlots {
  /** Insertion order is age: the first is the oldest. */
  private readonly pending = new Set<Slot>();
  private clients = 0;
  private readonly owner: SlotOwner = {
    promoted: (slot) => {
      this.pending.delete(slot);
      this.clients++;
    },
    released: (slot, was) => {
      if (was === 'pending') this.pending.delete(slot);
      else this.clients--;
    },
  };

  constructor(private readonly limits: Pick<Limits, 'maxClients' | 'maxPreAuthClients'>) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  get clientCount(): number {
    return this.clients;
  }

  /** A connection that authenticates later; `evict` closes it if its slot is taken back. Undefined: no room. */
  admitPending(evict: () => void): ClientSlot | undefined {
    const { maxClients, maxPreAuthClients } = this.limits;
    if (maxPreAuthClients === 0) return undefined;
    while (this.pending.size >= maxPreAuthClients || this.total() >= maxClients) {
      if (!this.evictOldest()) return undefined;
    }
    const slot = new Slot(this.owner, 'pending', evict);
    this.pending.add(slot);
    return slot;
  }

  /** A connection authenticated in its upgrade. Undefined: maxClients authenticated clients already. */
  admitClient(): ClientSlot | undefined {
    while (this.total() >= this.limits.maxClients) {
      if (!this.evictOldest()) return undefined;
    }
    this.clients++;
    return new Slot(this.owner, 'client', () => {});
  }

  private total(): number {
    return this.pending.size + this.clients;
  }

  private evictOldest(): boolean {
    const oldest = this.pending.values().next();
    if (oldest.done === true) return false;
    oldest.value.evict();
    return true;
  }
}

interface SlotOwner {
  promoted(slot: Slot): void;
  released(slot: Slot, was: 'pending' | 'client'): void;
}

class Slot implements ClientSlot {
  constructor(
    private readonly owner: SlotOwner,
    private state: 'pending' | 'client' | 'free',
    private readonly onEvict: () => void,
  ) {}

  promote(): void {
    if (this.state !== 'pending') return;
    this.state = 'client';
    this.owner.promoted(this);
  }

  release(): void {
    if (this.state === 'free') return;
    const was = this.state;
    this.state = 'free';
    this.owner.released(this, was);
  }

  /** Frees the slot first, so that the room exists before its connection has finished closing. */
  evict(): void {
    this.release();
    this.onEvict();
  }
}
