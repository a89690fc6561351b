// A bridge that cannot get in says why, with real processes: `printbridge
// serve`, `printbridge bridge` and the printer emulator. A wrong token and an
// unknown id, a closed port and a twin with the same id each give one line on
// the bridge's stderr naming the cause, at once, and not one per attempt; the
// server logs each refused login with the id and the address, never the token.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { addDevice } from '../../server/store/devices.js';
import { openStore } from '../../server/store/db.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { tcpEmulator, tempDir } from '../tools/emulator-fixture.js';

const procs = new Processes();
const cleanups: Array<() => void> = [];
after(async () => {
  await procs.killAll();
  for (const c of cleanups.reverse()) c();
});

/** Lines of a bridge's stderr that are the core's complaints. */
function complaints(bridge: Proc): string[] {
  return bridge.stderrLines.filter((l) => l.startsWith('warn: ') || l.startsWith('error: '));
}

async function world(ids: string[]): Promise<{ dir: string; port: number; tokens: Map<string, string>; serve: Proc }> {
  const { dir, cleanup } = tempDir('printbridge-diagnosis-');
  cleanups.push(cleanup);
  const data = join(dir, 'data');
  const store = openStore(data);
  const tokens = new Map(ids.map((id) => [id, addDevice(store, id, [])]));
  store.close();
  const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: 'e2e-admin' } });
  const { port } = await serve.waitForEvent<{ event: string; port: number }>('listening', { timeout: 20_000 });
  return { dir, port, tokens, serve };
}

async function bridge(dir: string, server: string, id: string, token: string): Promise<{ proc: Proc; started: number }> {
  const emu = await tcpEmulator(procs, dir);
  const started = Date.now();
  const proc = procs.cli(['bridge', '--server', server, '--id', id, '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
  return { proc, started };
}

test('a wrong token and an unknown id: one line each on the bridge within 5 s, not one per attempt; the server logs them without the token', async () => {
  const w = await world(['shop-1']);
  const wrongToken = 'not-the-token-of-shop-1';
  const wrong = await bridge(w.dir, `ws://127.0.0.1:${w.port}`, 'shop-1', wrongToken);
  const unknown = await bridge(w.dir, `ws://127.0.0.1:${w.port}`, 'nobody-registered-me', 'some-token-value');

  for (const [b, id] of [[wrong, 'shop-1'], [unknown, 'nobody-registered-me']] as const) {
    const line = await b.proc.waitForLine(/^error: the server refused device/, { stream: 'stderr', timeout: 5_000 });
    assert.ok(Date.now() - b.started < 5_000, `said within 5 s of starting: ${Date.now() - b.started} ms`);
    assert.match(line, new RegExp(`refused device ${id} \\(HTTP 401: unknown id or wrong token\\): check the id and the token, or register the device with "printbridge devices add ${id}"`));
  }
  // About ten seconds of trying (each refusal waits up to 30 s, so a few
  // attempts): the cause is said once, and the link's state once.
  await new Promise((r) => setTimeout(r, 10_000));
  for (const b of [wrong, unknown]) {
    assert.equal(complaints(b.proc).length, 1, b.proc.tail(30));
    assert.ok(b.proc.stderrLines.filter((l) => l.startsWith('link backoff')).length <= 1, b.proc.tail(30));
    assert.ok(b.proc.stderrLines.filter((l) => l.startsWith('link connecting')).length <= 1, b.proc.tail(30));
  }

  // The server's log: one line per refusal (rate-limited per id and reason), the id, the address, the reason; never the token.
  const refusals = w.serve.stderrLines.filter((l) => l.includes('device login refused'));
  const field = (line: string): Record<string, unknown> => JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>;
  const byId = new Map(refusals.map((l) => [field(l)['device'], field(l)]));
  assert.equal(refusals.length, 2, w.serve.tail(30));
  assert.deepEqual(byId.get('shop-1'), { device: 'shop-1', address: '127.0.0.1', reason: 'wrong token' });
  assert.deepEqual(byId.get('nobody-registered-me'), { device: 'nobody-registered-me', address: '127.0.0.1', reason: 'unknown device' });
  assert.ok(!w.serve.stderr.includes(wrongToken) && !w.serve.stderr.includes('some-token-value'), 'the server never logs a token');
  assert.ok(!wrong.proc.stderr.includes(wrongToken), 'nor does the bridge');
});

test('a server that is not there: the bridge says it cannot reach it within 5 s', async () => {
  const { dir, cleanup } = tempDir('printbridge-diagnosis-');
  cleanups.push(cleanup);
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));

  const b = await bridge(dir, `ws://127.0.0.1:${port}`, 'lonely', 'token');
  const line = await b.proc.waitForLine(/cannot reach the server/, { stream: 'stderr', timeout: 5_000 });
  assert.ok(Date.now() - b.started < 5_000);
  assert.equal(line, `warn: cannot reach the server at ws://127.0.0.1:${port} (connection refused: nothing listens there): check the server address and that the server is running; retrying`);
  // It keeps trying (1, 2, 4, 8 s windows) without a line per attempt.
  await new Promise((r) => setTimeout(r, 8_000));
  assert.equal(complaints(b.proc).length, 1, b.proc.tail(30));
});

test('a second bridge with the same id: the first says it was replaced and stops; the second stays', async () => {
  const w = await world(['twin']);
  const token = w.tokens.get('twin') ?? '';
  const first = await bridge(w.dir, `ws://127.0.0.1:${w.port}`, 'twin', token);
  await first.proc.waitForLine(/^link online/, { stream: 'stderr', timeout: 20_000 });
  const second = await bridge(w.dir, `ws://127.0.0.1:${w.port}`, 'twin', token);
  await second.proc.waitForLine(/^link online/, { stream: 'stderr', timeout: 20_000 });

  const line = await first.proc.waitForLine(/replaced/, { stream: 'stderr', timeout: 5_000 });
  assert.match(line, /^error: another device with id twin connected to the server and replaced this one \(close 4001 REPLACED\): .*not reconnecting until restarted$/);
  await first.proc.waitForLine(/^link stopped/, { stream: 'stderr', timeout: 5_000 });
  const mark = first.proc.stderrLines.length;
  // Longer than the first backoff windows: a first bridge that fought back would have come in again.
  await new Promise((r) => setTimeout(r, 5_000));
  assert.deepEqual(first.proc.stderrLines.slice(mark).filter((l) => l.startsWith('link ')), [], first.proc.tail(20));
  assert.equal(first.proc.exit, undefined, 'the process stays up (a job it holds still prints)');
  assert.equal(second.proc.stderrLines.filter((l) => l.startsWith('link online')).length, 1, 'the second was never replaced back');
  assert.deepEqual(complaints(second.proc), []);
});
