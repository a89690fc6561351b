// The job lifecycle, in one table. Every change of a job's state in the
// server goes through `checkTransition`, so a reader finds here all the ways
// a job can move and nowhere else.
//
//   queued ──offered──▶ sending ──every byte written──▶ printing ──job.done──▶ done
//     │                  │  ▲                            │
//     │                  │  └──link lost / restart───────┘
//     │                  └──link lost before any byte was sent──▶ queued
//     │
//     └─▶ paused ◀─ from queued, sending or printing: a client paused the job,
//                   the printer's queue was paused, or the printer holds it
//                   (job.state paused: paper out, cover open)
//         paused ──released──▶ queued (no byte sent yet) | sending | printing
//
//   Any unfinished state ──▶ failed (device job.fail, JOB_INTERRUPTED,
//   JOB_EXPIRED for queued) | canceled (job.cancel, printer.cancel).
//   A paused or sending job may also end done: the device finished what it
//   already held (a paused job's last bytes were on the printer), or tells
//   the outcome again after a reconnect.
//   done, failed and canceled are final.
//
// The state itself is derived (jobs.ts `targetState`) from facts that are
// kept separately: on a device or not, bytes written, the client's hold, the
// printer queue's pause, the printer's own pause. This table is what keeps
// that derivation honest.

import { FINAL_JOB_STATES, type JobState } from '../../protocol/client-messages.js';
import { PrintbridgeError } from '../errors.js';

export const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ['sending', 'paused', 'failed', 'canceled'],
  sending: ['queued', 'printing', 'paused', 'done', 'failed', 'canceled'],
  printing: ['sending', 'paused', 'done', 'failed', 'canceled'],
  paused: ['queued', 'sending', 'printing', 'done', 'failed', 'canceled'],
  done: [],
  failed: [],
  canceled: [],
};

export function isFinal(state: JobState): boolean {
  return FINAL_JOB_STATES.includes(state);
}

export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Refuses a move the table does not allow: JOB_FINISHED out of a final
 * state (into any state, itself included: a job ends once), and
 * ILLEGAL_TRANSITION otherwise. An unfinished job staying in its state
 * (progress, a changed reason) is not a transition and is allowed.
 */
export function checkTransition(id: string, from: JobState, to: JobState): void {
  if ((from === to && !isFinal(from)) || canTransition(from, to)) return;
  if (isFinal(from)) throw new PrintbridgeError('JOB_FINISHED', `${id} is ${from}`);
  throw new PrintbridgeError('ILLEGAL_TRANSITION', `${id}: ${from} → ${to}`);
}
