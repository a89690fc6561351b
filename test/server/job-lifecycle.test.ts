// The job lifecycle over real sockets against a scripted device: a client's
// pause and resume, the printer's own pause (job.state), printer queue pause,
// resume and cancel, refusals with stable codes, timestamps, listing by
// state, printer status forwarding, retention and expiry on the server's own
// timer, and what survives a restart. A subscribed watcher records every
// state change it sees; the last test checks that each move in the
// transition table really happened somewhere in this file.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { JobState, JobView, PrinterView } from '../../protocol/client-messages.js';
import { TRANSITIONS } from '../../server/core/job-states.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, eventually, health, registerDevice, reportPorts, type DeviceOptions } from './peers.js';

interface Start {
  id: string;
  stream: number;
  port: number;
  size: number;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** Every state change any watcher saw, as "from→to". */
const seen = new Set<string>();

/** Subscribes and records the state changes of every job in job.updated events. */
async function watch(t: TestServer): Promise<TestClient> {
  const watcher = await TestClient.connect(t);
  const last = new Map<string, string>();
  watcher.ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(String(data)) as { event?: string; job?: JobView };
    if (m.event !== 'job.updated' || m.job === undefined) return;
    const before = last.get(m.job.id);
    if (before !== undefined && before !== m.job.state) seen.add(`${before}→${m.job.state}`);
    last.set(m.job.id, m.job.state);
  });
  await watcher.call('subscribe');
  return watcher;
}

/** The next job.start. Frames that arrived before it belong to earlier jobs (one port per test) and are dropped. */
async function start(dev: FakeDevice): Promise<Start> {
  const s = (await dev.jobStart()) as unknown as Start;
  for (let i = dev.inbox.items.length - 1; i >= 0; i--) if (dev.inbox.items[i]?.kind === 'binary') dev.inbox.items.splice(i, 1);
  return s;
}

/** A round trip on the device's socket: whatever the server sent in answer to earlier device messages is in the inbox now. */
async function sync(dev: FakeDevice): Promise<void> {
  dev.sendJson({ t: 'ping' });
  await dev.json((m) => m['t'] === 'pong', 'pong');
}

function unclaimed(dev: FakeDevice, what: 'binary' | string): number {
  return dev.inbox.items.filter((x) => (what === 'binary' ? x.kind === 'binary' : x.kind === 'text' && x.json['t'] === what)).length;
}

/** Takes frames until `until` bytes arrived, acking each full window and the end. Returns the bytes and offsets. */
async function stream(dev: FakeDevice, job: Start, from: { received: number; written: number }, until = job.size) {
  let { received, written } = from;
  const chunks: Buffer[] = [];
  while (received < until) {
    const f = await dev.frame();
    assert.equal(f.offset, received, 'frames are contiguous');
    received += f.payload.length;
    chunks.push(f.payload);
    assert.ok(received - written <= dev.window, 'within the credit window');
    if (received - written === dev.window || received === job.size) {
      written = received;
      dev.sendJson({ t: 'job.ack', id: job.id, written });
    }
  }
  return { bytes: Buffer.concat(chunks), received, written };
}

/** Takes frames without acking until `n` bytes arrived. */
async function take(dev: FakeDevice, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const f = await dev.frame();
    chunks.push(f.payload);
    got += f.payload.length;
  }
  return Buffer.concat(chunks);
}

async function jobState(client: TestClient, id: string, state: JobState): Promise<JobView> {
  let job: JobView | undefined;
  await eventually(async () => (job = await client.call<JobView>('job.get', { job: id })).state === state, `job ${id} ${state}`);
  return job as JobView;
}

async function code(client: TestClient, op: string, fields: Record<string, unknown>): Promise<string | undefined> {
  const reply = await client.request(op, fields);
  return reply['ok'] === true ? undefined : (reply['error'] as { code: string }).code;
}

