// Job names from the command line, against a real server, bridge and printer
// emulator: `print` names a job after its file (or --name), `jobs list`
// shows and searches the names, and `jobs reprint` prints a finished job's
// bytes again as a new job.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import type { Proc } from '../helpers/processes.js';
import type { TcpEmulator } from './emulator-fixture.js';
import { startServe, type Served } from './cli-fixture.js';

describe('job names, search and reprint', () => {
  let s: Served;
  let emu: TcpEmulator;
  let watch: Proc;
  let file: string;
  before(async () => {
    s = await startServe();
    ({ emu } = await s.bridge('desk'));
    file = join(s.tmp, 'shelf-label.txt');
    writeFileSync(file, 'shelf 12\n');
    watch = s.cli(['status', 'desk/0', '--watch', '--json']);
    await watch.waitForEvent('printer.status');
  });
  after(() => s.stop());

  const job = async (id: string): Promise<JobView> => {
    const r = await s.run(['jobs', 'get', id, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as JobView;
  };
  const done = (id: string): Promise<unknown> =>
    watch.waitForEvent((e) => e['event'] === 'job.updated' && (e['job'] as JobView).id === id && (e['job'] as JobView).state === 'done');

  let fromFile: string;
  let named: string;

  test("print names the job after its file, or --name; stdin's job has no name unless given one", async () => {
    const a = await s.run(['print', '--printer', 'desk/0', file]);
    assert.equal(a.code, 0, a.stderr);
    fromFile = a.stdout.trim();
    assert.equal((await job(fromFile)).name, 'shelf-label.txt');

    const b = await s.run(['print', '--printer', 'desk/0', '--name', 'Order 7 packing slip', '-'], { input: 'order 7\n' });
    assert.equal(b.code, 0, b.stderr);
    named = b.stdout.trim();
    assert.equal((await job(named)).name, 'Order 7 packing slip');

    const c = await s.run(['print', '--printer', 'desk/0', '-'], { input: 'anonymous\n' });
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await job(c.stdout.trim())).name, undefined);
  });

  test('jobs list shows the names; --search finds by name (any case) or id prefix', async () => {
    const table = await s.run(['jobs', 'list']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID +NAME +PRINTER +STATE +PROGRESS +SIZE +CREATED +ERROR$/m);
    assert.match(table.stdout, new RegExp(`^${fromFile} +shelf-label\\.txt +desk/0 +done +100% +9 B +\\S+$`, 'm'));
    assert.match(table.stdout, new RegExp(`^${named} +Order 7 packing slip +desk/0 +done `, 'm'));

    const byName = await s.run(['jobs', 'list', '--search', 'order 7', '--json']);
    assert.equal(byName.code, 0, byName.stderr);
    assert.deepEqual((JSON.parse(byName.stdout) as JobView[]).map((j) => j.id), [named]);
    const byId = await s.run(['jobs', 'list', '--search', fromFile.slice(0, 8), '--json']);
    assert.deepEqual((JSON.parse(byId.stdout) as JobView[]).map((j) => j.id), [fromFile]);
    const none = await s.run(['jobs', 'list', '--search', 'no job is called this', '--json']);
    assert.deepEqual([none.code, none.stdout], [0, '[]\n'], 'a search that finds nothing is an empty list, not an error');
  });

  test('jobs reprint prints the same bytes again as a new job, named as the original or --name', async () => {
    const before = readFileSync(emu.printed, 'latin1');
    const r = await s.run(['jobs', 'reprint', fromFile]);
    assert.equal(r.code, 0, r.stderr);
    const [id, state] = r.stdout.trim().split(' ');
    assert.notEqual(id, fromFile);
    assert.ok(state === 'queued' || state === 'sending' || state === 'printing' || state === 'done', r.stdout);
    await done(id!);
    const again = await job(id!);
    assert.deepEqual([again.name, again.printer, again.size], ['shelf-label.txt', 'desk/0', 9]);
    assert.equal(readFileSync(emu.printed, 'latin1').slice(before.length), 'shelf 12\n', 'the printer got the same bytes again');

    const renamed = await s.run(['jobs', 'reprint', named, '--name', 'Order 7 (copy)', '--printer', 'desk/0', '--json']);
    assert.equal(renamed.code, 0, renamed.stderr);
    assert.equal((JSON.parse(renamed.stdout) as JobView).name, 'Order 7 (copy)');
  });

  test('reprint mistakes: no id, an unknown job, options of other actions', async () => {
    const unknown = await s.run(['jobs', 'reprint', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^printbridge jobs: error UNKNOWN_JOB: .* \('printbridge jobs list' lists them\)\n$/);
    const usage: [string[], RegExp][] = [
      [['jobs', 'reprint'], /jobs reprint needs a job id \('printbridge jobs list' lists them\)/],
      [['jobs', 'list', '--name', 'x'], /--name only applies to reprint/],
      [['jobs', 'get', fromFile, '--search', 'x'], /--search only applies to list/],
      [['jobs', 'reprint', fromFile, '--state', 'done'], /--state only applies to list/],
      [['print', '--printer', 'desk/0', '--name', '', file], /--name needs some text/],
    ];
    for (const [args, message] of usage) {
      const r = await s.run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
