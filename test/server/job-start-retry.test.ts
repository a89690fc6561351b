// `started` is on disk before a job's first byte leaves. When that write
// fails (another process holds the file past the busy timeout, a full disk)
// no byte leaves, the server stays up, and the start is tried again.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore } from '../../server/store/db.js';
import { startTestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, registerDevice, reportPorts } from './peers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a start that cannot be written sends nothing and is tried again', async (ctx) => {
  const t = await startTestServer({ heartbeatMs: 60_000 });
  ctx.after(() => t.close());
  const dev = await FakeDevice.connect(t, 'slow-disk', registerDevice(t, 'slow-disk'));
  reportPorts(t, 'slow-disk');
  const other = openStore(t.dataDir);
  ctx.after(() => other.close());
  other.db.exec("CREATE TRIGGER refuse_start BEFORE UPDATE OF started ON jobs WHEN NEW.started = 1 BEGIN SELECT RAISE(ABORT, 'disk full'); END");
  const client = await TestClient.connect(t);
  const job = await client.call<{ id: string }>('job.submit', { printer: 'slow-disk/0', data: Buffer.from('hello printer').toString('base64') });
  assert.equal((await dev.jobStart())['id'], job.id);
  dev.sendJson({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
  await sleep(500);
  assert.equal(dev.inbox.items.filter((x) => x.kind === 'binary').length, 0, 'no byte left before started was written');
  assert.ok(t.logs.some((l) => l.msg === 'jobs could not be marked started; trying again'));
  other.db.exec('DROP TRIGGER refuse_start');
  const frame = await dev.frame();
  assert.equal(frame.payload.toString(), 'hello printer');
  assert.equal(other.db.prepare('SELECT started FROM jobs WHERE id = ?').pluck().get(job.id), 1);
});