describe('job lifecycle: pause, resume, the printer holding a job', () => {
  let t: TestServer;
  let token: string;
  let client: TestClient;
  const dev = (opts: DeviceOptions = {}) => FakeDevice.connect(t, 'lc', token, { window: 256, maxChunk: 64, ...opts });
  const submit = async (data: Uint8Array, printer = 'lc/0') => client.call<JobView>('job.submit', { printer, data: b64(data) });

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    token = registerDevice(t, 'lc');
    registerDevice(t, 'idle');
    // Their printers take jobs while they are offline: they reported them once.
    reportPorts(t, 'lc');
    reportPorts(t, 'idle');
    await watch(t);
    client = await TestClient.connect(t);
  });
  after(async () => {
    client.close();
    await t.close();
  });

  it('goes queued → paused → queued → sending → printing → done, with its timestamps', async () => {
    const data = randomBytes(300);
    const before = Date.now();
    const job = await submit(data); // the device is not connected yet
    assert.deepEqual([job.state, job.started, job.finished, job.held], ['queued', undefined, undefined, undefined]);
    assert.ok(job.created >= before && job.updated === job.created);

    const paused = await client.call<JobView>('job.pause', { job: job.id });
    assert.deepEqual([paused.state, paused.held], ['paused', true]);
    assert.equal((await client.call<JobView>('job.pause', { job: job.id })).state, 'paused', 'pausing twice is harmless');
    const resumed = await client.call<JobView>('job.resume', { job: job.id });
    assert.deepEqual([resumed.state, resumed.held], ['queued', undefined]);

    const device = await dev();
    const s = await start(device);
    assert.equal(s.id, job.id);
    device.sendJson({ t: 'job.accept', id: s.id, received: 0, written: 0, fresh: true });
    const got = await stream(device, s, { received: 0, written: 0 });
    assert.deepEqual(got.bytes, data);
    const printing = await jobState(client, job.id, 'printing');
    assert.ok(printing.started !== undefined && printing.started >= job.created, 'started when the first byte left');
    assert.equal(printing.finished, undefined);
    device.sendJson({ t: 'job.done', id: s.id });
    const done = await jobState(client, job.id, 'done');
    assert.deepEqual([done.written, done.progress, done.started], [300, 1, printing.started]);
    assert.ok(done.finished !== undefined && done.finished >= (done.started ?? Infinity) && done.updated === done.finished);
    device.close();
  });

  it('a device that claims bytes of a job never sent is refused; the job is not taken for printed and survives a disconnect', async () => {
    const device = await dev();
    const data = randomBytes(200);
    const { id } = await submit(data);
    await start(device);
    // Every byte "received and written" before the server sent one: a lie.
    device.sendJson({ t: 'job.accept', id, received: 200, written: 200, fresh: false });
    const refusal = await device.json((m) => m['t'] === 'error');
    assert.equal(refusal['code'], 'BAD_FIELD');
    assert.equal((await client.call<JobView>('job.get', { job: id })).state, 'sending', 'offered, not printing');
    device.close();
    // Once a lie made it `printing`, the device leaving broke the state machine here (printing → queued).
    let after: JobView | undefined;
    await eventually(async () => (after = await client.call<JobView>('job.get', { job: id })).state === 'queued', 'the job back in the queue');
    assert.equal(after?.written, 0);
    assert.ok(!t.logs.some((l) => l.level === 'error'), t.logs.filter((l) => l.level === 'error').map((l) => l.msg).join('\n'));
    await client.call('job.cancel', { job: id });
  });

  it('a client pause stops the data and holds the job on the device; resume goes on from there', async () => {
    const device = await dev();
    const data = randomBytes(1000);
    const { id } = await submit(data);
    const s = await start(device);
    device.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    const first = await take(device, 256);

    const paused = await client.call<JobView>('job.pause', { job: id });
    assert.deepEqual([paused.state, paused.held], ['paused', true]);
    assert.deepEqual(await device.json((m) => m['t'] === 'job.pause'), { t: 'job.pause', id });
    // The device drains what it holds; the server sends nothing more while paused.
    device.sendJson({ t: 'job.ack', id, written: 256 });
    await sync(device);
    assert.equal(unclaimed(device, 'binary'), 0, 'no data while paused');
    const held = await client.call<JobView>('job.get', { job: id });
    assert.deepEqual([held.state, held.written], ['paused', 256]);

    const resumed = await client.call<JobView>('job.resume', { job: id });
    assert.equal(resumed.state, 'sending');
    assert.deepEqual(await device.json((m) => m['t'] === 'job.resume'), { t: 'job.resume', id });
    const rest = await stream(device, s, { received: 256, written: 256 });
    assert.deepEqual(Buffer.concat([first, rest.bytes]), data);
    device.sendJson({ t: 'job.done', id });
    await jobState(client, id, 'done');
    device.close();
  });

  it('the printer holds a job (job.state paused): paused with its reason, and on again, also after every byte was handed over', async () => {
    const device = await dev();
    const data = randomBytes(600);
    const { id } = await submit(data);
    const s = await start(device);
    device.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    const first = await take(device, 256);

    device.sendJson({ t: 'job.state', id, state: 'paused', code: 'PRINTER_ERROR', message: 'paper out' });
    const paused = await jobState(client, id, 'paused');
    assert.deepEqual([paused.error, paused.held], [{ code: 'PRINTER_ERROR', message: 'paper out' }, undefined]);
    device.sendJson({ t: 'job.ack', id, written: 256 });
    await sync(device);
    assert.equal(unclaimed(device, 'binary'), 0, 'no data while the printer holds the job');

    // A client's resume nudges the device, but only the printer can go on.
    assert.equal((await client.call<JobView>('job.resume', { job: id })).state, 'paused');
    assert.deepEqual(await device.json((m) => m['t'] === 'job.resume'), { t: 'job.resume', id });

    device.sendJson({ t: 'job.state', id, state: 'printing' });
    const going = await jobState(client, id, 'sending');
    assert.equal(going.error, undefined, 'the reason goes with the pause');
    const rest = await stream(device, s, { received: 256, written: 256 });
    assert.deepEqual(Buffer.concat([first, rest.bytes]), data);
    await jobState(client, id, 'printing');

    device.sendJson({ t: 'job.state', id, state: 'paused', message: 'cover open' });
    const again = await jobState(client, id, 'paused');
    assert.deepEqual(again.error, { code: 'PRINTER_ERROR', message: 'cover open' });
    device.sendJson({ t: 'job.state', id, state: 'printing' });
    await jobState(client, id, 'printing');
    device.sendJson({ t: 'job.done', id });
    await jobState(client, id, 'done');
    device.close();
  });

  it('a job the printer holds may still end done or failed on the device word', async () => {
    const device = await dev();
    const a = await submit(randomBytes(100));
    const b = await submit(randomBytes(100));
    await start(device);
    device.sendJson({ t: 'job.accept', id: a.id, received: 0, written: 0, fresh: true });
    await take(device, 100);
    device.sendJson({ t: 'job.state', id: a.id, state: 'paused', code: 'PRINTER_ERROR', message: 'paper out' });
    await jobState(client, a.id, 'paused');
    device.sendJson({ t: 'job.ack', id: a.id, written: 100 });
    device.sendJson({ t: 'job.done', id: a.id });
    await jobState(client, a.id, 'done');

    assert.equal((await start(device)).id, b.id);
    device.sendJson({ t: 'job.state', id: b.id, state: 'paused', code: 'PRINTER_ERROR', message: 'paper out' });
    await jobState(client, b.id, 'paused');
    device.sendJson({ t: 'job.fail', id: b.id, code: 'PRINTER_UNREACHABLE', message: 'unplugged' });
    const failed = await jobState(client, b.id, 'failed');
    assert.deepEqual(failed.error, { code: 'PRINTER_UNREACHABLE', message: 'unplugged' });
    device.close();
  });

  it('a device that leaves before the first byte puts the job back to queued, after every byte back to sending', async () => {
    const data = randomBytes(200);
    const { id } = await submit(data);
    const first = await dev();
    await start(first);
    first.terminate();
    await jobState(client, id, 'queued');

    const second = await dev();
    const s = await start(second);
    second.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    await stream(second, s, { received: 0, written: 0 });
    await jobState(client, id, 'printing');
    second.terminate();
    await jobState(client, id, 'sending');

    const third = await dev();
    assert.equal((await start(third)).id, id);
    third.sendJson({ t: 'job.accept', id, received: 200, written: 200, fresh: false });
    await jobState(client, id, 'printing');
    third.sendJson({ t: 'job.done', id });
    await jobState(client, id, 'done');

    // Ended by the device while still sending: done without the last ack, or failed.
    const x = await submit(randomBytes(500));
    const y = await submit(randomBytes(500));
    assert.equal((await start(third)).id, x.id);
    third.sendJson({ t: 'job.accept', id: x.id, received: 0, written: 0, fresh: true });
    await take(third, 64);
    third.sendJson({ t: 'job.done', id: x.id });
    await jobState(client, x.id, 'done');
    assert.equal((await start(third)).id, y.id);
    third.sendJson({ t: 'job.accept', id: y.id, received: 0, written: 0, fresh: true });
    await take(third, 64);
    third.sendJson({ t: 'job.fail', id: y.id, code: 'PRINTER_ERROR', message: 'jam' });
    await jobState(client, y.id, 'failed');

    // And after every byte was handed over: failed by the device, or canceled by a client.
    for (const end of ['failed', 'canceled'] as const) {
      const z = await submit(randomBytes(100));
      const sz = await start(third);
      assert.equal(sz.id, z.id);
      third.sendJson({ t: 'job.accept', id: z.id, received: 0, written: 0, fresh: true });
      await stream(third, sz, { received: 0, written: 0 });
      await jobState(client, z.id, 'printing');
      if (end === 'failed') third.sendJson({ t: 'job.fail', id: z.id, code: 'PRINTER_ERROR', message: 'head too hot' });
      else {
        await client.call('job.cancel', { job: z.id });
        await third.json((m) => m['t'] === 'job.cancel' && m['id'] === z.id);
      }
      await jobState(client, z.id, end);
    }
    third.close();
  });

  it('a paused job that has started holds its printer; resumed, it is offered again with job.resume and goes first', async () => {
    const first = await dev();
    const data = randomBytes(800);
    const a = await submit(data);
    const b = await submit(randomBytes(50));
    const s = await start(first);
    first.sendJson({ t: 'job.accept', id: a.id, received: 0, written: 0, fresh: true });
    const part = await take(first, 256);
    await client.call('job.pause', { job: a.id });
    await first.json((m) => m['t'] === 'job.pause');
    first.terminate();
    await eventually(async () => (await health(t)).devices === 0, 'device gone');
    assert.equal((await client.call<JobView>('job.get', { job: a.id })).state, 'paused');

    const second = await dev();
    await sync(second);
    assert.equal(unclaimed(second, 'job.start'), 0, 'nothing is offered while a started job is paused');

    await client.call('job.resume', { job: a.id });
    const again = await start(second);
    assert.equal(again.id, a.id);
    // The device may still hold it paused from the old connection.
    assert.deepEqual(await second.json((m) => m['t'] === 'job.resume'), { t: 'job.resume', id: a.id });
    second.sendJson({ t: 'job.accept', id: a.id, received: 256, written: 128, fresh: false });
    const rest = await stream(second, { ...s, stream: again.stream }, { received: 256, written: 128 });
    assert.deepEqual(Buffer.concat([part, rest.bytes]), data);
    second.sendJson({ t: 'job.done', id: a.id });
    await jobState(client, a.id, 'done');
    assert.equal((await start(second)).id, b.id);
    second.sendJson({ t: 'job.done', id: b.id });
    await jobState(client, b.id, 'done');
    second.close();
  });

  it('refuses moves the table does not allow with stable codes', async () => {
    const queued = await submit(randomBytes(10), 'idle/0');
    assert.equal(await code(client, 'job.resume', { job: queued.id }), 'ILLEGAL_TRANSITION');
    await client.call('job.cancel', { job: queued.id });
    for (const op of ['job.pause', 'job.resume', 'job.cancel']) assert.equal(await code(client, op, { job: queued.id }), 'JOB_FINISHED', op);
    for (const op of ['job.pause', 'job.resume', 'job.cancel']) assert.equal(await code(client, op, { job: 'nope' }), 'UNKNOWN_JOB', op);
    assert.equal(await code(client, 'job.pause', {}), 'MISSING_FIELD');
    const still = await client.call<JobView>('job.get', { job: queued.id });
    assert.deepEqual([still.state, still.error?.code], ['canceled', 'JOB_CANCELED']);
  });
});

