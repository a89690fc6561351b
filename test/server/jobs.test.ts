// Job streaming against a scripted device over real sockets: the credit
// window, resume after a reconnect, JOB_INTERRUPTED, FIFO per printer,
// cancel, idempotency keys, submit validation and limits, and jobs that
// survive their client and a server restart.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, eventually, registerDevice, reportPorts, type DeviceOptions } from './peers.js';

interface Start {
  id: string;
  stream: number;
  port: number;
  size: number;
}

interface Job {
  id: string;
  printer: string;
  state: string;
  size: number;
  written: number;
  progress: number;
  key?: string;
  error?: { code: string; message: string };
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

async function start(dev: FakeDevice): Promise<Start> {
  return (await dev.jobStart()) as unknown as Start;
}

/**
 * Plays the device side of a job from `received`/`written`: checks every frame
 * (stream, contiguous offset, chunk size, credit window) and acks half of
 * what is in flight each time the window is full, so the server must work
 * with partial credit. Stops once `until` bytes have arrived.
 */
async function receive(dev: FakeDevice, job: Start, from: { received: number; written: number }, until = job.size): Promise<{ bytes: Buffer; received: number; written: number }> {
  let { received, written } = from;
  const chunks: Buffer[] = [];
  while (received < until) {
    const f = await dev.frame();
    assert.equal(f.stream, job.stream, 'frame names the job stream');
    assert.equal(f.offset, received, 'frames are contiguous');
    assert.ok(f.payload.length > 0 && f.payload.length <= dev.maxChunk, `chunk of ${f.payload.length} within maxChunk ${dev.maxChunk}`);
    received += f.payload.length;
    chunks.push(f.payload);
    assert.ok(received - written <= dev.window, `in flight ${received - written} exceeds window ${dev.window}`);
    if (received - written === dev.window) {
      // The window is full: a correct server sends nothing more until an ack.
      // Give one that ignores the window the chance to show it.
      await delay(15);
      assert.equal(dev.inbox.items.filter((x) => x.kind === 'binary').length, 0, 'no frame beyond the window');
      written += Math.ceil((received - written) / 2);
      dev.sendJson({ t: 'job.ack', id: job.id, written });
    }
  }
  return { bytes: Buffer.concat(chunks), received, written };
}

async function printWhole(dev: FakeDevice, job: Start, data?: Uint8Array): Promise<void> {
  dev.sendJson({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
  const got = await receive(dev, job, { received: 0, written: 0 });
  if (data !== undefined) assert.deepEqual(got.bytes, Buffer.from(data));
  dev.sendJson({ t: 'job.ack', id: job.id, written: job.size });
  dev.sendJson({ t: 'job.done', id: job.id });
}

async function jobState(client: TestClient, id: string, state: string): Promise<Job> {
  let job: Job | undefined;
  await eventually(async () => (job = await client.call<Job>('job.get', { job: id })).state === state, `job ${id} ${state}`);
  return job as Job;
}

describe('jobs: streaming', () => {
  let t: TestServer;
  let token: string;
  const dev = (opts: DeviceOptions = {}) => FakeDevice.connect(t, 'p1', token, { window: 256, maxChunk: 64, ...opts });

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    token = registerDevice(t, 'p1');
  });
  after(() => t.close());

  it('streams a job within the credit window and chunk size, byte-exact, to done', async () => {
    const device = await dev();
    const client = await TestClient.connect(t);
    const bystander = await TestClient.connect(t);
    const data = randomBytes(3000);
    const submitted = await client.call<Job>('job.submit', { printer: 'p1/0', data: b64(data) });
    assert.equal(submitted.printer, 'p1/0');
    assert.equal(submitted.size, 3000);

    const job = await start(device);
    assert.deepEqual({ id: job.id, port: job.port, size: job.size }, { id: submitted.id, port: 0, size: 3000 });
    await printWhole(device, job, data);

    // The submitter hears about its own job without subscribing, up to the end.
    const states: string[] = [];
    for (;;) {
      const e = await client.event('job.updated');
      const j = e['job'] as Job;
      assert.equal(j.id, job.id);
      states.push(j.state);
      if (j.state === 'done') {
        assert.equal(j.written, 3000);
        assert.equal(j.progress, 1);
        break;
      }
    }
    assert.ok(states.includes('printing'), `went through printing: ${states.join(',')}`);
    // Others do not, unless they subscribe.
    await bystander.call('ping');
    assert.equal(bystander.inbox.items.length, 0);
    device.close();
    client.close();
    bystander.close();
  });

  it('resumes after a reconnect from what the device still holds, never resending written bytes', async () => {
    const client = await TestClient.connect(t);
    const data = randomBytes(2000);
    const first = await dev();
    const { id } = await client.call<Job>('job.submit', { printer: 'p1/0', data: b64(data) });
    const job = await start(first);
    first.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    const part = await receive(first, job, { received: 0, written: 0 }, 600);
    const acked = part.received - 100;
    first.sendJson({ t: 'job.ack', id, written: acked });
    await eventually(async () => (await client.call<Job>('job.get', { job: id })).written === acked, 'ack stored');
    first.terminate();
    const interrupted = await jobState(client, id, 'sending');
    assert.equal(interrupted.written, acked);

    // The device lost the last 50 bytes it had buffered and wrote 20 more meanwhile.
    const held = part.received - 50;
    const second = await dev();
    const again = await start(second);
    assert.equal(again.id, id);
    second.sendJson({ t: 'job.accept', id, received: held, written: acked + 20, fresh: false });
    const rest = await receive(second, again, { received: held, written: acked + 20 });
    assert.deepEqual(Buffer.concat([part.bytes.subarray(0, held), rest.bytes]), data);
    second.sendJson({ t: 'job.ack', id, written: 2000 });
    second.sendJson({ t: 'job.done', id });
    const done = await jobState(client, id, 'done');
    assert.equal(done.written, 2000);
    second.close();
    client.close();
  });

  it('moves a job mid-stream to a newer connection of the same device, which resumes it', async () => {
    const client = await TestClient.connect(t);
    const data = randomBytes(1200);
    const old = await dev();
    const { id } = await client.call<Job>('job.submit', { printer: 'p1/0', data: b64(data) });
    const job = await start(old);
    old.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    const part = await receive(old, job, { received: 0, written: 0 }, 256);

    // The same board reconnected (its old socket is not dead yet): the newer connection wins.
    const fresh = await dev();
    assert.equal(await old.closeCode(), 4001);
    const again = await start(fresh);
    assert.equal(again.id, id);
    fresh.sendJson({ t: 'job.accept', id, received: part.received, written: part.written, fresh: false });
    const rest = await receive(fresh, again, part);
    assert.deepEqual(Buffer.concat([part.bytes, rest.bytes]), data);
    fresh.sendJson({ t: 'job.ack', id, written: data.length });
    fresh.sendJson({ t: 'job.done', id });
    await jobState(client, id, 'done');
    fresh.close();
    client.close();
  });

  it('fails a started job with JOB_INTERRUPTED when the device comes back without it, and moves on', async () => {
    const client = await TestClient.connect(t);
    const first = await dev();
    const a = await client.call<Job>('job.submit', { printer: 'p1/0', data: b64(randomBytes(1000)) });
    const b = await client.call<Job>('job.submit', { printer: 'p1/0', data: b64(randomBytes(100)) });
    const job = await start(first);
    assert.equal(job.id, a.id);
    first.sendJson({ t: 'job.accept', id: a.id, received: 0, written: 0, fresh: true });
    await receive(first, job, { received: 0, written: 0 }, 64);
    first.terminate();

    const second = await dev();
    const offered = await start(second);
    assert.equal(offered.id, a.id);
    second.sendJson({ t: 'job.accept', id: a.id, received: 0, written: 0, fresh: true });
    assert.deepEqual(await second.json((m) => m['t'] === 'job.cancel'), { t: 'job.cancel', id: a.id });
    const failed = await jobState(client, a.id, 'failed');
    assert.equal(failed.error?.code, 'JOB_INTERRUPTED');
    // Not a single byte of it is sent again; the next job follows.
    const next = await start(second);
    assert.equal(next.id, b.id);
    await printWhole(second, next);
    await jobState(client, b.id, 'done');
    assert.equal(second.inbox.items.filter((x) => x.kind === 'binary').length, 0);
    second.close();
    client.close();
  });

  it('restarts from byte 0 a job whose device forgot it before any byte was sent', async () => {
    const client = await TestClient.connect(t);
    const first = await dev();
    const data = randomBytes(500);
    const { id } = await client.call<Job>('job.submit', { printer: 'p1/0', data: b64(data) });
    await start(first);
    first.terminate(); // gone before accepting: nothing was sent

    const second = await dev();
    const job = await start(second);
    assert.equal(job.id, id);
    await printWhole(second, job, data);
    await jobState(client, id, 'done');
    second.close();
    client.close();
  });

  it('records job.fail with the device code and offers the next job', async () => {
    const client = await TestClient.connect(t);
    const device = await dev();
    const a = await client.call<Job>('job.submit', { printer: 'p1/0', data: b64(randomBytes(10)) });
    const b = await client.call<Job>('job.submit', { printer: 'p1/0', data: b64(randomBytes(10)) });
    await start(device);
    device.sendJson({ t: 'job.fail', id: a.id, code: 'PRINTER_UNREACHABLE', message: 'no paper path' });
    const failed = await jobState(client, a.id, 'failed');
    assert.deepEqual(failed.error, { code: 'PRINTER_UNREACHABLE', message: 'no paper path' });
    assert.equal((await start(device)).id, b.id);
    device.sendJson({ t: 'job.done', id: b.id });
    await jobState(client, b.id, 'done');
    device.close();
    client.close();
  });

  it('answers acks that go back or beyond what was sent with BAD_FIELD, and unknown jobs with UNKNOWN_JOB', async () => {
    const client = await TestClient.connect(t);
    const device = await dev();
    const { id } = await client.call<Job>('job.submit', { printer: 'p1/0', data: b64(randomBytes(1000)) });
    await start(device);
    device.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    // Without acks the server stops at the window: exactly 256 bytes sent.
    for (let got = 0; got < 256; ) got += (await device.frame()).payload.length;
    device.sendJson({ t: 'job.ack', id, written: 257 });
    assert.equal((await device.json((m) => m['t'] === 'error'))['code'], 'BAD_FIELD');
    device.sendJson({ t: 'job.ack', id, written: 200 });
    device.sendJson({ t: 'job.ack', id, written: 100 });
    assert.equal((await device.json((m) => m['t'] === 'error'))['code'], 'BAD_FIELD');
    await eventually(async () => (await client.call<Job>('job.get', { job: id })).written === 200, 'valid ack kept');
    device.sendJson({ t: 'job.ack', id: 'no-such-job', written: 1 });
    assert.equal((await device.json((m) => m['t'] === 'error'))['code'], 'UNKNOWN_JOB');
    await client.call('job.cancel', { job: id });
    await device.json((m) => m['t'] === 'job.cancel');
    device.close();
    client.close();
  });
});

describe('jobs: queues', () => {
  let t: TestServer;
  let token: string;
  const ports = [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'zpl' }];

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxQueue: 3, maxJobBytes: 4096 } });
    token = registerDevice(t, 'q');
    // Its printers take jobs before it is back: it reported them once.
    reportPorts(t, 'q', ports);
    registerDevice(t, 'never-seen');
  });
  after(() => t.close());

  it('prints each printer queue in submission order, printers independently', async () => {
    const client = await TestClient.connect(t);
    const submit = async (printer: string) => (await client.call<Job>('job.submit', { printer, data: b64(randomBytes(50)) })).id;
    const a = await submit('q/0');
    const b = await submit('q/0');
    const c = await submit('q/0');
    const d = await submit('q/1');
    const device = await FakeDevice.connect(t, 'q', token, { ports });
    const offered = [await start(device), await start(device)];
    assert.deepEqual(offered.map((j) => [j.port, j.id]).sort(), [[0, a], [1, d]].sort());
    for (const expected of [a, b, c]) {
      const job = offered.find((j) => j.port === 0) ?? (await start(device));
      offered.splice(offered.indexOf(job), 1);
      assert.equal(job.id, expected);
      device.sendJson({ t: 'job.done', id: job.id });
    }
    device.sendJson({ t: 'job.done', id: d });
    await jobState(client, d, 'done');
    await jobState(client, c, 'done');
    device.close();
    client.close();
  });

  it('returns the existing job for a repeated idempotency key and prints it once', async () => {
    const client = await TestClient.connect(t);
    const data = b64(randomBytes(20));
    const first = await client.call<Job>('job.submit', { printer: 'q/0', data, key: 'order-42' });
    const again = await client.call<Job>('job.submit', { printer: 'q/0', data, key: 'order-42' });
    assert.equal(again.id, first.id);
    assert.equal(again.key, 'order-42');
    const elsewhere = await client.call<Job>('job.submit', { printer: 'q/1', data, key: 'order-42' });
    assert.notEqual(elsewhere.id, first.id);

    const device = await FakeDevice.connect(t, 'q', token, { ports });
    const starts = [await start(device), await start(device)];
    for (const s of starts) device.sendJson({ t: 'job.done', id: s.id });
    await jobState(client, first.id, 'done');
    // After it printed, the same key still names the same (done) job.
    const later = await client.call<Job>('job.submit', { printer: 'q/0', data, key: 'order-42' });
    assert.deepEqual([later.id, later.state], [first.id, 'done']);
    await client.call('ping');
    assert.equal(device.inbox.items.filter((x) => x.kind === 'text' && x.json['t'] === 'job.start').length, 0);
    const listed = await client.call<Job[]>('jobs.list', { printer: 'q/0' });
    assert.equal(listed.filter((j) => j.key === 'order-42').length, 1);
    device.close();
    client.close();
  });

  it('cancels queued and sending jobs, and refuses to cancel finished or unknown ones', async () => {
    const client = await TestClient.connect(t);
    const device = await FakeDevice.connect(t, 'q', token, { ports });
    const submit = async () => (await client.call<Job>('job.submit', { printer: 'q/0', data: b64(randomBytes(30)) })).id;
    const active = await submit();
    const queued = await submit();
    const last = await submit();
    assert.equal((await start(device)).id, active);

    const canceledQueued = await client.call<Job>('job.cancel', { job: queued });
    assert.equal(canceledQueued.state, 'canceled');
    assert.equal(canceledQueued.error?.code, 'JOB_CANCELED');
    const canceledActive = await client.call<Job>('job.cancel', { job: active });
    assert.equal(canceledActive.state, 'canceled');
    assert.deepEqual(await device.json((m) => m['t'] === 'job.cancel'), { t: 'job.cancel', id: active });
    // The canceled queued job is skipped.
    assert.equal((await start(device)).id, last);
    device.sendJson({ t: 'job.done', id: last });
    await jobState(client, last, 'done');

    const finished = await client.request('job.cancel', { job: last });
    assert.deepEqual([finished['ok'], (finished['error'] as Job['error'])?.code], [false, 'JOB_FINISHED']);
    const unknown = await client.request('job.cancel', { job: 'nope' });
    assert.equal((unknown['error'] as Job['error'])?.code, 'UNKNOWN_JOB');
    device.close();
    client.close();
  });

  it('refuses a job beyond maxQueue with QUEUE_FULL until the queue drains', async () => {
    const client = await TestClient.connect(t);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await client.call<Job>('job.submit', { printer: 'q/1', data: b64(randomBytes(5)) })).id);
    const full = await client.request('job.submit', { printer: 'q/1', data: b64(randomBytes(5)) });
    assert.equal((full['error'] as Job['error'])?.code, 'QUEUE_FULL');
    await client.call('job.cancel', { job: ids[0] });
    await client.call('job.submit', { printer: 'q/1', data: b64(randomBytes(5)) });
    for (const job of (await client.call<Job[]>('jobs.list', { printer: 'q/1' })).filter((j) => j.state === 'queued')) {
      await client.call('job.cancel', { job: job.id });
    }
    client.close();
  });

  it('validates submit: printer, port, size limit and strict base64', async () => {
    const client = await TestClient.connect(t);
    const code = async (fields: Record<string, unknown>) => ((await client.request('job.submit', fields))['error'] as Job['error'])?.code;
    const ok = b64(randomBytes(6));
    assert.equal(await code({ printer: 'ghost/0', data: ok }), 'UNKNOWN_PRINTER');
    assert.equal(await code({ printer: 'q/7', data: ok }), 'UNKNOWN_PRINTER'); // q reported ports 0 and 1
    assert.equal(await code({ printer: 'q', data: ok }), 'BAD_FIELD');
    assert.equal(await code({ printer: 'q/256', data: ok }), 'BAD_FIELD');
    assert.equal(await code({ printer: 'q/0' }), 'MISSING_FIELD');
    for (const bad of ['AAA', 'AAAA=', 'AA=A', 'AA==AAAA', 'A A=', 'ab-_', 'AB==', '', '!!!!']) {
      assert.equal(await code({ printer: 'q/0', data: bad }), 'BAD_FIELD', `data ${JSON.stringify(bad)}`);
    }
    assert.equal(await code({ printer: 'q/0', data: b64(randomBytes(4097)) }), 'JOB_TOO_LARGE');
    // A device that never said hello has no printers yet.
    assert.equal(await code({ printer: 'never-seen/3', data: ok }), 'UNKNOWN_PRINTER');
    const max = await client.call<Job>('job.submit', { printer: 'q/1', data: b64(randomBytes(4096)) });
    assert.equal(max.size, 4096);
    await client.call('job.cancel', { job: max.id });
    client.close();
  });
});

