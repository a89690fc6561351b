// Exactly once, or failed with a reason: real processes only — a
// `printbridge serve`, a bridge process whose printer port runs at a UART's
// pace, and a printer emulator on a PTY behind it. A job is thus on its way
// from server to bridge for as long as it takes to print, and the queue is
// kept long enough that one always is when a blow lands (loopback TCP, or an
// unpaced PTY, would swallow whole jobs in their buffers at once).
//
// 1. The server is SIGKILLed at seeded random moments, while jobs stream and
//    while a submission may be in flight, and restarted on the same data.
// 2. The bridge's link is cut (TCP reset through a proxy) at seeded random
//    moments, sometimes again while it reconnects.
// 3. The bridge process itself is SIGKILLed and started again: it forgets
//    the job it had, so that job must fail with JOB_INTERRUPTED rather than
//    print again from the start.
//
// Every job has a distinct random payload and an idempotency key (a submit
// whose reply was lost is retried with the same key). In the end every job
// must be done or failed with JOB_INTERRUPTED, and the emulator's byte
// stream must be exactly the jobs in order: each done job whole (by SHA-256),
// each failed one a prefix of itself — so no byte was printed twice, none
// lost, nothing interleaved. Each scenario also checks that most blows landed
// while a job was being sent to the bridge, so it cannot pass vacuously.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test, type TestContext } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { isErrorCode } from '../../protocol/errors.js';
import { addDevice } from '../../server/store/devices.js';
import { openStore } from '../../server/store/db.js';
import { connectClient, type Client, type Op, type RequestFields } from '../../tools/client/client.js';
import { Processes, REPO_ROOT, type Proc } from '../helpers/processes.js';
import { randomBytes, seeded } from '../helpers/random.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { sha256, tempDir } from '../tools/emulator-fixture.js';

const ADMIN = 'exactly-once-admin';
/** The bridge's UART pace, 92 KB/s: a 24–96 KiB job is on its way for a quarter of a second to a second. */
const LINE_BAUD = 921_600;
/** The printer takes bytes faster than the line brings them, so it never holds back. */
const PRINTER_BAUD = 2 * LINE_BAUD;
const BLOWS = 20;
const BRIDGE_KILLS = 8;
/** Bytes kept waiting for the printer port before each blow. */
const BACKLOG = 150 * 1024;
const BRIDGE = join(REPO_ROOT, 'test/e2e/exactly-once-bridge.ts');

const procs = new Processes();
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await procs.killAll();
});

interface Served {
  proc: Proc;
  port: number;
}

async function serve(data: string, port = 0): Promise<Served> {
  const proc = procs.cli(['serve', '--host', '127.0.0.1', '--port', String(port), '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN } });
  const listening = await proc.waitForEvent<{ event: string; port: number }>('listening', { timeout: 20_000 });
  return { proc, port: listening.port };
}

/** Client calls that survive the server dying under them: reconnect and retry until `deadline`. */
class Api {
  private client: Promise<Client> | undefined;

  constructor(private readonly url: () => string) {}

  async call<O extends Op>(op: O, fields: RequestFields<O>, deadlineMs = 30_000): Promise<unknown> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      try {
        this.client ??= connectClient(this.url(), ADMIN, { connectTimeout: 2000 });
        return await (await this.client).request(op, fields);
      } catch (e) {
        // A refusal by the server (a protocol error code) is an answer; a lost or refused connection is not.
        if (isErrorCode((e as { code?: unknown }).code)) throw e;
        const dead = this.client;
        this.client = undefined;
        void dead?.then((c) => c.close()).catch(() => {});
        if (Date.now() > end) throw e;
        await delay(50);
      }
    }
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.then((x) => x.close()).catch(() => {});
  }
}

interface Rig {
  data: string;
  out: string;
  emulator: Proc;
  bridge: Proc;
  startBridge(): Promise<Proc>;
  api: Api;
  server: Served;
}