describe('job lifecycle: printer queues', () => {
  let t: TestServer;
  let token: string;
  let client: TestClient;
  const dev = () => FakeDevice.connect(t, 'pq', token, { window: 256, maxChunk: 64 });
  const submit = async (data: Uint8Array, printer = 'pq/0') => client.call<JobView>('job.submit', { printer, data: b64(data) });

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    token = registerDevice(t, 'pq');
    reportPorts(t, 'pq');
    await watch(t);
    client = await TestClient.connect(t);
    await client.call('subscribe');
  });
  after(async () => {
    client.close();
    await t.close();
  });

  it('printer.pause holds the job on the printer and offers nothing new; printer.resume goes on in order', async () => {
    const device = await dev();
    const data = randomBytes(800);
    const a = await submit(data);
    const s = await start(device);
    device.sendJson({ t: 'job.accept', id: a.id, received: 0, written: 0, fresh: true });
    const part = await take(device, 256);

    const r = await client.call<{ printer: string; paused: boolean; jobs: JobView[] }>('printer.pause', { printer: 'pq/0' });
    assert.deepEqual([r.printer, r.paused, r.jobs.map((j) => [j.id, j.state])], ['pq/0', true, [[a.id, 'paused']]]);
    assert.deepEqual(await device.json((m) => m['t'] === 'job.pause'), { t: 'job.pause', id: a.id });
    const status = await client.event('printer.status', (e) => (e['printer'] as PrinterView).paused);
    assert.equal((status['printer'] as PrinterView).id, 'pq/0');
    assert.equal((await client.call<JobView>('job.get', { job: a.id })).held, undefined, 'a queue pause is not a client hold');

    const b = await submit(randomBytes(50));
    assert.equal(b.state, 'queued', 'a job submitted to a paused printer stays queued');
    device.sendJson({ t: 'job.ack', id: a.id, written: 256 });
    await sync(device);
    assert.equal(unclaimed(device, 'binary'), 0, 'no data while the queue is paused');
    assert.equal(unclaimed(device, 'job.start'), 0);
    assert.equal(await code(client, 'job.resume', { job: a.id }), 'ILLEGAL_TRANSITION', 'the queue, not the job, is to be resumed');
    const listed = (await client.call<PrinterView[]>('printers.list')).find((p) => p.id === 'pq/0');
    assert.deepEqual([listed?.paused, listed?.job, listed?.queued], [true, a.id, 2]);
    assert.deepEqual((await client.call<{ paused: boolean }>('printer.pause', { printer: 'pq/0' })).paused, true, 'pausing twice is harmless');

    const resumed = await client.call<{ paused: boolean; jobs: JobView[] }>('printer.resume', { printer: 'pq/0' });
    assert.deepEqual(resumed.jobs.map((j) => [j.id, j.state]), [[a.id, 'sending'], [b.id, 'queued']]);
    assert.deepEqual(await device.json((m) => m['t'] === 'job.resume'), { t: 'job.resume', id: a.id });
    await client.event('printer.status', (e) => !(e['printer'] as PrinterView).paused);
    const rest = await stream(device, s, { received: 256, written: 256 });
    assert.deepEqual(Buffer.concat([part, rest.bytes]), data);
    device.sendJson({ t: 'job.done', id: a.id });
    assert.equal((await start(device)).id, b.id);
    device.sendJson({ t: 'job.done', id: b.id });
    await jobState(client, b.id, 'done');
    device.close();
  });

  it('printer.cancel ends every unfinished job of the printer, the one on the device first', async () => {
    const device = await dev();
    const a = await submit(randomBytes(800));
    await start(device);
    device.sendJson({ t: 'job.accept', id: a.id, received: 0, written: 0, fresh: true });
    await take(device, 256);
    const b = await submit(randomBytes(50));
    const c = await submit(randomBytes(50));
    await client.call('job.pause', { job: c.id });

    const r = await client.call<{ printer: string; canceled: JobView[] }>('printer.cancel', { printer: 'pq/0' });
    assert.deepEqual(r.canceled.map((j) => [j.id, j.state, j.error?.code]), [[a.id, 'canceled', 'JOB_CANCELED'], [b.id, 'canceled', 'JOB_CANCELED'], [c.id, 'canceled', 'JOB_CANCELED']]);
    assert.deepEqual(await device.json((m) => m['t'] === 'job.cancel'), { t: 'job.cancel', id: a.id });
    await sync(device);
    assert.equal(unclaimed(device, 'job.start'), 0, 'nothing left to offer');
    assert.deepEqual((await client.call<{ canceled: JobView[] }>('printer.cancel', { printer: 'pq/0' })).canceled, []);
    assert.equal(await code(client, 'printer.cancel', { printer: 'ghost/0' }), 'UNKNOWN_PRINTER');
    assert.equal(await code(client, 'printer.pause', { printer: 'pq/9' }), 'UNKNOWN_PRINTER');
    assert.equal(await code(client, 'printer.resume', { printer: 'no-slash' }), 'BAD_FIELD');
    device.close();
  });

  it('lists jobs by printer and state, newest first, and refuses an unknown state', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await submit(randomBytes(5), 'pq/0')).id);
    await client.call('job.cancel', { job: ids[1] });
    const queued = await client.call<JobView[]>('jobs.list', { printer: 'pq/0', state: 'queued' });
    assert.deepEqual(queued.map((j) => j.id), [ids[2], ids[0]]);
    const canceled = await client.call<JobView[]>('jobs.list', { state: 'canceled', limit: 1 });
    assert.deepEqual(canceled.map((j) => j.id), [ids[1]]);
    assert.equal(await code(client, 'jobs.list', { state: 'lost' }), 'BAD_FIELD');
    await client.call('printer.cancel', { printer: 'pq/0' });
  });

  it('forwards a printer status change at once, with temperatures, and the port says whether it confirms', async () => {
    const stToken = registerDevice(t, 'st');
    const device = await FakeDevice.connect(t, 'st', stToken, { ports: [{ port: 0, dialect: 'gcode', name: 'mk3', confirms: true }] });
    const online = await client.event('printer.status', (e) => (e['printer'] as PrinterView).id === 'st/0');
    assert.deepEqual([(online['printer'] as PrinterView).confirms, (online['printer'] as PrinterView).name], [true, 'mk3']);
    const report = (state: string, temps?: { name: string; current: number; target?: number }[], detail?: string) =>
      device.sendJson({ t: 'status', led: 'online', uptime: 1, ports: [{ port: 0, state, detail, temps }] });
    const forST = (e: Record<string, unknown>) => (e['printer'] as PrinterView).id === 'st/0';

    report('paper-out', [{ name: 'T0', current: 200.5, target: 210 }], 'filament runout');
    let e = (await client.event('printer.status', forST))['printer'] as PrinterView;
    assert.deepEqual([e.status, e.detail, e.temps, e.online], ['paper-out', 'filament runout', [{ name: 'T0', current: 200.5, target: 210 }], true]);
    // The same report again is no news; a temperature change is.
    report('paper-out', [{ name: 'T0', current: 200.5, target: 210 }], 'filament runout');
    report('paper-out', [{ name: 'T0', current: 205, target: 210 }], 'filament runout');
    e = (await client.event('printer.status', forST))['printer'] as PrinterView;
    assert.deepEqual(e.temps, [{ name: 'T0', current: 205, target: 210 }]);
    report('online');
    e = (await client.event('printer.status', forST))['printer'] as PrinterView;
    assert.deepEqual([e.status, e.detail, e.temps], ['online', undefined, undefined]);
    const listed = (await client.call<PrinterView[]>('printers.list')).find((p) => p.id === 'st/0');
    assert.deepEqual([listed?.status, listed?.confirms, listed?.paused], ['online', true, false]);
    device.close();
  });
});

