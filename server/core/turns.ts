// Expensive work taken in turn. A subscribe snapshot or a long list costs
// milliseconds of the one thread every connection shares; run as it arrives,
// one connection that asks for thousands at once holds everyone else (and
// /healthz) until all are done. Here each owner (a connection) has a queue,
// owners take one task each in rotation, and every task runs on a fresh turn
// of the event loop, so whatever else is waiting (other connections,
// /healthz, devices) is served between two tasks.
//
// An owner's request that repeats the last one still queued shares its
// answer rather than queueing the same work again: a burst of subscribes
// costs one snapshot. Work whose owner went away before its turn is not
// done at all: a client that queues a burst and hangs up, again and again,
// would otherwise keep the line full of answers nobody reads.

export type Defer = (fn: () => void) => void;

/** What work skipped for an owner that went away rejects with. */
export const GONE = new Error('the caller went away before its turn');

interface Task {
  readonly key: string;
  readonly run: () => void;
  readonly done: Promise<unknown>;
}

export class Turns {
  /** Owners in the order they get their next turn; Map keeps insertion order. */
  private readonly queues = new Map<object, Task[]>();
  private scheduled = false;

  constructor(private readonly defer: Defer) {}

  /** Runs `work` on `owner`'s next turn, unless `wanted` says no by then (it rejects with GONE); `key` names the work, for sharing it. */
  take<T>(owner: object, key: string, work: () => T, wanted: () => boolean = () => true): Promise<T> {
    const queue = this.queues.get(owner);
    const last = queue?.at(-1);
    if (last !== undefined && last.key === key) return last.done as Promise<T>;
    let run: () => void = () => undefined;
    const done = new Promise<T>((resolve, reject) => {
      run = () => {
        if (!wanted()) return reject(GONE);
        try {
          resolve(work());
        } catch (e) {
          reject(e);
        }
      };
    });
    const task: Task = { key, run, done };
    if (queue === undefined) this.queues.set(owner, [task]);
    else queue.push(task);
    this.schedule();
    return done;
  }

  private schedule(): void {
    if (this.scheduled || this.queues.size === 0) return;
    this.scheduled = true;
    this.defer(() => {
      this.scheduled = false;
      this.next();
      this.schedule();
    });
  }

  private next(): void {
    const first = this.queues.entries().next();
    if (first.done === true) return;
    const [owner, queue] = first.value;
    const task = queue.shift();
    this.queues.delete(owner);
    // An owner with more to do goes to the back of the line.
    if (queue.length > 0) this.queues.set(owner, queue);
    task?.run();
  }
}