/** A data dir with the device registered, a server, a paced PTY emulator and the bridge (through a cuttable proxy if asked). */
async function rig(name: string, viaProxy: boolean): Promise<Rig & { proxy: TcpProxy | undefined }> {
  const { dir, cleanup } = tempDir(`printbridge-once-${name}-`);
  cleanups.push(cleanup);
  const data = join(dir, 'data');
  const store = openStore(data);
  const token = addDevice(store, name, []);
  store.close();
  const server = await serve(data);
  const proxy = viaProxy ? await startTcpProxy(server.port) : undefined;
  if (proxy !== undefined) cleanups.push(() => proxy.close());

  const out = join(dir, 'printer.bin');
  const emulator = procs.cli(['emulate', '--dialect', 'raw', '--pty', join(dir, 'tty'), '--out', out, '--baud', String(PRINTER_BAUD)]);
  const { path } = await emulator.waitForEvent<{ event: string; path: string }>('pty', { timeout: 20_000 });
  const startBridge = async (): Promise<Proc> => {
    const p = procs.spawn(process.execPath, ['--import', 'tsx', BRIDGE, `ws://127.0.0.1:${proxy?.port ?? r.server.port}`, name, token, `serial:${path}@115200`, String(LINE_BAUD)], { name: `bridge ${name}` });
    await p.waitForLine(/^link online/, { stream: 'stderr', timeout: 20_000 });
    return p;
  };
  const r: Rig & { proxy: TcpProxy | undefined } = {
    data, out, emulator, server, proxy, startBridge, bridge: undefined as unknown as Proc, api: new Api(() => `ws://127.0.0.1:${r.server.port}/v1/client`),
  };
  r.bridge = await startBridge();
  cleanups.push(() => r.api.close());
  return r;
}

/** Total bytes the emulator reported taking off the wire so far. */
function received(emulator: Proc): number {
  const events = emulator.events().filter((e) => e['event'] === 'received');
  return (events.at(-1)?.['bytes'] as number | undefined) ?? 0;
}

interface Submitted {
  key: string;
  payload: Uint8Array;
}

class Workload {
  readonly jobs: Submitted[] = [];
  private readonly rnd: () => number;

  constructor(private readonly r: Rig, private readonly printer: string, private readonly seed: number) {
    this.rnd = seeded(seed);
  }

  random(): number {
    return this.rnd();
  }

  /** Submits one more job with a fresh key; retried with the same key until the server has it. */
  submit(): Promise<unknown> {
    const i = this.jobs.length;
    const payload = randomBytes(24 * 1024 + Math.floor(this.rnd() * 72 * 1024), this.seed * 1000 + i);
    const key = `${this.printer}#${i}`;
    this.jobs.push({ key, payload });
    return this.r.api.call('job.submit', { printer: this.printer, data: Buffer.from(payload).toString('base64'), key });
  }

  /**
   * Submits jobs until at least `bytes` of the queue have not reached the
   * printer port yet. The PTY, socat and its pipe buffer some 100 KiB, so
   * with more than that waiting a job is always on its way to the bridge.
   */
  async topUp(bytes: number): Promise<void> {
    for (;;) {
      const list = (await this.r.api.call('jobs.list', { printer: this.printer, limit: 1000 })) as JobView[];
      const waiting = list.filter((j) => !['done', 'failed', 'canceled'].includes(j.state)).reduce((n, j) => n + j.size - j.written, 0);
      if (waiting >= bytes) return;
      await this.submit();
    }
  }

  /** Whether a job is being sent to the bridge right now: started and not yet all handed to the printer port. */
  async sending(): Promise<boolean> {
    const list = (await this.r.api.call('jobs.list', { printer: this.printer, state: 'sending', limit: 10 })) as JobView[];
    return list.some((j) => j.started !== undefined);
  }