describe('jobs: durability', () => {
  let t: TestServer;
  let token: string;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    token = registerDevice(t, 'dur');
    reportPorts(t, 'dur');
  });
  after(() => t.close());

  it('keeps a job whose client disconnected right after submitting', async () => {
    const client = await TestClient.connect(t);
    const data = randomBytes(300);
    const { id } = await client.call<Job>('job.submit', { printer: 'dur/0', data: b64(data) });
    client.close();
    await client.closeCode();
    await connectAndPrint(id, data);
  });

  /** A device connects, is offered job `id` first and prints exactly `data`; a client then sees it done. */
  async function connectAndPrint(id: string, data: Uint8Array): Promise<void> {
    const device = await FakeDevice.connect(t, 'dur', token);
    const job = await start(device);
    assert.equal(job.id, id);
    await printWhole(device, job, data);
    const watcher = await TestClient.connect(t);
    await jobState(watcher, id, 'done');
    device.close();
    watcher.close();
  }

  it('still has a queued job after a restart, and prints it', async () => {
    const client = await TestClient.connect(t);
    const data = randomBytes(700);
    const { id } = await client.call<Job>('job.submit', { printer: 'dur/0', data: b64(data) });
    t = await t.restart();
    assert.equal(await client.closeCode(), 1001);

    await connectAndPrint(id, data);
  });

  it('resumes a job interrupted by a restart from what the device holds', async () => {
    const client = await TestClient.connect(t);
    const data = randomBytes(1500);
    const { id } = await client.call<Job>('job.submit', { printer: 'dur/0', data: b64(data) });
    const first = await FakeDevice.connect(t, 'dur', token, { window: 512, maxChunk: 128 });
    const job = await start(first);
    first.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    const part = await receive(first, job, { received: 0, written: 0 }, 512);
    first.sendJson({ t: 'job.ack', id, written: 512 });
    await eventually(async () => (await client.call<Job>('job.get', { job: id })).written === 512, 'ack stored');
    t = await t.restart();
    assert.equal(await first.closeCode(), 1001);

    const watcher = await TestClient.connect(t);
    assert.equal((await watcher.call<Job>('job.get', { job: id })).state, 'sending');
    const second = await FakeDevice.connect(t, 'dur', token, { window: 512, maxChunk: 128 });
    const again = await start(second);
    assert.equal(again.id, id);
    second.sendJson({ t: 'job.accept', id, received: 512, written: 512, fresh: false });
    const rest = await receive(second, again, { received: 512, written: 512 });
    assert.deepEqual(Buffer.concat([part.bytes, rest.bytes]), data);
    second.sendJson({ t: 'job.ack', id, written: 1500 });
    second.sendJson({ t: 'job.done', id });
    await jobState(watcher, id, 'done');
    second.close();
    watcher.close();
  });
});
