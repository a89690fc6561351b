// Every command's --help (and `printbridge help NAME`), the command list, and
// the usage errors of the client commands: exit 2 and one line on stderr,
// before any connection is tried.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Processes } from '../helpers/processes.js';

const procs = new Processes();
after(() => procs.killAll());

const COMMANDS = ['serve', 'devices', 'bridge', 'printers', 'status', 'print', 'jobs', 'cancel', 'command', 'sgd', 'broadcast', 'relay', 'clients', 'tokens', 'console', 'emulate'];
const CLIENT_COMMANDS = ['printers', 'status', 'print', 'jobs', 'cancel', 'command', 'sgd', 'broadcast', 'relay', 'clients', 'tokens', 'console'];

// Nowhere to connect: a usage error must be found before trying.
const env = { PRINTBRIDGE_SERVER: 'http://127.0.0.1:1', PRINTBRIDGE_CLIENT_TOKEN: 't', PRINTBRIDGE_ADMIN_TOKEN: undefined };

describe('help', () => {
  test('the command list names every command with its summary', async () => {
    const r = await procs.run(['--help']);
    assert.equal(r.code, 0);
    for (const name of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${name} +\\S`, 'm'), name);
  });

  for (const name of COMMANDS) {
    test(`${name} --help and help ${name} print its usage and options, exit 0`, async () => {
      const r = await procs.run([name, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Usage:[\\s\\S]*printbridge ${name}`));
      assert.match(r.stdout, /^ +-h, --help +show this help$/m);
      assert.equal(r.stderr, '');
      if (CLIENT_COMMANDS.includes(name)) {
        const long = r.stdout.split('\n').filter((l) => l.length > 80);
        assert.deepEqual(long, [], `${name}: help lines fit 80 columns`);
        assert.match(r.stdout, /--server URL/);
        assert.match(r.stdout, /PRINTBRIDGE_CLIENT_TOKEN/);
      }
      const viaHelp = await procs.run(['help', name]);
      assert.equal(viaHelp.stdout, r.stdout);
    });
  }
});

describe('usage errors of the client commands', () => {
  const mistakes: [string[], RegExp][] = [
    [['printers', 'frob'], /unknown action "frob"/],
    [['printers', 'pause'], /the printer is required/],
    [['printers', 'pause', 'desk'], /the printer must be DEVICE\/PORT/],
    [['printers', 'pause', 'desk/0', '--online'], /--online only applies to list/],
    [['printers', 'list', 'extra'], /unexpected argument "extra"/],
    [['status'], /the printer is required/],
    [['status', 'desk/x'], /must be DEVICE\/PORT/],
    [['status', 'desk/0', '--colour'], /--colour/],
    [['cancel'], /JOB is required/],
    [['cancel', 'a', 'b'], /unexpected argument "b"/],
    [['cancel', 'a', '--printer', 'desk/0'], /not both/],
    [['cancel', '--printer', 'desk'], /--printer must be DEVICE\/PORT/],
    [['console', 'extra'], /unexpected argument/],
    [['console', '--url', 'ws://h/', '--server', 'http://h'], /--server or --url, not both/],
    [['console', '--wait', 'soon'], /--wait must be an integer/],
    [['status', 'desk/0', '--server', 'ftp://h'], /--server must be an http:\/\/ URL \(or https:\/\/, ws:\/\/ or wss:\/\/\), not "ftp:\/\/h"; use http:\/\/h /],
  ];
  for (const [args, message] of mistakes) {
    test(`${args.join(' ')}: exit 2, one line`, async () => {
      const r = await procs.run(args, { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /\(see 'printbridge \w+ --help'\)\n$/);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
  }

  test('no token anywhere is a usage error; an unreachable server is a failure with the system code', async () => {
    const none = await procs.run(['printers'], { env: { ...env, PRINTBRIDGE_CLIENT_TOKEN: undefined } });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--token \(or PRINTBRIDGE_CLIENT_TOKEN\) is required: the admin token is in the server's data directory, file admin-token/);
    const down = await procs.run(['printers'], { env });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^printbridge printers: cannot connect to ws:\/\/127\.0\.0\.1:1\/v1\/client: .*ECONNREFUSED.* \(is the server running\? Start it with 'printbridge serve', or point --server or PRINTBRIDGE_SERVER at it\)\n$/);
  });
});