  /** Waits until every job is done, failed or canceled, and returns them oldest first. */
  async finished(): Promise<JobView[]> {
    const end = Date.now() + 60_000;
    for (;;) {
      const list = (await this.r.api.call('jobs.list', { printer: this.printer, limit: 1000 })) as JobView[];
      if (list.length === this.jobs.length && list.every((j) => ['done', 'failed', 'canceled'].includes(j.state))) return list.reverse();
      if (Date.now() > end) throw new Error(`jobs did not finish: ${JSON.stringify(list.map((j) => [j.key, j.state, j.written, j.size]))}\n${this.r.bridge.tail(20)}`);
      await delay(200);
    }
  }
}

/**
 * Explains the printer's byte stream as the jobs in order: a done job whole,
 * a failed one as some prefix of itself. Returns where each job's bytes lie,
 * or undefined if the stream is anything else (a byte twice, one missing,
 * foreign bytes).
 */
export function explain(out: Uint8Array, jobs: { state: string; payload: Uint8Array }[]): [number, number][] | undefined {
  const spans: [number, number][] = [];
  const from = (i: number, pos: number): boolean => {
    if (i === jobs.length) return pos === out.length;
    const { state, payload } = jobs[i]!;
    if (state === 'done') {
      if (pos + payload.length > out.length || sha256(out.subarray(pos, pos + payload.length)) !== sha256(payload)) return false;
      spans[i] = [pos, pos + payload.length];
      return from(i + 1, pos + payload.length);
    }
    let common = 0;
    while (common < payload.length && pos + common < out.length && out[pos + common] === payload[common]) common++;
    // Longest first; a random byte of the next job may match by chance, so shorter prefixes are tried too.
    for (let k = common; k >= 0; k--) {
      spans[i] = [pos, pos + k];
      if (from(i + 1, pos + k)) return true;
    }
    return false;
  };
  return from(0, 0) ? spans : undefined;
}

interface Blow {
  /** Bytes the printer had taken when the blow landed. */
  printed: number;
  /** A job was on its way from server to bridge. */
  sending: boolean;
}

async function blow(r: Rig, work: Workload): Promise<Blow> {
  return { sending: await work.sending(), printed: received(r.emulator) };
}

async function verify(t: TestContext, r: Rig, work: Workload, blows: Blow[], what: string): Promise<void> {
  const list = await work.finished();
  const byKey = new Map(work.jobs.map((j) => [j.key, j.payload]));
  assert.equal(new Set(list.map((j) => j.key)).size, work.jobs.length, 'one job per idempotency key');
  for (const job of list) {
    assert.ok(job.state === 'done' || (job.state === 'failed' && job.error?.code === 'JOB_INTERRUPTED'), `${job.key}: ${job.state} ${JSON.stringify(job.error)}`);
  }
  const done = list.filter((j) => j.state === 'done');
  const doneBytes = done.reduce((n, j) => n + j.size, 0);
  // Failed jobs left a prefix of unknown length, and a broken server could
  // have sent more: wait for the done bytes, then for the stream to stop.
  await r.emulator.waitForEvent((e) => e['event'] === 'received' && (e['bytes'] as number) >= doneBytes, { timeout: 30_000 });
  for (let last = -1; last !== received(r.emulator); ) {
    last = received(r.emulator);
    await delay(400);
  }
  const out = readFileSync(r.out);
  const spans = explain(out, list.map((j) => ({ state: j.state, payload: byKey.get(j.key ?? '') ?? new Uint8Array() })));
  assert.ok(spans !== undefined, `the printer's ${out.length} bytes are not the ${list.length} jobs in order, each once (${done.length} done, ${doneBytes} bytes)`);
  const midPrint = blows.filter(({ printed }) => spans.some(([a, b]) => a < printed && printed < b)).length;
  const midSend = blows.filter((b) => b.sending).length;
  const failed = list.filter((j) => j.state === 'failed');
  t.diagnostic(
    `${what}: ${blows.length} blows, ${midSend} while a job was being sent, ${midPrint} while the printer was mid-job; ` +
      `${list.length} jobs: ${done.length} done, ${failed.length} failed (${failed.map((j) => `${spans[list.indexOf(j)]?.map(String).join('..')}`).join(', ')}); ${out.length} bytes printed`,
  );
  assert.ok(midSend >= blows.length / 2, `only ${midSend} of ${blows.length} blows landed while a job was being sent`);
}

