// `printbridge broadcast` and `relay` as real processes: control messages
// through a real server to a real bridge, with the delivery report for an
// online device that answers, one that refuses, and one that is offline.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DeliveryReport } from '../../protocol/client-messages.js';
import { startServe, type Served } from './cli-fixture.js';

interface Outcome {
  ref: string;
  reports: DeliveryReport[];
}

describe('broadcast and relay', () => {
  let s: Served;
  before(async () => {
    s = await startServe();
    await s.bridge('desk', { tags: ['front'] });
    await s.addDevice('attic', ['front']);
    await s.addDevice('cellar', ['back']);
  });
  after(() => s.stop());

  test('broadcast to a tag with an offline device: a report per device, exit 1 naming the failure', async () => {
    const r = await s.run(['broadcast', 'identify', '--tag', 'front', '--args', '{"seconds":2}']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^DEVICE +STATUS +CODE +MESSAGE +DATA$/m);
    assert.match(r.stdout, /^desk +ok$/m);
    assert.match(r.stdout, /^attic +offline$/m);
    assert.equal(r.stdout.trimEnd().split('\n').length, 3);
    assert.match(r.stderr, /^printbridge broadcast: 1 of 2 device\(s\) did not answer ok \(attic offline\)$/m);

    const json = await s.run(['broadcast', 'identify', '--tag', 'front', '--json']);
    assert.equal(json.code, 1);
    const outcome = JSON.parse(json.stdout) as Outcome;
    assert.match(outcome.ref, /^[0-9a-f-]{36}$/);
    assert.deepEqual(outcome.reports.map((x) => [x.device, x.status]).sort(), [['attic', 'offline'], ['desk', 'ok']]);
  });

  test('broadcast --all reaches every registered device; --device only one; all ok exits 0', async () => {
    const all = await s.run(['broadcast', 'identify', '--all', '--json']);
    assert.equal(all.code, 1);
    assert.deepEqual((JSON.parse(all.stdout) as Outcome).reports.map((x) => x.device).sort(), ['attic', 'cellar', 'desk']);

    const one = await s.run(['broadcast', 'led', '--device', 'desk', '--arg', 'pattern=identify', '--arg', 'seconds=1']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^desk +ok$/m);
    assert.equal(one.stderr, '');

    const nobody = await s.run(['broadcast', 'identify', '--tag', 'nowhere', '--json']);
    assert.equal(nobody.code, 1, 'nothing sent is a failure, never an empty success');
    assert.equal(nobody.stdout, '');
    assert.match(nobody.stderr, /^printbridge broadcast: error UNKNOWN_TAG: .*"?nowhere"?.*\('printbridge devices list' shows each device's tags\)\n$/);
  });

  test('a device that refuses answers error with its code; exit 1', async () => {
    const r = await s.run(['broadcast', 'levitate', '--device', 'desk']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^desk +error +UNSUPPORTED +not supported/m);
    const bad = await s.run(['relay', 'desk', 'led', '--arg', 'pattern=disco', '--json']);
    assert.equal(bad.code, 1);
    const report = (JSON.parse(bad.stdout) as Outcome).reports[0]!;
    assert.deepEqual([report.status, report.code], ['error', 'BAD_FIELD']);
  });

  test('relay shows one device\'s answer; an unknown device exits 1 with UNKNOWN_DEVICE', async () => {
    const r = await s.run(['relay', 'desk', 'status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = (JSON.parse(r.stdout) as Outcome).reports[0]!;
    assert.equal(report.status, 'ok');
    assert.ok(Array.isArray((report.data as { ports?: unknown }).ports), JSON.stringify(report.data));

    const text = await s.run(['relay', 'desk', 'status']);
    assert.match(text.stdout, /^desk +ok +\{"/m);

    const offline = await s.run(['relay', 'attic', 'status']);
    assert.equal(offline.code, 1);
    assert.match(offline.stdout, /^attic +offline$/m);

    const unknown = await s.run(['relay', 'nobody', 'status']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^printbridge relay: error UNKNOWN_DEVICE: /);
    assert.equal(unknown.stdout, '');
  });

  test('usage errors exit 2 before connecting', async () => {
    const cases: [string[], RegExp][] = [
      [['broadcast', 'identify'], /exactly one of --all, --tag T or --device D/],
      [['broadcast', 'identify', '--all', '--tag', 'x'], /exactly one of/],
      [['broadcast', '--all'], /NAME is required/],
      [['broadcast', 'identify', '--all', '--args', '{nope'], /--args is not valid JSON/],
      [['broadcast', 'identify', '--all', '--args', '[1]'], /--args must be a JSON object/],
      [['broadcast', 'identify', '--all', '--arg', 'seconds'], /--arg: expected key=value/],
      [['broadcast', 'identify', '--all', '--timeout', '0'], /--timeout must be an integer from 1 to 60000/],
      [['relay', 'desk'], /NAME is required/],
      [['relay'], /DEVICE is required/],
      [['relay', 'desk', 'status', 'extra'], /unexpected argument "extra"/],
    ];
    for (const [args, message] of cases) {
      const r = await s.run(args, { env: { PRINTBRIDGE_SERVER: 'http://127.0.0.1:1' } });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    }
  });
});
