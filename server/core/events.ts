// The in-process event bus. Each event is encoded once, however many
// listeners receive it; each listener decides for itself whether it wants an
// event (a subscriber wants all, a client that submitted a job wants that
// job's updates). Emitting never throws: whoever emits is in the middle of
// something else (a device's message, a control report), and one listener
// that fails, or an event that cannot be encoded, must not break that or
// keep the event from the other listeners; `failed` hears of it.

import { encodeEvent, type ClientEvent } from '../../protocol/client-messages.js';

export interface Listener {
  /** Whether an event of this kind could interest it at all; asked before such an event is built. */
  hears(kind: ClientEvent['event']): boolean;
  wants(event: ClientEvent): boolean;
  /** `text` is `event` encoded, once for every listener. */
  send(text: string, event: ClientEvent): void;
  /**
   * Set by a listener that reads the event itself, not its text (the MQTT
   * link): it gets the event instead of `send`, and the bus encodes no text
   * for it, which on every job's progress nobody else may want.
   */
  readsEvents?: true;
}

export class EventBus {
  private readonly listeners = new Set<Listener>();

  /** `failed` names the event's kind. */
  constructor(private readonly failed: (error: unknown, event: ClientEvent['event']) => void = () => undefined) {}

  add(listener: Listener): void {
    this.listeners.add(listener);
  }

  remove(listener: Listener): void {
    this.listeners.delete(listener);
  }

  /**
   * An event that costs something to build (a view can cost a store read):
   * `build` runs once, and only when a listener hears its kind, so a storm
   * of devices going online costs nothing while nobody follows them.
   */
  emitHeard(kind: ClientEvent['event'], build: () => ClientEvent): void {
    let heard = false;
    for (const listener of this.listeners) {
      if (listener.hears(kind)) {
        heard = true;
        break;
      }
    }
    if (!heard) return;
    let event: ClientEvent;
    try {
      event = build();
    } catch (e) {
      this.failed(e, kind);
      return;
    }
    this.emit(event);
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
      if (listener.readsEvents === true) {
        try {
          listener.send('', event);
        } catch (e) {
          this.failed(e, event.event);
        }
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
        listener.send(text, event);
      } catch (e) {
        this.failed(e, event.event);
      }
    }
  }
}