test(`exactly once across ${BLOWS} server SIGKILLs at random moments`, async (t) => {
  const r = await rig('crash', false);
  const work = new Workload(r, 'crash/0', 0xc0ffee);
  const blows: Blow[] = [];
  for (let k = 0; k < BLOWS; k++) {
    await work.topUp(BACKLOG);
    // This submission may still be on its way when the server dies: it is retried with its key.
    const submitting = work.submit();
    await delay(50 + work.random() * 700);
    blows.push(await blow(r, work));
    await r.server.proc.kill('SIGKILL');
    // Sometimes the bridge finds nobody listening for a while.
    if (work.random() < 0.3) await delay(work.random() * 400);
    r.server = await serve(r.data, r.server.port);
    await submitting;
  }
  await verify(t, r, work, blows, 'server kills');
  assert.ok((r.bridge.stderr.match(/^link online/gm)?.length ?? 0) > BLOWS / 2, 'the bridge came back after the kills');
});

test(`exactly once across ${BLOWS} device link cuts at random moments`, async (t) => {
  const r = await rig('cut', true);
  const proxy = r.proxy as TcpProxy;
  const work = new Workload(r, 'cut/0', 0xbadcab);
  const blows: Blow[] = [];
  for (let k = 0; k < BLOWS; k++) {
    await work.topUp(BACKLOG);
    await delay(50 + work.random() * 700);
    blows.push(await blow(r, work));
    proxy.cut();
    // Sometimes again while the bridge reconnects (during its hello or the job's re-offer).
    if (work.random() < 0.3) {
      await delay(work.random() * 150);
      proxy.cut();
    }
  }
  await verify(t, r, work, blows, 'link cuts');
  assert.ok(proxy.cuts >= BLOWS / 2, `${proxy.cuts} live connections were cut`);
});

test(`a bridge SIGKILLed ${BRIDGE_KILLS} times fails the job it forgot with JOB_INTERRUPTED and never prints it again`, async (t) => {
  const r = await rig('amnesia', false);
  const work = new Workload(r, 'amnesia/0', 0xfeed);
  const blows: Blow[] = [];
  for (let k = 0; k < BRIDGE_KILLS; k++) {
    await work.topUp(BACKLOG);
    await delay(50 + work.random() * 700);
    blows.push(await blow(r, work));
    await r.bridge.kill('SIGKILL');
    r.bridge = await r.startBridge();
  }
  await verify(t, r, work, blows, 'bridge kills');
  const failed = ((await r.api.call('jobs.list', { printer: 'amnesia/0', state: 'failed' })) as JobView[]).length;
  assert.ok(failed >= 1, 'a bridge that forgot a started job made it fail');
});

test('the stream check itself: a byte twice, a missing byte or a foreign prefix is caught', () => {
  const a = randomBytes(50, 1);
  const b = randomBytes(40, 2);
  const cat = (...parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
  const done = (payload: Uint8Array) => ({ state: 'done', payload });
  const failed = (payload: Uint8Array) => ({ state: 'failed', payload });
  assert.deepEqual(explain(cat(a, b), [done(a), done(b)]), [[0, 50], [50, 90]]);
  assert.deepEqual(explain(cat(a.subarray(0, 20), b), [failed(a), done(b)]), [[0, 20], [20, 60]]);
  assert.deepEqual(explain(cat(b), [failed(a), done(b)]), [[0, 0], [0, 40]]);
  assert.equal(explain(cat(a, a.subarray(45), b), [done(a), done(b)]), undefined, 'a repeated tail');
  assert.equal(explain(cat(a.subarray(0, 20), a.subarray(10, 20), b), [failed(a), done(b)]), undefined, 'a resent piece');
  assert.equal(explain(cat(a.subarray(1), b), [done(a), done(b)]), undefined, 'a lost byte');
  assert.equal(explain(cat(b, a), [done(a), done(b)]), undefined, 'out of order');
});
