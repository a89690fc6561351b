// The in-process event bus. Each event is encoded once, however many
// listeners receive it; each listener decides for itself whether it wants an
// event (a subscriber wants all, a client that submitted a job wants that
// job's updates). Emitting never throws: whoever emits is in the middle of
// something else (a device's message, a control report), and one listener
// that fails, or an event that cannot be encoded, must not break that or
// keep the event from the other listeners; `failed` hears of it.

import { encodeEvent, type ClientEvent } from '../../protocol/client-messages.js';

export interface Listener {
  wants(event: ClientEvent): boolean;
  send(text: string): void;
}

export class EventBus {
  private readonly listeners = new Set<Listener>();

  constructor(private readonly failed: (error: unknown, event: ClientEvent['event']) => void = () => undefined) {}

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
      try {
        if (!listener.wants(event)) continue;
      } catch (e) {
        this.failed(e, event.event);
        continue;
      }
      if (text === undefined) {
        try {
          text = encodeEvent(event);
        } catch (e) {
          this.failed(e, event.event);
          return;
        }
      }
      try {
        listener.send(text);
      } catch (e) {
        this.failed(e, event.event);
      }
    }
  }
}
