// The in-process event bus. Each event is encoded once, however many
// listeners receive it; each listener decides for itself whether it wants an
// event (a subscriber wants all, a client that submitted a job wants that
// job's updates).

import { encodeEvent, type ClientEvent } from '../../protocol/client-messages.js';

export interface Listener {
  wants(event: ClientEvent): boolean;
  send(text: string): void;
}

export class EventBus {
  private readonly listeners = new Set<Listener>();

  add(listener: Listener): void {
    this.listeners.add(listener);
  }

  remove(listener: Listener): void {
    this.listeners.delete(listener);
  }

  emit(event: ClientEvent): void {
    let text: string | undefined;
    // A copy, because sending can close a slow listener, which removes it.
    for (const listener of [...this.listeners]) {
      if (!listener.wants(event)) continue;
      text ??= encodeEvent(event);
      listener.send(text);
    }
  }
}
