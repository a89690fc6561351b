// The mistakes a user makes, made as a user makes them: real `printbridge`
// processes against a real server and bridge. Each one must say what is
// wrong and what to do instead, and exit non-zero: 2 for the command line,
// 1 for a printer, job, device, tag or token that does not exist (with the
// server's code). Ctrl-C on anything that watches or follows is a quiet end.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClientView, DeviceView, JobView } from '../../protocol/client-messages.js';
import { connectClient } from '../../tools/client/client.js';
import { REPO_ROOT } from '../helpers/processes.js';
import { startServe, type Served } from './cli-fixture.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Every quote opened is closed: a message must not leave the reader guessing where a value ends. */
function assertBalancedQuotes(text: string): void {
  for (const q of ['"', '`']) assert.equal(text.split(q).length % 2, 1, `unbalanced ${q} in ${text}`);
  // Apostrophes are also English ("device's"), so only quoted commands are checked: each 'printbridge …' closes.
  for (const m of text.matchAll(/'printbridge /g)) assert.ok(text.indexOf("'", m.index + 1) !== -1, `unclosed 'printbridge … in ${text}`);
}

describe('CLI mistakes', () => {
  let s: Served;
  let file: string;
  before(async () => {
    s = await startServe();
    await s.bridge('desk', { tags: ['front'] });
    file = join(s.tmp, 'label.txt');
    writeFileSync(file, 'hello printer\n');
  });
  after(() => s.stop());

  /** A usage error: exit 2, nothing on stdout, exactly `message` and the pointer to --help on stderr. */
  async function usage(args: string[], message: string | RegExp, env?: Record<string, string | undefined>): Promise<string> {
    const r = await s.run(args, env === undefined ? {} : { env });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    const line = r.stderr.trimEnd();
    if (typeof message === 'string') assert.equal(line, message);
    else assert.match(line, message);
    assertBalancedQuotes(line);
    return line;
  }

  test('a server address without a scheme says so and names the URL that works, which does', async () => {
    const given = `127.0.0.1:${s.port}`;
    const line = await usage(['status', 'desk/0', '--server', given],
      `printbridge status: --server must be an http:// URL (or https://, ws:// or wss://), not "${given}"; use http://${given} (see 'printbridge status --help')`);
    const suggested = / use (\S+) /.exec(line)![1]!;
    const works = await s.run(['status', 'desk/0', '--server', suggested]);
    assert.equal(works.code, 0, works.stderr);

    await usage(['printers'], new RegExp(`^printbridge printers: PRINTBRIDGE_SERVER must be an http:// URL .*, not "localhost:${s.port}"; use http://localhost:${s.port} `), { PRINTBRIDGE_SERVER: `localhost:${s.port}` });
    await usage(['bridge', '--server', given, '--id', 'x', '--token', 't', '--printer', 'tcp://127.0.0.1:1'],
      new RegExp(`^printbridge bridge: --server must be a ws:// URL \\(or wss://, http:// or https://\\), not "${given}"; use ws://${given} `));
    const consoleLine = await usage(['console', '--url', `${given}/v1/client`], new RegExp(`^printbridge console: --url must be a ws:// URL \\(or wss://\\), not "${given}/v1/client"; use ws://${given}/v1/client `));
    const consoleUrl = / use (\S+) /.exec(consoleLine)![1]!;
    const consoleWorks = await s.run(['console', '--url', consoleUrl, '--token', s.token], { input: 'ping\n' });
    assert.equal(consoleWorks.code, 0, consoleWorks.stderr);
    assert.match(consoleWorks.stdout, /"pong"/);
    const noPath = await s.run(['console', '--url', `ws://${given}`, '--token', s.token], { input: '' });
    assert.equal(noPath.code, 1);
    assert.match(noPath.stderr, /error NOT_FOUND: .*HTTP 404.* \(the server has no WebSocket at that path; its client API is \/v1\/client\)\n$/);
    await usage(['status', 'desk/0', '--server', 'http://exa mple'], /--server "http:\/\/exa mple" is not a valid URL \(a host name or address, then an optional :PORT, e.g\. http:\/\/127\.0\.0\.1:8080\)/);
  });

  // One typo per command, of one of its own options.
  const typos: [string[], string, string][] = [
    [['serve'], '--prot', '--port'],
    [['devices', 'list'], '--dta', '--data'],
    [['bridge'], '--tokne', '--token'],
    [['printers'], '--onlien', '--online'],
    [['status', 'desk/0'], '--sever', '--server'],
    [['print', 'label.txt'], '--prniter', '--printer'],
    [['jobs', 'list'], '--limt', '--limit'],
    [['cancel', 'x'], '--printr', '--printer'],
    [['command', 'desk/0', 'M105'], '--hx', '--hex'],
    [['sgd', 'desk/0', 'a'], '--gte', '--get'],
    [['broadcast', 'identify'], '--tga', '--tag'],
    [['relay', 'desk', 'status'], '--timout', '--timeout'],
    [['clients'], '--jsno', '--json'],
    [['tokens', 'issue'], '--scpoe', '--scope'],
    [['console'], '--wiat', '--wait'],
    [['emulate'], '--tpc', '--tcp'],
  ];
  for (const [args, typo, meant] of typos) {
    const name = args[0]!;
    test(`${name} ${typo}: "unknown option ${typo}; did you mean ${meant}?"`, async () => {
      await usage([...args, typo, 'x'], `printbridge ${name}: unknown option ${typo}; did you mean ${meant}? (see 'printbridge ${name} --help')`);
    });
  }

  test('an option nothing resembles, a value given to a flag, a value missing, an argument too many', async () => {
    await usage(['status', 'desk/0', '--frobnicate'], "printbridge status: unknown option --frobnicate; an argument that itself starts with - goes after -- (see 'printbridge status --help')");
    await usage(['status', 'desk/0', '--watch=3'], "printbridge status: --watch takes no value; give it alone (see 'printbridge status --help')");
    await usage(['jobs', 'list', '--printer'], "printbridge jobs: --printer needs a value (see 'printbridge jobs --help')");
    await usage(['serve', 'extra'], `printbridge serve: unexpected argument "extra"; this command takes options only (see 'printbridge serve --help')`);
    await usage(['jobs', 'list', 'extra'], /^printbridge jobs: unexpected argument "extra" \(jobs list takes options only; jobs get ID shows one job\)/);
  });

  test('an unknown command or action names the one it resembles and the list', async () => {
    const r = await s.run(['prnters']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^printbridge: unknown command "prnters"; did you mean printers\? \(commands: serve, devices, .*\)\n$/);
    await usage(['jobs', 'lsit'], "printbridge jobs: unknown action \"lsit\"; did you mean list? (actions: list, get, cancel, pause, resume, reprint) (see 'printbridge jobs --help')");
    await usage(['printers', 'pasue', 'desk/0'], /^printbridge printers: unknown action "pasue"; did you mean pause\? \(actions: list, pause, resume, cancel\)/);
    await usage(['devices', 'lst'], /^printbridge devices: unknown action "lst"; did you mean list\?/);
    await usage(['tokens', 'isue'], /^printbridge tokens: unknown action "isue"; did you mean issue\?/);
    await usage(['jobs', 'list', '--state', 'doen'], /--state must be one of .*, not "doen"; did you mean done\?/);
  });

  // What does not exist is an error with the server's code and where to look; never an empty success.
  const missing: [string[], RegExp][] = [
    [['broadcast', 'identify', '--tag', 'nosuchtag'], /^printbridge broadcast: error UNKNOWN_TAG: no registered device carries this tag: nosuchtag \('printbridge devices list' shows each device's tags\)$/],
    [['broadcast', 'identify', '--device', 'nope'], /^printbridge broadcast: error UNKNOWN_DEVICE: .*nope.* \('printbridge devices list' lists them\)$/],
    [['relay', 'nope', 'status'], /^printbridge relay: error UNKNOWN_DEVICE: .*nope.* \('printbridge devices list' lists them\)$/],
    [['jobs', 'list', '--printer', 'nope/0'], /^printbridge jobs: error UNKNOWN_PRINTER: .*nope\/0.* \('printbridge printers' lists them\)$/],
    [['jobs', 'get', 'nope'], /^printbridge jobs: error UNKNOWN_JOB: .*nope.* \('printbridge jobs list' lists them\)$/],
    [['cancel', 'nope'], /^printbridge cancel: error UNKNOWN_JOB: .*nope.* \('printbridge jobs list' lists them\)$/],
    [['status', 'nope/0'], /^printbridge status: error UNKNOWN_PRINTER: .*nope\/0.* \('printbridge printers' lists them\)$/],
    [['status', 'nope/0', '--watch'], /^printbridge status: error UNKNOWN_PRINTER: .*nope\/0.* \('printbridge printers' lists them\)$/],
    [['printers', 'pause', 'nope/0'], /^printbridge printers: error UNKNOWN_PRINTER: .*nope\/0.* \('printbridge printers' lists them\)$/],
    [['command', 'nope/0', 'M105'], /^printbridge command: error UNKNOWN_PRINTER: .*nope\/0.* \('printbridge printers' lists them\)$/],
    [['print', '--printer', 'nope/0', '--no-wait', '-'], /^printbridge print: error UNKNOWN_PRINTER: .*nope\/0.* \('printbridge printers' lists them\)$/],
    [['devices', 'remove', 'nope'], /^printbridge devices: error UNKNOWN_DEVICE: .*nope.* \('printbridge devices list' lists them\)$/],
    [['tokens', 'revoke', 'nope'], /^printbridge tokens: error UNKNOWN_TOKEN: .*nope.* \(check the token or its id; 'printbridge clients' shows the ids of the tokens in use\)$/],
    [['printers', '--token', 'wrong'], /^printbridge printers: error UNAUTHORIZED: .*HTTP 401.* \(check --token or PRINTBRIDGE_CLIENT_TOKEN; the admin token is in the server's data directory, file admin-token\)$/],
  ];
  for (const [args, message] of missing) {
    test(`${args.join(' ')}: exit 1 with the code and where to look`, async () => {
      const r = await s.run(args, { input: 'x' });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trimEnd(), message);
    });
  }

  test("jobs list of a registered device's printer before it ever connected: no jobs, not UNKNOWN_PRINTER", async () => {
    // The server knows every port of a device that has not said which it has;
    // printers.list does not list them yet, so it must not be what decides.
    await s.addDevice('ghost');
    try {
      const r = await s.run(['jobs', 'list', '--printer', 'ghost/0', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), []);
    } finally {
      // The later tests count the server's devices.
      assert.equal((await s.run(['devices', 'remove', 'ghost', '--data', s.dir])).code, 0);
    }
  });

  test('Ctrl-C on status --watch ends it quietly with exit 0', async () => {
    const watch = s.cli(['status', 'desk/0', '--watch']);
    await watch.waitForLine(/^printer: +desk\/0$/);
    const exit = await watch.kill('SIGINT');
    assert.equal(exit.code, 0, watch.tail());
    assert.equal(watch.stderr, '');
  });

  test('Ctrl-C on a print being followed stops following, quietly, exit 0; the job goes on', async () => {
    assert.equal((await s.run(['printers', 'pause', 'desk/0'])).code, 0);
    const watch = s.cli(['status', 'desk/0', '--watch', '--json']);
    await watch.waitForEvent('printer.status');
    const print = s.cli(['print', '--printer', 'desk/0', file]);
    const queued = await watch.waitForEvent<{ job: JobView }>((e) => e['event'] === 'job.updated' && (e['job'] as JobView).state === 'queued');

    const exit = await print.kill('SIGINT');
    assert.equal(exit.code, 0, print.tail());
    assert.equal(print.stderr, '');
    assert.equal(print.stdout, `${queued.job.id}\n`);
    const after = JSON.parse((await s.run(['jobs', 'get', queued.job.id, '--json'])).stdout) as JobView;
    assert.equal(after.state, 'queued', 'Ctrl-C ended the wait, not the job');

    assert.equal((await watch.kill('SIGINT')).code, 0, watch.tail());
    assert.equal(watch.stderr, '');
    assert.equal((await s.run(['cancel', queued.job.id])).code, 0);
    assert.equal((await s.run(['printers', 'resume', 'desk/0'])).code, 0);
  });

  test("the tools name themselves with the package's version", async () => {
    const version = await s.run(['--version']);
    assert.equal(version.stdout, `${VERSION}\n`);
    const clients = JSON.parse((await s.run(['clients', '--json'])).stdout) as ClientView[];
    assert.deepEqual(clients.map((c) => c.userAgent), [`printbridge-cli/${VERSION}`], 'the clients command sees itself');
    const client = await connectClient(`ws://127.0.0.1:${s.port}/v1/client`, s.token);
    try {
      const devices: DeviceView[] = await client.request('devices.list');
      assert.deepEqual(devices.map((d) => [d.id, d.fw]), [['desk', `printbridge-node/${VERSION}`]]);
    } finally {
      await client.close();
    }
  });
});
