// Fair sharing between client connections: one connection's burst of
// requests cannot stall /healthz or the other connections, because requests
// in flight per connection are capped (RATE_LIMITED beyond the cap) and
// expensive ones (snapshots, lists) are taken in turn, one task per turn of
// the event loop, repeated ones sharing one answer.

import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../server/store/db.js';
import { addDevice, recordHello } from '../../server/store/devices.js';
import { insertJob } from '../../server/store/jobs.js';
import { Processes } from '../helpers/processes.js';
import { textFrames } from '../helpers/raw-frames.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, registerDevice, type Conn } from './peers.js';

const ADMIN = 'fair-admin-token';

/** A data dir whose device reported two ports and has `jobs` queued, written straight into the store. */
function seeded(jobs: number): string {
  const dir = tempDir('printbridge-fair-');
  const store = openStore(dir);
  try {
    addDevice(store, 'shop', []);
    recordHello(store, 'shop', { fw: 'seed', ports: [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'escpos' }] }, Date.now());
    store.stmt('BEGIN').run();
    for (let i = 0; i < jobs; i++) insertJob(store, { id: `seed-${i}`, device: 'shop', port: i % 2, data: new Uint8Array(64) }, Date.now() + i);
    store.stmt('COMMIT').run();
  } finally {
    store.close();
  }
  return dir;
}

/** `count` copies of one request, for one write. */
function burst(text: string, count: number): Buffer {
  return textFrames(Array.from({ length: count }, () => text));
}

/** Milliseconds from `since` until `conn` receives the reply to request `id`, or Infinity after `limitMs`. */
function replyTime(conn: Conn, id: string, since: number, limitMs: number): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(Infinity), limitMs);
    conn.ws.on('message', (data) => {
      if ((JSON.parse(String(data)) as Record<string, unknown>)['re'] !== id) return;
      clearTimeout(timer);
      resolve(performance.now() - since);
    });
  });
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
}

describe('fair sharing: a burst of subscribes (server in its own process)', () => {
  const procs = new Processes();
  let dir: string;
  let port: number;
  let pid: number;

  before(async () => {
    dir = seeded(1000);
    const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', dir, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN } });
    port = (await serve.waitForEvent<{ port: number }>('listening')).port;
    pid = serve.pid ?? 0;
  });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes `frames` on a fresh connection and measures how soon /healthz and another connection are answered, and the server's RSS. */
  async function underBurst(frames: Buffer): Promise<{ healthz: number; pinged: number; grewMiB: number }> {
    const t = { wsUrl: (path: string) => `ws://127.0.0.1:${port}${path}` } as TestServer;
    const other = await TestClient.connect(t, ADMIN);
    const flooder = await TestClient.connect(t, ADMIN);
    // One snapshot first: the figures below are about the burst, not the first query of the store.
    assert.equal((await flooder.call<{ jobs: unknown[] }>('subscribe')).jobs.length, 1000);
    await flooder.call('unsubscribe');
    await fetch(`http://127.0.0.1:${port}/healthz`);
    const before = rssMiB(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(pid));
    }, 20);

    const start = performance.now();
    flooder.socket?.write(frames);
    other.sendJson({ id: 'other', op: 'ping' });
    const [pinged, healthz] = await Promise.all([
      replyTime(other, 'other', start, 20_000),
      fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(20_000) }).then(
        () => performance.now() - start,
        () => Infinity,
      ),
    ]);
    // Let the replies still due go out before the memory is read.
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(sampler);
    peak = Math.max(peak, rssMiB(pid));
    other.close();
    flooder.terminate();
    return { healthz, pinged, grewMiB: peak - before };
  }

  it('answers /healthz and another client within 2 s of 64 KiB of subscribes with 1,000 queued jobs, in bounded memory', async (ctx) => {
    const frames = burst('{"op":"subscribe"}', Math.floor((64 * 1024) / 24));
    assert.equal(frames.length, 65_520);
    const { healthz, pinged, grewMiB } = await underBurst(frames);
    ctx.diagnostic(`healthz ${Math.round(healthz)} ms, other client ${Math.round(pinged)} ms, RSS +${Math.round(grewMiB)} MiB`);
    assert.ok(healthz < 2000, `/healthz answered after ${Math.round(healthz)} ms`);
    assert.ok(pinged < 2000, `another client's ping answered after ${Math.round(pinged)} ms`);
    assert.ok(grewMiB < 150, `server RSS grew by ${Math.round(grewMiB)} MiB`);
  });

  it('does the same for 64 KiB of jobs.list, each asking for a different number of the 1,000 jobs', async (ctx) => {
    const texts: string[] = [];
    for (let size = 0; size < 64 * 1024; size += 6 + texts[texts.length - 1]!.length) texts.push(`{"op":"jobs.list","limit":${1000 - (texts.length % 500)}}`);
    const { healthz, pinged, grewMiB } = await underBurst(textFrames(texts));
    ctx.diagnostic(`healthz ${Math.round(healthz)} ms, other client ${Math.round(pinged)} ms, RSS +${Math.round(grewMiB)} MiB`);
    assert.ok(healthz < 2000, `/healthz answered after ${Math.round(healthz)} ms`);
    assert.ok(pinged < 2000, `another client's ping answered after ${Math.round(pinged)} ms`);
    assert.ok(grewMiB < 150, `server RSS grew by ${Math.round(grewMiB)} MiB`);
  });
});

describe('fair sharing: requests in flight', () => {
  let t: TestServer;
  let tokens: Record<string, string>;

  before(async () => {
    t = await startTestServer({ dataDir: seeded(1000), heartbeatMs: 60_000, limits: { maxRequestsInFlight: 2 } });
    tokens = { slow: registerDevice(t, 'slow') };
  });
  after(() => t.close());

  it('answers a request beyond maxRequestsInFlight with RATE_LIMITED at once and keeps the connection', async () => {
    const dev = await FakeDevice.connect(t, 'slow', tokens['slow'] as string);
    const client = await TestClient.connect(t);
    const first = client.request('control.send', { to: { device: 'slow' }, name: 'identify', timeout: 5000 });
    const second = client.request('control.send', { to: { device: 'slow' }, name: 'identify', timeout: 5000 });
    const a = await dev.json((m) => m['t'] === 'control', 'first control');
    const b = await dev.json((m) => m['t'] === 'control', 'second control');

    const third = await client.request('ping');
    assert.equal(third['ok'], false);
    assert.equal((third['error'] as { code: string }).code, 'RATE_LIMITED');

    dev.sendJson({ t: 'control.result', ref: a['ref'], ok: true });
    dev.sendJson({ t: 'control.result', ref: b['ref'], ok: true });
    assert.equal((await first)['ok'], true);
    assert.equal((await second)['ok'], true);
    assert.equal(await client.call('ping'), 'pong', 'the same connection is served again once its answers are out');
    client.close();
    dev.close();
  });

  it('keeps a subscribe and the unsubscribe written after it in order', async () => {
    const client = await TestClient.connect(t);
    client.socket?.write(textFrames(['{"id":"s","op":"subscribe"}', '{"id":"u","op":"unsubscribe"}']));
    await client.json((m) => m['re'] === 's', 'snapshot');
    await client.json((m) => m['re'] === 'u', 'unsubscribed');
    const me = (await client.call<{ subscribed: boolean }[]>('clients.list')).filter((c) => c.subscribed);
    assert.deepEqual(me, []);
    client.close();
  });
});
