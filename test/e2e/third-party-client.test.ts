// A plain third-party WebSocket client against the client API: Python's
// interactive `python3 -m websockets` (Debian python3-websockets), typed into
// through its stdin the way a person at a terminal would, connecting with a
// short-lived token in the query string (it cannot set headers either). Its
// replies are read from what it prints ("< {...}"), including the error reply
// to a line that is not JSON.
//
// /usr/bin/python3 is called explicitly: the python3 first on PATH may be a
// pyenv one without the Debian package (scripts/install-system-deps.sh
// installs it for the system Python).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Processes, type Proc } from '../helpers/processes.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, registerDevice } from '../server/peers.js';

const PYTHON = '/usr/bin/python3';

type Json = Record<string, unknown>;

/** Every message the client printed as received, in order: its lines are `< {json}` amid terminal escapes. */
function received(proc: Proc): Json[] {
  const out: Json[] = [];
  for (const line of proc.stdoutLines) {
    const clean = line.replace(/\x1b(?:\[[0-9;]*[A-Za-z]|[78])/g, '');
    const m = /< (\{.*\})\s*$/.exec(clean);
    if (m?.[1] !== undefined) out.push(JSON.parse(m[1]) as Json);
  }
  return out;
}

async function reply(proc: Proc, re: unknown): Promise<Json> {
  await proc.waitForLine(() => received(proc).some((m) => m['re'] === re), { timeout: 10_000 });
  return received(proc).find((m) => m['re'] === re) as Json;
}

describe('e2e: python3 -m websockets as a third-party client', () => {
  const procs = new Processes();
  let t: TestServer;
  let dev: FakeDevice;
  let py: Proc;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    dev = await FakeDevice.connect(t, 'py-1', registerDevice(t, 'py-1'), { ports: [{ port: 0, dialect: 'escpos' }] });
    const admin = await TestClient.connect(t);
    // clients.list (below) needs the tokens scope besides printing.
    const { token } = await admin.call<{ token: string }>('token.issue', { ttl: 600, scopes: ['print', 'tokens'] });
    admin.close();
    py = procs.spawn(PYTHON, ['-m', 'websockets', t.wsUrl(`/v1/client?token=${encodeURIComponent(token)}`)], {
      name: 'python3 -m websockets', env: { PYTHONUNBUFFERED: '1', PYTHONPATH: undefined, PYTHONHOME: undefined },
    });
    await py.waitForLine('Connected to', { timeout: 10_000 });
  });
  after(async () => {
    await procs.killAll();
    await t.close();
  });

  it('answers hello and ping, correlated by the ids the client chose', async () => {
    py.send('{"id": 1, "op": "hello", "v": [1, 2]}');
    const hello = await reply(py, 1);
    assert.equal(hello['ok'], true);
    assert.equal((hello['result'] as Json)['server'], 'printbridge');
    py.send('{"id": "p", "op": "ping"}');
    assert.deepEqual(await reply(py, 'p'), { re: 'p', ok: true, result: 'pong' });
  });

  it('answers a line that is not JSON with BAD_JSON, and stays connected', async () => {
    py.send('this is not json {');
    const bad = await reply(py, null);
    assert.deepEqual(bad, { re: null, ok: false, error: { code: 'BAD_JSON', message: 'message is not valid JSON' } });
    py.send('{"id": "x", "op": "teleport"}');
    assert.equal(((await reply(py, 'x'))['error'] as Json)['code'], 'UNKNOWN_TYPE');
    py.send('{"id": "m", "op": "job.submit", "printer": "py-1/0"}');
    assert.equal(((await reply(py, 'm'))['error'] as Json)['code'], 'MISSING_FIELD');
  });

  it('prints text lines in cp437 through the device', async () => {
    py.send('{"id": 2, "op": "job.submit", "printer": "py-1/0", "lines": ["Hello from Python", "Åse £3"], "eol": "crlf", "encoding": "cp437"}');
    const submitted = await reply(py, 2);
    assert.equal(submitted['ok'], true, JSON.stringify(submitted));
    const job = submitted['result'] as { id: string; size: number };
    const start = await dev.jobStart();
    assert.equal(start['id'], job.id);
    dev.sendJson({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
    const { payload } = await dev.frame();
    assert.deepEqual([...payload], [...Buffer.from('Hello from Python\r\n'), 0x8f, ...Buffer.from('se '), 0x9c, 0x33, 0x0d, 0x0a]);
    dev.sendJson({ t: 'job.done', id: job.id });
    // The connection that submitted the job hears it finish without subscribing.
    await py.waitForLine(() => received(py).some((m) => m['event'] === 'job.updated' && (m['job'] as Json)['id'] === job.id && (m['job'] as Json)['state'] === 'done'), { timeout: 10_000 });
  });

  it('lists itself among the clients, with its user agent and client token', async () => {
    py.send('{"id": 3, "op": "clients.list"}');
    const clients = (await reply(py, 3))['result'] as { userAgent?: string; token: string }[];
    const me = clients.find((c) => /websockets/i.test(c.userAgent ?? ''));
    assert.ok(me !== undefined, JSON.stringify(clients));
    assert.equal(me.token, 'client');
  });

  it('closes cleanly when its input ends', async () => {
    py.closeStdin();
    await py.waitForLine(/Connection closed: .*1000/, { timeout: 10_000 });
    const exit = await py.waitForExit(10_000);
    assert.equal(exit.code, 0, py.tail());
  });
});
