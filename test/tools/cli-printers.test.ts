// `printbridge printers`, `status` (once and --watch) and `cancel` as real
// processes against a real server, bridge and printer emulator.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClientEvent, JobView, PrinterView } from '../../protocol/client-messages.js';
import { startServe, type Served } from './cli-fixture.js';

describe('printers, status and cancel', () => {
  let s: Served;
  let file: string;
  before(async () => {
    s = await startServe();
    await s.bridge('desk', { tags: ['front'] });
    await s.addDevice('attic');
    file = join(s.tmp, 'label.txt');
    writeFileSync(file, 'hello printer\n');
  });
  after(() => s.stop());

  test('printers lists the bridge\'s printer as a table and as JSON', async () => {
    const table = await s.run(['printers']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^PRINTER +DIALECT +STATUS +JOB +QUEUED/);
    assert.match(table.stdout, /^desk\/0 +escpos +\S+/m);

    const json = await s.run(['printers', 'list', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as PrinterView[];
    assert.deepEqual(list.map((p) => [p.id, p.device, p.port, p.dialect, p.online, p.paused]), [['desk/0', 'desk', 0, 'escpos', true, false]]);

    const online = await s.run(['printers', '--online', '--json']);
    assert.deepEqual((JSON.parse(online.stdout) as PrinterView[]).map((p) => p.id), ['desk/0']);
  });

  test('status shows one printer; --json is its view; an unknown printer exits 1', async () => {
    const text = await s.run(['status', 'desk/0']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^printer: +desk\/0$/m);
    assert.match(text.stdout, /^device: +desk online$/m);
    assert.match(text.stdout, /^queue: +0 unfinished$/m);

    const json = await s.run(['status', 'desk/0', '--json']);
    const view = JSON.parse(json.stdout) as PrinterView;
    assert.deepEqual([view.id, view.online, view.queued], ['desk/0', true, 0]);

    const missing = await s.run(['status', 'attic/0']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^printbridge status: error UNKNOWN_PRINTER: /);
    assert.equal(missing.stdout, '');
  });

  test('status --watch --json prints the current status, then the job updates of a print, until SIGTERM', async () => {
    const watch = s.cli(['status', 'desk/0', '--watch', '--json']);
    const first = await watch.waitForEvent<Extract<ClientEvent, { event: 'printer.status' }>>('printer.status');
    assert.equal(first.printer.id, 'desk/0');

    const printed = await s.run(['print', '--printer', 'desk/0', file]);
    assert.equal(printed.code, 0, printed.stderr);
    const id = printed.stdout.trim();
    const done = await watch.waitForEvent<Extract<ClientEvent, { event: 'job.updated' }>>((e) => e['event'] === 'job.updated' && (e['job'] as JobView).state === 'done');
    assert.equal(done.job.id, id);
    assert.ok(watch.stdoutLines.filter((l) => l !== '').every((l) => JSON.parse(l) !== undefined), 'every line is JSON');

    assert.deepEqual(await watch.kill('SIGTERM'), { code: 0, signal: null });
  });

  test('status --watch without --json prints a line per change', async () => {
    const watch = s.cli(['status', 'desk/0', '--watch']);
    await watch.waitForLine(/^printer: +desk\/0$/);
    const printed = await s.run(['print', '--printer', 'desk/0', file]);
    const id = printed.stdout.trim();
    await watch.waitForLine(new RegExp(`^\\d\\d:\\d\\d:\\d\\d  job ${id} done 100% \\(14 B of 14 B\\)$`));
    assert.deepEqual(await watch.kill('SIGINT'), { code: 0, signal: null });
  });

  test('status --watch exits 1 when the connection is lost', async () => {
    const other = await startServe();
    try {
      await other.bridge('lonely');
      const watch = other.cli(['status', 'lonely/0', '--watch']);
      await watch.waitForLine(/^printer: +lonely\/0$/);
      await other.proc.kill('SIGTERM');
      assert.equal((await watch.waitForExit()).code, 1);
      assert.match(watch.stderr, /connection to the server lost \(1001/);
    } finally {
      await other.stop();
    }
  });

  test('printers pause holds the queue; cancel JOB and cancel --printer end jobs; resume lets it go on', async () => {
    const paused = await s.run(['printers', 'pause', 'desk/0']);
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, /^desk\/0 paused/);
    const status = JSON.parse((await s.run(['status', 'desk/0', '--json'])).stdout) as PrinterView;
    assert.equal(status.paused, true);

    const a = (await s.run(['print', '--printer', 'desk/0', '--no-wait', file])).stdout.trim();
    const b = (await s.run(['print', '--printer', 'desk/0', '--no-wait', file])).stdout.trim();
    const c = (await s.run(['print', '--printer', 'desk/0', '--no-wait', file])).stdout.trim();

    const one = await s.run(['cancel', a]);
    assert.deepEqual([one.code, one.stdout, one.stderr], [0, `${a} canceled\n`, '']);
    const again = await s.run(['cancel', a]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /JOB_FINISHED/);
    const unknown = await s.run(['cancel', 'no-such-job', '--json']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /UNKNOWN_JOB/);
    assert.equal(unknown.stdout, '');

    const all = await s.run(['cancel', '--printer', 'desk/0', '--json']);
    assert.equal(all.code, 0, all.stderr);
    const result = JSON.parse(all.stdout) as { printer: string; canceled: JobView[] };
    assert.deepEqual(result.canceled.map((j) => j.id).sort(), [b, c].sort());
    assert.ok(result.canceled.every((j) => j.state === 'canceled'));

    const resumed = await s.run(['printers', 'resume', 'desk/0', '--json']);
    assert.equal((JSON.parse(resumed.stdout) as { paused: boolean }).paused, false);
    const unknownPrinter = await s.run(['printers', 'pause', 'nobody/0']);
    assert.equal(unknownPrinter.code, 1);
    assert.match(unknownPrinter.stderr, /UNKNOWN_PRINTER/);
  });
});
