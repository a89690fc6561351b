// `printbridge console` driven through stdin like a user typing (or a script
// piping): raw JSON and shorthand requests, replies and events as they
// arrive, the BAD_JSON reply to malformed JSON, --json output, a polite
// close when the input ends, request ids never shared with typed ones, and
// Ctrl-C as a quiet end.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServe, type Served } from './cli-fixture.js';

describe('console', () => {
  let s: Served;
  before(async () => {
    s = await startServe();
    await s.bridge('desk');
  });
  after(() => s.stop());

  test('shorthand and raw JSON get their replies, malformed JSON gets BAD_JSON, events show after subscribe, end of input closes with 1000', async () => {
    const con = s.cli(['console']);
    await con.waitForLine(/^< #1 ok \{"server":"printbridge"/);
    assert.match(con.stdoutLines[0]!, /^> \{"op":"hello","v":\[\d+,\d+\],"id":1\}$/);

    con.send('ping');
    await con.waitForLine('> {"op":"ping","id":2}');
    await con.waitForLine('< #2 ok "pong"');

    con.send('{"op":"ping","id":"mine"}');
    await con.waitForLine('< #"mine" ok "pong"');

    con.send('{"op": "ping", oops');
    await con.waitForLine(/^< #null BAD_JSON message is not valid JSON/);

    con.send('jobs.list state=done limit=1');
    await con.waitForLine('> {"op":"jobs.list","state":"done","limit":1,"id":3}');
    await con.waitForLine('< #3 ok []');

    con.send('job.get job=nope');
    await con.waitForLine(/^< #4 UNKNOWN_JOB no such job/);

    con.send('subscribe');
    await con.waitForLine(/^< #5 ok \{"devices":\[/);
    const file = join(s.tmp, 'console.txt');
    writeFileSync(file, 'from the console test\n');
    const printed = await s.run(['print', '--printer', 'desk/0', file]);
    assert.equal(printed.code, 0, printed.stderr);
    await con.waitForLine(new RegExp(`^< job\\.updated \\{"job":\\{"id":"${printed.stdout.trim()}".*"state":"done"`));

    con.send('.nonsense');
    await con.waitForLine(/unknown command \.nonsense/, { stream: 'stderr' });
    con.closeStdin();
    assert.equal((await con.waitForExit()).code, 0, con.tail());
    assert.doesNotMatch(con.stderr, /connection closed/, 'a close the user asked for is no news');
  });

  test('--json prints every frame as received, one JSON object per line, and no echo', async () => {
    const r = await s.run(['console', '--json'], { input: 'ping\n{"op":"nope","id":7}\n{broken\nprinters.list\n' });
    assert.equal(r.code, 0, r.stderr);
    const frames = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { re: unknown; ok: boolean; result?: unknown; error?: { code: string } });
    assert.equal(frames.length, 5, r.stdout);
    const byRe = new Map(frames.map((f) => [f.re, f]));
    assert.equal(byRe.get(1)?.ok, true, 'the hello reply');
    assert.equal(byRe.get(2)?.result, 'pong');
    assert.equal(byRe.get(7)?.error?.code, 'UNKNOWN_TYPE');
    assert.equal(byRe.get(null)?.error?.code, 'BAD_JSON');
    assert.ok(Array.isArray(byRe.get(3)?.result));
  });

  test('piped input that ends at once still gets the replies still due, then closes', async () => {
    const r = await s.run(['console', '--no-hello'], { input: 'control.send to.device=desk name=identify args.seconds=1\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /hello/);
    assert.match(r.stdout, /^< #1 ok \{"ref":"[0-9a-f-]+","reports":\[\{"device":"desk","status":"ok"/m);
    assert.match(r.stdout, /^> \{"op":"control.send","to":\{"device":"desk"\},"name":"identify","args":\{"seconds":1\},"id":1\}$/m);
  });

  test('.exit closes; --url reaches any ws URL; a bad shorthand line is refused locally', async () => {
    const r = await s.run(['console', '--url', `ws://127.0.0.1:${s.port}/v1/client`], { input: 'ping key\n.exit\nping\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /expected key=value, not "key" \(not sent\)/);
    assert.doesNotMatch(r.stdout, /"op":"ping"/, 'nothing after .exit is sent');
    assert.doesNotMatch(r.stderr, /connection closed/);
  });

  test('a wrong token exits 1 with UNAUTHORIZED; a bad --url is a usage error', async () => {
    const wrong = await s.run(['console', '--token', 'wrong'], { input: '' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^printbridge console: error UNAUTHORIZED: /);
    const bad = await s.run(['console', '--url', 'http://x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--url must be a ws:\/\/ URL \(or wss:\/\/\), not "http:\/\/x"; use ws:\/\/x /);
  });

  test('a typed {"id":5} and the next shorthand request never share an id; job.get id=… says why it is refused', async () => {
    const con = s.cli(['console']);
    await con.waitForLine(/^< #1 ok \{"server":"printbridge"/);
    con.send('{"op":"ping","id":2}');
    await con.waitForLine('< #2 ok "pong"');
    con.send('ping');
    await con.waitForLine('> {"op":"ping","id":3}');
    con.send('{"op":"ping","id":4}');
    con.send('{"op":"ping","id":5}');
    con.send('ping');
    await con.waitForLine('> {"op":"ping","id":6}');
    await con.waitForLine('< #6 ok "pong"');
    assert.deepEqual(con.stdoutLines.filter((l) => l.startsWith('< #')).map((l) => l.split(' ')[1]).sort(), ['#1', '#2', '#3', '#4', '#5', '#6'], 'one reply per id');

    con.send('job.get id=nope');
    const refused = await con.waitForLine(/not sent/, { stream: 'stderr' });
    assert.equal(refused, "printbridge console: id is the request's own id, not a field of job.get (for the job, say job=nope); the console numbers requests itself, and JSON typed as such keeps its id (not sent)");
    con.send('job.get job=nope');
    await con.waitForLine(/^< #7 UNKNOWN_JOB /);
    assert.equal((await con.kill('SIGINT')).code, 0);
  });

  test('Ctrl-C ends the console quietly with exit 0', async () => {
    const con = s.cli(['console']);
    await con.waitForLine(/^< #1 ok/);
    const exit = await con.kill('SIGINT');
    assert.equal(exit.code, 0, con.tail());
    assert.equal(con.stderr, '');
  });

  test('the server closing the connection ends the console with its close code', async () => {
    const other = await startServe();
    try {
      const con = other.cli(['console']);
      await con.waitForLine(/^< #1 ok/);
      await other.proc.kill('SIGTERM');
      const exit = await con.waitForExit();
      assert.equal(exit.code, 0, 'going away is a normal end');
      assert.match(con.stderr, /connection closed: 1001 GOING_AWAY/);
    } finally {
      await other.stop();
    }
  });
});