describe('job lifecycle: retention and expiry on the server timer', () => {
  it('expires a queued job with JOB_EXPIRED, keeps a started one, and prunes finished jobs past their age', async () => {
    const t = await startTestServer({ heartbeatMs: 60_000, retention: { queuedTtlMs: 300, finishedMaxAgeMs: 300, sweepMs: 20 } });
    try {
      const token = registerDevice(t, 'rt');
      await watch(t);
      const client = await TestClient.connect(t);
      const device = await FakeDevice.connect(t, 'rt', token, { window: 256, maxChunk: 64, ports: [{ port: 0, dialect: 'raw' }, { port: 1, dialect: 'raw' }] });
      const begun = await client.call<JobView>('job.submit', { printer: 'rt/0', data: b64(randomBytes(500)) });
      await start(device);
      device.sendJson({ t: 'job.accept', id: begun.id, received: 0, written: 0, fresh: true });
      await take(device, 64);
      device.terminate();
      await jobState(client, begun.id, 'sending');
      const waiting = await client.call<JobView>('job.submit', { printer: 'rt/1', data: b64(randomBytes(10)) });
      assert.equal(waiting.state, 'queued');

      const update = await client.event('job.updated', (e) => (e['job'] as JobView).id === waiting.id && (e['job'] as JobView).state === 'failed');
      assert.equal((update['job'] as JobView).error?.code, 'JOB_EXPIRED');
      // The started job is older and was looked at by the same sweep: it is not "never delivered".
      assert.equal((await client.call<JobView>('job.get', { job: begun.id })).state, 'sending');
      await eventually(async () => (await code(client, 'job.get', { job: waiting.id })) === 'UNKNOWN_JOB', 'expired job pruned');
      assert.equal((await client.call<JobView>('job.get', { job: begun.id })).state, 'sending', 'unfinished jobs are never pruned');
      client.close();
    } finally {
      await t.close();
    }
  });

  it('keeps at most finishedMaxCount finished jobs, the newest', async () => {
    const t = await startTestServer({ heartbeatMs: 60_000, retention: { finishedMaxCount: 2, sweepMs: 20 } });
    try {
      registerDevice(t, 'cnt');
      reportPorts(t, 'cnt');
      const client = await TestClient.connect(t);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push((await client.call<JobView>('job.submit', { printer: 'cnt/0', data: b64(randomBytes(5)) })).id);
        await client.call('job.cancel', { job: ids[i] });
      }
      const queued = await client.call<JobView>('job.submit', { printer: 'cnt/0', data: b64(randomBytes(5)) });
      await eventually(async () => (await client.call<JobView[]>('jobs.list')).length === 3, 'oldest finished job pruned');
      assert.deepEqual((await client.call<JobView[]>('jobs.list')).map((j) => j.id), [queued.id, ids[2], ids[1]]);
      client.close();
    } finally {
      await t.close();
    }
  });

  it('refuses a negative, fractional or zero-interval retention setting', async () => {
    const dataDir = tempDir();
    try {
      await assert.rejects(startTestServer({ dataDir, retention: { queuedTtlMs: -1 } }), /retention.queuedTtlMs/);
      await assert.rejects(startTestServer({ dataDir, retention: { finishedMaxAgeMs: 1.5 } }), /retention.finishedMaxAgeMs/);
      await assert.rejects(startTestServer({ dataDir, retention: { sweepMs: 0 } }), /retention.sweepMs/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('job lifecycle: a restart', () => {
  it('keeps paused queues and held jobs; a job its printer had paused waits as sending, the device will say again', async () => {
    let t = await startTestServer({ heartbeatMs: 60_000 });
    try {
      const token = registerDevice(t, 'rs');
      const ports = [{ port: 0, dialect: 'raw' }, { port: 1, dialect: 'raw' }];
      reportPorts(t, 'rs', ports);
      let client = await TestClient.connect(t);
      await client.call('printer.pause', { printer: 'rs/0' });
      const q = await client.call<JobView>('job.submit', { printer: 'rs/0', data: b64(randomBytes(20)) });
      const held = await client.call<JobView>('job.submit', { printer: 'rs/0', data: b64(randomBytes(20)) });
      await client.call('job.pause', { job: held.id });
      const device = await FakeDevice.connect(t, 'rs', token, { window: 256, maxChunk: 64, ports });
      const data = randomBytes(600);
      const a = await client.call<JobView>('job.submit', { printer: 'rs/1', data: b64(data) });
      const s = await start(device);
      assert.equal(s.id, a.id);
      device.sendJson({ t: 'job.accept', id: a.id, received: 0, written: 0, fresh: true });
      const part = await take(device, 256);
      device.sendJson({ t: 'job.ack', id: a.id, written: 256 });
      device.sendJson({ t: 'job.state', id: a.id, state: 'paused', code: 'PRINTER_ERROR', message: 'paper out' });
      await jobState(client, a.id, 'paused');

      t = await t.restart();
      await device.closeCode();
      client = await TestClient.connect(t);
      const after = await client.call<JobView>('job.get', { job: a.id });
      assert.deepEqual([after.state, after.error, after.written], ['sending', undefined, 256]);
      assert.equal((await client.call<JobView>('job.get', { job: q.id })).state, 'queued');
      const stillHeld = await client.call<JobView>('job.get', { job: held.id });
      assert.deepEqual([stillHeld.state, stillHeld.held], ['paused', true]);
      assert.equal((await client.call<PrinterView[]>('printers.list')).find((p) => p.id === 'rs/0')?.paused, true);

      const back = await FakeDevice.connect(t, 'rs', token, { window: 256, maxChunk: 64, ports });
      const again = await start(back);
      assert.equal(again.id, a.id, 'only the running queue is offered');
      back.sendJson({ t: 'job.accept', id: a.id, received: 256, written: 256, fresh: false });
      const rest = await stream(back, again, { received: 256, written: 256 });
      assert.deepEqual(Buffer.concat([part, rest.bytes]), data);
      back.sendJson({ t: 'job.done', id: a.id });
      await jobState(client, a.id, 'done');
      await sync(back);
      assert.equal(unclaimed(back, 'job.start'), 0, 'the paused queue offers nothing');
      await client.call('printer.resume', { printer: 'rs/0' });
      assert.equal((await start(back)).id, q.id, 'the held job is passed over');
      back.sendJson({ t: 'job.done', id: q.id });
      await jobState(client, q.id, 'done');
      await sync(back);
      assert.equal(unclaimed(back, 'job.start'), 0);
      back.close();
      client.close();
    } finally {
      await t.close();
    }
  });
});

describe('job lifecycle: coverage', () => {
  it('saw every move of the transition table happen over the wire', () => {
    const missing: string[] = [];
    for (const [from, tos] of Object.entries(TRANSITIONS)) {
      for (const to of tos) if (!seen.has(`${from}→${to}`)) missing.push(`${from}→${to}`);
    }
    assert.deepEqual(missing, []);
  });
});
