// The job transition table, pure: the table is exactly the documented one,
// every listed move is allowed, and every other move is refused with a
// stable code (JOB_FINISHED out of a final state, ILLEGAL_TRANSITION else).
// That each allowed move really happens is shown over real sockets in
// job-lifecycle.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JOB_STATES, type JobState } from '../../protocol/client-messages.js';
import { PrintbridgeError } from '../../server/errors.js';
import { TRANSITIONS, canTransition, checkTransition, isFinal } from '../../server/core/job-states.js';

const EXPECTED: Record<JobState, JobState[]> = {
  queued: ['sending', 'paused', 'failed', 'canceled'],
  sending: ['queued', 'printing', 'paused', 'done', 'failed', 'canceled'],
  printing: ['sending', 'paused', 'done', 'failed', 'canceled'],
  paused: ['queued', 'sending', 'printing', 'done', 'failed', 'canceled'],
  done: [],
  failed: [],
  canceled: [],
};

function refusal(from: JobState, to: JobState): string | undefined {
  try {
    checkTransition('j', from, to);
    return undefined;
  } catch (e) {
    assert.ok(e instanceof PrintbridgeError, `a PrintbridgeError, not ${String(e)}`);
    return e.code;
  }
}

describe('job states: the transition table', () => {
  it('is exactly the documented table, over every state', () => {
    assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...JOB_STATES].sort());
    for (const from of JOB_STATES) assert.deepEqual([...TRANSITIONS[from]].sort(), [...EXPECTED[from]].sort(), `moves out of ${from}`);
  });

  it('allows every listed move, and an unfinished job staying put', () => {
    for (const from of JOB_STATES) {
      assert.equal(refusal(from, from), isFinal(from) ? 'JOB_FINISHED' : undefined, `${from} → ${from}`);
      for (const to of EXPECTED[from]) {
        assert.equal(canTransition(from, to), true, `${from} → ${to}`);
        assert.equal(refusal(from, to), undefined, `${from} → ${to}`);
      }
    }
  });

  it('refuses every other move: JOB_FINISHED out of a final state, ILLEGAL_TRANSITION otherwise', () => {
    let refused = 0;
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES) {
        if ((from === to && !isFinal(from)) || EXPECTED[from].includes(to)) continue;
        assert.equal(canTransition(from, to), false, `${from} → ${to}`);
        assert.equal(refusal(from, to), isFinal(from) ? 'JOB_FINISHED' : 'ILLEGAL_TRANSITION', `${from} → ${to}`);
        refused += 1;
      }
    }
    // 7 states: 49 pairs, 4 unfinished stay-puts, 21 listed moves.
    assert.equal(refused, 49 - 4 - 21);
  });

  it('names the job and both states in the refusal', () => {
    assert.throws(() => checkTransition('job-9', 'queued', 'printing'), (e: PrintbridgeError) => /job-9: queued → printing/.test(e.message));
    assert.throws(() => checkTransition('job-9', 'done', 'paused'), (e: PrintbridgeError) => /job-9 is done/.test(e.message));
  });
});
