// Follows one job to its end over the client API, across lost connections.
//
// The job lives in the server's store, not in our connection: when the
// server goes away (a restart, a deploy, a cut link) the follower connects
// again with capped exponential backoff (full jitter), subscribes, reads the
// job with job.get and listens on. One outage may last at most `reconnectFor`
// ms, counted from the moment the connection was lost; a server that stays
// away longer, or that refuses us when it is back (wrong token, revoked, the
// job unknown there), leaves the outcome unknown, which the caller reports as
// such and never as a failed job.
//
//   watching ──close──▶ reconnecting ──connect, subscribe, job.get──▶ watching
//      │                    │
//      └─final job.updated  └─refused, or reconnectFor passed──▶ unknown
//        ▶ final

import { backoffDelay } from '../../device/core/backoff.js';
import { FINAL_JOB_STATES, type JobView } from '../../protocol/client-messages.js';
import { CLOSE, closeName } from '../../protocol/errors.js';
import { ClientError, connectClient, type Client } from './client.js';

export interface FollowOptions {
  /** ws:// URL of /v1/client and the token, to connect again. */
  readonly url: string;
  readonly token: string;
  /** How long one outage may last before the outcome is given up as unknown, in ms. */
  readonly reconnectFor: number;
  /** Backoff before attempt n: uniform in [0, min(cap, base · 2^n)) ms. */
  readonly backoffBase?: number;
  readonly backoffCap?: number;
  /** Each job view as it arrives (events, and job.get after a reconnect). */
  onUpdate(job: JobView): void;
  /** The connection was lost; `error` says how. */
  onLost?(error: ClientError): void;
  /** Connected again; `job` is how it stands now. */
  onBack?(job: JobView): void;
  random?: () => number;
}

export type FollowOutcome =
  | { readonly final: true; readonly job: JobView }
  /** The outcome is unknown: `job` is the last view seen, `error` why we stopped. */
  | { readonly final: false; readonly job: JobView; readonly error: ClientError };

const DEFAULT_BASE = 250;
const DEFAULT_CAP = 5_000;
/** A connection attempt gives up after this long (or what is left of the outage, if less). */
const CONNECT_TIMEOUT = 10_000;
/** The server refused us for good: trying again would give the same answer. */
const FINAL_REFUSALS: readonly string[] = ['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_REQUEST', 'TOKEN_EXPIRED', 'VERSION_UNSUPPORTED', 'UNKNOWN_JOB'];

export const isFinalJob = (job: JobView): boolean => FINAL_JOB_STATES.includes(job.state);

/** A job.updated for `id` that is final, or the connection lost, whichever comes first. */
function watch(client: Client, id: string, onUpdate: (job: JobView) => void): Promise<{ job: JobView } | { lost: ClientError }> {
  return new Promise((resolve) => {
    client.on('event', (e) => {
      if (e.event !== 'job.updated' || e.job.id !== id) return;
      onUpdate(e.job);
      if (isFinalJob(e.job)) resolve({ job: e.job });
    });
    client.on('close', (code, reason) => {
      resolve({ lost: new ClientError(closeName(code) ?? 'CLOSED', `connection to the server lost (${code}${reason ? ` ${reason}` : ''})`) });
    });
  });
}

/** True when a close or refusal means "do not come back" (4006 REVOKED, 4001…, 401/403/404). */
function refusedForGood(error: ClientError): boolean {
  if (FINAL_REFUSALS.includes(error.code)) return true;
  const close = (CLOSE as Record<string, { retry: boolean } | undefined>)[error.code];
  return close !== undefined && !close.retry;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits on `client` (already subscribed, `job` submitted through it) until
 * the job is final, reconnecting as needed. The caller closes `client`;
 * connections made here are closed here, except the one that saw the end,
 * which is returned through `current` for the caller to close.
 */
export async function followJob(client: Client, job: JobView, opts: FollowOptions): Promise<FollowOutcome & { current: Client | undefined }> {
  let last = job;
  const update = (j: JobView): void => {
    last = j;
    opts.onUpdate(j);
  };
  let current: Client | undefined = client;
  let watching = watch(client, job.id, update);
  if (isFinalJob(job)) return { final: true, job, current };
  for (;;) {
    const seen = await watching;
    if ('job' in seen) return { final: true, job: seen.job, current };
    opts.onLost?.(seen.lost);
    if (opts.reconnectFor <= 0 || refusedForGood(seen.lost)) return { final: false, job: last, error: seen.lost, current };
    const back = await reconnect(job.id, seen.lost, update, opts);
    if ('error' in back) return { final: false, job: last, error: back.error, current: undefined };
    if (current !== client) await current?.close();
    current = back.client;
    watching = back.watching;
    opts.onBack?.(back.job);
    update(back.job);
    if (isFinalJob(back.job)) return { final: true, job: back.job, current };
  }
}

interface Back {
  client: Client;
  job: JobView;
  watching: Promise<{ job: JobView } | { lost: ClientError }>;
}

/** Connects again until the job can be read, for at most opts.reconnectFor ms. */
async function reconnect(id: string, lost: ClientError, update: (job: JobView) => void, opts: FollowOptions): Promise<Back | { error: ClientError }> {
  const deadline = Date.now() + opts.reconnectFor;
  const random = opts.random ?? Math.random;
  let why = lost;
  for (let attempt = 0; ; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(left, backoffDelay(attempt, opts.backoffBase ?? DEFAULT_BASE, opts.backoffCap ?? DEFAULT_CAP, random)));
    if (Date.now() >= deadline) break;
    let client: Client;
    try {
      client = await connectClient(opts.url, opts.token, { connectTimeout: Math.max(250, Math.min(CONNECT_TIMEOUT, deadline - Date.now())) });
    } catch (e) {
      why = asClientError(e);
      if (refusedForGood(why)) return { error: why };
      continue;
    }
    // Listen before asking, so that no update slips by; job.get answers after
    // every event sent before it, so it is never older than one of them.
    const watching = watch(client, id, update);
    try {
      await client.request('subscribe');
      const job = await client.request('job.get', { job: id });
      return { client, job, watching };
    } catch (e) {
      why = asClientError(e);
      await client.close();
      if (refusedForGood(why)) return { error: why };
    }
  }
  const seconds = Math.round(opts.reconnectFor / 1000);
  return { error: new ClientError('TIMEOUT', `the server did not come back within ${seconds} s (last: ${why.code}: ${why.message})`) };
}

function asClientError(e: unknown): ClientError {
  if (e instanceof ClientError) return e;
  return new ClientError('CONNECT', e instanceof Error ? e.message : String(e));
}
