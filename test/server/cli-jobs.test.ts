// `printbridge jobs` and `printbridge print --key` as real processes against
// a real server: listing with filters, get, pause, resume, cancel, refusals
// (exit 1 with the code) and usage errors (exit 2).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { Processes } from '../helpers/processes.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { registerDevice, reportPorts } from './peers.js';

const procs = new Processes();

describe('printbridge jobs', () => {
  let t: TestServer;
  let file: string;
  const run = (args: string[]) =>
    procs.run(args, { env: { PRINTBRIDGE_SERVER: `http://127.0.0.1:${t.server.port}`, PRINTBRIDGE_CLIENT_TOKEN: 'test-admin-token', PRINTBRIDGE_ADMIN_TOKEN: undefined } });

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    registerDevice(t, 'cli');
    reportPorts(t, 'cli');
    file = join(t.dataDir, 'label.txt');
    writeFileSync(file, 'hello printer\n');
  });
  after(async () => {
    await procs.killAll();
    await t.close();
  });

  test('print --key submits once however often it is run; jobs list --json shows that one job', async () => {
    const first = await run(['print', '--printer', 'cli/0', '--key', 'order-7', '--no-wait', '--json', file]);
    assert.equal(first.code, 0, first.stderr);
    const again = await run(['print', '--printer', 'cli/0', '--key', 'order-7', '--no-wait', '--json', file]);
    assert.equal(again.code, 0, again.stderr);
    const [a, b] = [JSON.parse(first.stdout) as JobView, JSON.parse(again.stdout) as JobView];
    assert.equal(b.id, a.id);
    assert.deepEqual([a.key, a.state, a.size], ['order-7', 'queued', 14]);

    const list = await run(['jobs', 'list', '--printer', 'cli/0', '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as JobView[]).map((j) => [j.id, j.key]), [[a.id, 'order-7']]);
  });

  test('get, pause, resume and cancel a job; list by state; a table without --json', async () => {
    const submitted = await run(['print', '--printer', 'cli/0', '--no-wait', file]);
    const id = submitted.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);

    const paused = await run(['jobs', 'pause', id]);
    assert.deepEqual([paused.code, paused.stdout], [0, `${id} paused\n`]);
    const byState = await run(['jobs', 'list', '--state', 'paused', '--json']);
    assert.deepEqual((JSON.parse(byState.stdout) as JobView[]).map((j) => j.id), [id]);
    const shown = await run(['jobs', 'get', id]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^state: +paused \(held by a client\)$/m);
    assert.match(shown.stdout, /^progress: +0% \(0 B of 14 B\)$/m);

    assert.equal((await run(['jobs', 'resume', id])).stdout, `${id} queued\n`);
    const table = await run(['jobs', 'list', '--limit', '1']);
    assert.match(table.stdout, /^ID\b.* PRINTER +STATE +PROGRESS\b/);
    assert.match(table.stdout, new RegExp(`^${id} .*\\bcli/0 +queued +0%`, 'm'));
    // The job is named for the file it printed.
    assert.match(table.stdout, new RegExp(`^${id} .*\\blabel\\.txt\\b`, 'm'));
    assert.equal(table.stdout.trimEnd().split('\n').length, 2, '--limit 1: the header and one job');

    const canceled = await run(['jobs', 'cancel', id, '--json']);
    assert.equal((JSON.parse(canceled.stdout) as JobView).state, 'canceled');
    const twice = await run(['jobs', 'cancel', id]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /JOB_FINISHED/);
    assert.equal(twice.stdout, '');
    const resumeQueued = await run(['jobs', 'get', 'no-such-job']);
    assert.equal(resumeQueued.code, 1);
    assert.match(resumeQueued.stderr, /UNKNOWN_JOB/);
  });

  test('usage errors exit 2 with one line; an unreachable server exits 1', async () => {
    const cases: [string[], RegExp][] = [
      [['jobs'], /say list, get/],
      [['jobs', 'frob'], /unknown action "frob"/],
      [['jobs', 'get'], /needs a job id/],
      [['jobs', 'list', '--state', 'lost'], /--state must be one of/],
      [['jobs', 'list', '--printer', 'nope'], /DEVICE\/PORT/],
      [['jobs', 'list', '--limit', '0'], /--limit must be an integer/],
      [['jobs', 'pause', 'x', '--state', 'queued'], /--state only applies to list/],
      [['jobs', 'list', 'extra'], /unexpected argument "extra"/],
    ];
    await Promise.all(cases.map(async ([args, message]) => {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    }));
    const down = await procs.run(['jobs', 'list', '--server', 'http://127.0.0.1:1', '--token', 't']);
    assert.equal(down.code, 1, down.stderr);
    assert.match(down.stderr, /cannot connect/);
  });
});
