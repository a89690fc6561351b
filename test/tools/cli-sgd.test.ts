// `printbridge sgd` as a real process: its usage errors (exit 2, one line,
// before any connection); a real server's refusals (exit 1 with the code):
// no such printer, a printer on a bridge rather than on Weblink, a set with a
// token that may only read; and end to end, a real `serve` over TLS with the
// Weblink printer emulator dialing in, whose settings are read and set.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Processes, type Proc, type RunResult } from '../helpers/processes.js';
import { serveWithTls } from '../helpers/tls-serve.js';
import { dialInWeblinkPrinter } from '../helpers/weblink-emulator.js';
import { startServe, type Served } from './cli-fixture.js';
import { tempDir } from './emulator-fixture.js';

describe('sgd usage errors', () => {
  const procs = new Processes();
  after(() => procs.killAll());
  // Nowhere to connect: a usage error must be found before trying.
  const env = { PRINTBRIDGE_SERVER: 'http://127.0.0.1:1', PRINTBRIDGE_CLIENT_TOKEN: 't', PRINTBRIDGE_ADMIN_TOKEN: undefined };
  const mistakes: [string[], RegExp][] = [
    [['sgd'], /the printer is required/],
    [['sgd', '50J000000001'], /the printer must be DEVICE\/PORT/],
    [['sgd', '50J000000001/0'], /NAME is required/],
    [['sgd', '50J000000001/0', '--get'], /NAME is required/],
    [['sgd', '50J000000001/0', 'device.location', 'back', 'office'], /unexpected argument "office" \(to read several settings, use --get\)/],
    [['sgd', '50J000000001/0', 'device location'], /NAME must be a setting name without spaces or quotes/],
    [['sgd', '50J000000001/0', '--get', 'appl.name', ''], /NAME must be a setting name without spaces or quotes, not ""/],
    [['sgd', '50J000000001/0', 'appl.name', '--timeout', '0'], /--timeout must be an integer from 1 to 60000/],
    [['sgd', '50J000000001/0', 'appl.name', '--colour'], /--colour/],
  ];
  for (const [args, message] of mistakes) {
    test(`${args.map((a) => (a === '' ? '""' : a)).join(' ')}: exit 2, one line`, async () => {
      const r = await procs.run(args, { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /\(see 'printbridge sgd --help'\)\n$/);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
  }

  test('an unreachable server is a failure (exit 1) with the system code', async () => {
    const r = await procs.run(['sgd', '50J000000001/0', 'appl.name'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^printbridge sgd: cannot connect to ws:\/\/127\.0\.0\.1:1\/v1\/client: .*ECONNREFUSED/);
  });
});

describe('sgd against a real server', () => {
  let s: Served;
  before(async () => {
    s = await startServe();
    await s.bridge('desk');
  });
  after(() => s.stop());

  test('no such printer: UNKNOWN_PRINTER, exit 1, nothing on stdout', async () => {
    for (const args of [['sgd', 'nobody/0', 'appl.name'], ['sgd', 'nobody/0', 'device.location', 'x'], ['sgd', 'nobody/0', '--get', 'a', 'b', '--json']]) {
      const r = await s.run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^printbridge sgd: error UNKNOWN_PRINTER: /);
      assert.equal(r.stdout, '');
    }
  });

  test('a printer behind a bridge has no Weblink settings: refused with a code, exit 1', async () => {
    const r = await s.run(['sgd', 'desk/0', 'appl.name']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^printbridge sgd: error UNSUPPORTED: .*\n$/);
    assert.equal(r.stdout, '');
  });

  test('a token that may only print can read but not set: FORBIDDEN names the scope', async () => {
    const issued = await s.run(['tokens', 'issue', '--ttl', '600']);
    assert.equal(issued.code, 0, issued.stderr);
    const env = { PRINTBRIDGE_CLIENT_TOKEN: issued.stdout.trim() };
    const set = await s.run(['sgd', 'desk/0', 'device.location', 'back office'], { env });
    assert.equal(set.code, 1, set.stderr);
    assert.match(set.stderr, /^printbridge sgd: error FORBIDDEN: .*devices:config/);
    // The read gets past the scope check and is refused by the printer's kind instead.
    const get = await s.run(['sgd', 'desk/0', 'appl.name'], { env });
    assert.equal(get.code, 1, get.stderr);
    assert.match(get.stderr, /^printbridge sgd: error UNSUPPORTED: /);
  });
});

describe('sgd with a Weblink printer dialing in', () => {
  const SERIAL = '50J000000001';
  const procs = new Processes();
  const cleanups: Array<() => void> = [];
  let printer: Proc;
  let env: Record<string, string | undefined>;
  const sgd = (...args: string[]): Promise<RunResult> => procs.run(['sgd', `${SERIAL}/0`, ...args], { env });

  before(async () => {
    const { dir, cleanup } = tempDir('printbridge-sgd-');
    cleanups.push(cleanup);
    const served = await serveWithTls(procs, dir);
    env = { PRINTBRIDGE_SERVER: served.base, PRINTBRIDGE_CLIENT_TOKEN: served.adminToken, PRINTBRIDGE_ADMIN_TOKEN: undefined, NODE_EXTRA_CA_CERTS: served.pki.caCert };
    printer = await dialInWeblinkPrinter(procs, served, SERIAL);
  });
  after(async () => {
    await procs.killAll();
    for (const c of cleanups) c();
  });

  test('one name: its value alone on stdout, read over the config channel', async () => {
    const from = printer.events().length;
    const r = await sgd('appl.name');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^V84\.20\.\d+Z\n$/);
    assert.equal(r.stderr, '');
    await printer.waitForEvent({ event: 'sgd', via: 'config', op: 'get' }, { from });
  });

  test('set then get: the printer keeps the value; the config channel closing after each answer does not matter', async () => {
    const set = await sgd('device.location', 'back office');
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'back office\n');
    assert.equal(set.stderr, '');
    const get = await sgd('device.location');
    assert.equal(get.stdout, 'back office\n');
    const empty = await sgd('device.location', '');
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, '\n', 'an empty value is printed as an empty line');
  });

  test('a set the printer refuses answers the old value: printed, and said on stderr', async () => {
    const r = await sgd('appl.name', 'V99.0.0Z');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^V84\.20\.\d+Z\n$/);
    assert.match(r.stderr, /^printbridge sgd: the printer answered "V84\.20\.\d+Z" for appl\.name, not "V99\.0\.0Z": it may have refused the value\n$/);
  });

  test('--get several names: one aligned line each, a name the printer does not know said so; --json has the answer', async () => {
    const r = await sgd('--get', 'device.friendly_name', 'odometer.total_label_count', 'no.such.setting');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [
      `device.friendly_name:       ${SERIAL}`,
      'odometer.total_label_count: 0',
      'no.such.setting:            (unknown to the printer)',
      '',
    ].join('\n'));
    const json = await sgd('--get', 'device.unique_id', 'no.such.setting', '--json');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { printer: `${SERIAL}/0`, values: { 'device.unique_id': SERIAL, 'no.such.setting': null } });
  });

  test('a branch name: every setting under it, one line each', async () => {
    const r = await sgd('odometer');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^odometer\.total_label_count: +0$/m);
    assert.match(r.stdout, /^odometer\.user_label_count: +0$/m);
    assert.ok(r.stdout.trimEnd().split('\n').every((l) => l.startsWith('odometer.')), r.stdout);
  });

  test('one name the printer does not know: exit 1, nothing on stdout', async () => {
    const r = await sgd('no.such.setting');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'printbridge sgd: the printer does not know the setting "no.such.setting"\n');
  });

  test('an offline printer: DEVICE_OFFLINE, exit 1', async () => {
    printer.send('power-off');
    await printer.waitForEvent({ event: 'power-off' });
    // Once the server has seen the printer go (its status says so), the refusal is immediate.
    for (let i = 0; ; i++) {
      const status = await procs.run(['status', `${SERIAL}/0`, '--json'], { env });
      if ((JSON.parse(status.stdout) as { online: boolean }).online === false) break;
      assert.ok(i < 100, 'the printer goes offline within 10 s of its power going');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const r = await sgd('appl.name');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^printbridge sgd: error DEVICE_OFFLINE: /);
    assert.equal(r.stdout, '');
  });
});
