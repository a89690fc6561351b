// The budget for the bytes of finished jobs (core/kept-data.ts) against a
// real store: the oldest finished go first, whatever order the finishes
// come in, a job alone over the budget keeps none, and a total that is off
// ends the trim instead of looping.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { KeptData } from '../../server/core/kept-data.js';
import { openStore, type SqliteStore, type Store } from '../../server/store/db.js';
import { getJob, insertJob, jobData, saveJob, type JobRecord } from '../../server/store/jobs.js';
import { tempDir } from '../helpers/server.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function freshStore(): SqliteStore {
  const d = tempDir();
  dirs.push(d);
  return openStore(d);
}

/** Stores the job as done at `at` and tells `kept`, as Jobs.finish does. */
function finish(store: Store, kept: KeptData, id: string, size: number, at: number): void {
  insertJob(store, { id, device: 'd', port: 0, data: new Uint8Array(size) }, at);
  const job = getJob(store, id) as JobRecord;
  store.db.transaction(() => {
    saveJob(store, { ...job, state: 'done', finishedAt: at, updated: at });
    kept.finished(id, size, at);
  })();
}

const holding = (store: Store, ids: string[]): string[] => ids.filter((id) => jobData(store, id) !== undefined);

describe('kept bytes of finished jobs', () => {
  it('drops the oldest finished first, also a job that finished before those dropped already (a clock set back)', () => {
    const store = freshStore();
    const kept = new KeptData(store, 10);
    finish(store, kept, 'a', 4, 100);
    finish(store, kept, 'b', 4, 200);
    finish(store, kept, 'c', 4, 300);
    assert.deepEqual(holding(store, ['a', 'b', 'c']), ['b', 'c']);
    finish(store, kept, 'early', 4, 50);
    assert.deepEqual(holding(store, ['b', 'c', 'early']), ['b', 'c']);
    assert.equal(kept.total, 8);
    store.close();
  });

  it('a job alone over the budget keeps none of its bytes and takes none of the older ones; a lower budget drops more at once', () => {
    const store = freshStore();
    const kept = new KeptData(store, 10);
    finish(store, kept, 'small', 3, 100);
    finish(store, kept, 'big', 11, 200);
    assert.deepEqual(holding(store, ['small', 'big']), ['small']);
    assert.equal(kept.total, 3);
    finish(store, kept, 'one', 3, 300);
    finish(store, kept, 'two', 3, 400);
    assert.equal(kept.setBudget(3), 2);
    assert.deepEqual(holding(store, ['small', 'one', 'two']), ['two']);
    assert.equal(kept.total, 3);
    store.close();
  });

  it('a total that is off (bytes removed by hand) ends the trim at zero', () => {
    const store = freshStore();
    const kept = new KeptData(store, 100);
    finish(store, kept, 'x', 50, 100);
    store.db.prepare('DELETE FROM job_data').run();
    assert.equal(kept.setBudget(10), 0);
    assert.equal(kept.total, 0);
    store.close();
  });
});
