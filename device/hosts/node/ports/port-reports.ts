// What every printer port tells its listeners the same way, whatever carries
// it: a state only when it differs from the last one told (a port that
// re-checks its printer often would otherwise repeat itself), and room once
// per turn of the event loop, only while the port is open (a burst of writes
// and flushes is one figure, and a closed port's room is the 0 told when it
// closed).

import type { PortLinkState } from './printer-port.js';

export class PortReports {
  writable: (room: number) => void = () => {};
  state: (state: PortLinkState, detail?: string) => void = () => {};
  private last: { readonly state: PortLinkState; readonly detail: string | undefined } | undefined;
  private roomQueued = false;

  constructor(private readonly port: { readonly isOpen: boolean; room(): number }) {}

  setState(state: PortLinkState, detail?: string): void {
    if (this.last?.state === state && this.last.detail === detail) return;
    this.last = { state, detail };
    this.state(state, detail);
  }

  room(): void {
    if (this.roomQueued) return;
    this.roomQueued = true;
    queueMicrotask(() => {
      this.roomQueued = false;
      if (this.port.isOpen) this.writable(this.port.room());
    });
  }
}
