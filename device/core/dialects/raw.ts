// Raw: bytes go to the port as they come. No status channel and no
// confirmation: a raw job is done when its last byte went to the port, that
// is, was handed to the host's port (a UART FIFO, a socket's send buffer)
// on the printer session that took all the others. It proves nothing about
// the printer: bytes still in those buffers when the connection drops are
// lost after job.done, and a later session loss does not undo it. A session
// lost mid-job (some bytes handed over, not all) fails it JOB_INTERRUPTED in
// the spool; raw has no silence to detect, so on a serial line only the
// host's port state ends a session. `printer.command` writes its data
// between jobs.

import { commandBetweenJobs, type CommandResult, type Dialect, type JobFeed, type Verdict } from './dialect.js';

export class Raw implements Dialect {
  readonly confirms = false;
  readonly status = undefined;
  readonly answering = false;
  readonly results: CommandResult[] = [];
  private own: Uint8Array | undefined;

  begin(): void {}
  end(): void {}
  input(): void {}
  link(): void {
    this.own = undefined;
  }

  write(room: number, feed: JobFeed | undefined): Uint8Array | undefined {
    const own = this.own;
    if (own !== undefined) {
      if (own.length > room) return undefined;
      this.own = undefined;
      return own;
    }
    if (feed === undefined || room <= 0 || feed.length === 0) return undefined;
    return feed.take(room);
  }

  verdict(sent: boolean): Verdict | undefined {
    return sent ? { ok: true } : undefined;
  }

  command(ref: string, data: string, _emergency: boolean, busy: boolean): void {
    this.own = commandBetweenJobs(this.results, ref, data, busy, this.own !== undefined) ?? this.own;
  }

  deadline(): undefined {
    return undefined;
  }
}
