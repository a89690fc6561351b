// A device's answers are bounded (depth and size), a bad answer costs only
// that device's report, and device floods are throttled: a token bucket per
// connection (RATE_LIMITED, then close 4008) and an error budget that
// messages about jobs that never existed count towards (close 4007).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeDeviceMessage } from '../../protocol/device-messages.js';
import { MAX_JSON_DEPTH, nestsDeeper } from '../../protocol/fields.js';
import { textFrames } from '../helpers/raw-frames.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, eventually, registerDevice, type Conn } from './peers.js';

type Report = { device: string; status: string; code?: string; data?: unknown };

/** `{"data": {"a": {"a": … 1 …}}}` nested `depth` levels under data. */
function deepData(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** Resolves with `promise`, or fails after `ms` instead of hanging the test. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function pong(conn: Conn): Promise<void> {
  conn.sendJson({ t: 'ping' });
  await conn.json((m) => m['t'] === 'pong', 'pong');
}

describe('device answers: depth and size', () => {
  it('nestsDeeper counts brackets outside strings only', () => {
    assert.equal(nestsDeeper('{"a":[1,{"b":2}]}', 3), false);
    assert.equal(nestsDeeper('{"a":[1,{"b":2}]}', 2), true);
    assert.equal(nestsDeeper(`{"s":"${'['.repeat(100)}"}`, 1), false);
    assert.equal(nestsDeeper(`{"s":"\\"${'{'.repeat(100)}\\\\"}`, 1), false, 'escaped quotes do not end a string');
    assert.equal(nestsDeeper(`{"s":"\\\\"${'{'.repeat(3)}`, 3), true, 'an escaped backslash does');
    assert.equal(nestsDeeper('[[{[', 3), true, 'one more opening bracket than the bound, all nested');
    assert.equal(nestsDeeper('[[{', 3), false, 'as many as the bound');
    assert.equal(nestsDeeper('[{},{},[],{}]', 3), false, 'many brackets side by side are not deep');
  });

  it('refuses a device message nested deeper than the bound before parsing it', () => {
    const deep = decodeDeviceMessage(`{"t":"control.result","ref":"r","ok":true,"data":${deepData(9000)}}`);
    assert.equal(deep.ok, false);
    assert.equal(!deep.ok && deep.error.code, 'TOO_DEEP');
    const fits = decodeDeviceMessage(`{"t":"control.result","ref":"r","ok":true,"data":${deepData(MAX_JSON_DEPTH - 1)}}`);
    assert.equal(fits.ok, true);
  });

  let t: TestServer;
  let client: TestClient;
  let watcher: TestClient;
  let deep: FakeDevice;
  let good1: FakeDevice;
  let good2: FakeDevice;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    const tokens = { deep: registerDevice(t, 'b-deep'), good1: registerDevice(t, 'b-good1'), good2: registerDevice(t, 'b-good2') };
    deep = await FakeDevice.connect(t, 'b-deep', tokens.deep);
    good1 = await FakeDevice.connect(t, 'b-good1', tokens.good1);
    good2 = await FakeDevice.connect(t, 'b-good2', tokens.good2);
    client = await TestClient.connect(t);
    watcher = await TestClient.connect(t);
    await watcher.call('subscribe');
  });
  after(() => t.close());

  /** Sends a control to all, lets `answer` have each device reply, and returns the reports. */
  async function broadcast(answer: (ref: unknown) => void, via: 'ws' | 'rest'): Promise<{ reports: Report[]; ms: number }> {
    const start = performance.now();
    const body = { to: { all: true }, name: 'status', timeout: 2000 };
    const pending =
      via === 'ws'
        ? client.call<{ reports: Report[] }>('control.send', body)
        : fetch(`${t.server.url}/api/v1/control`, {
            method: 'POST',
            headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
            body: JSON.stringify(body),
          }).then((r) => r.json() as Promise<{ reports: Report[] }>);
    const [a] = await Promise.all([deep, good1, good2].map((d) => d.json((m) => m['t'] === 'control', 'control')));
    answer(a?.['ref']);
    const { reports } = await within(pending, 6000, `control.send over ${via}`);
    return { reports, ms: performance.now() - start };
  }

  for (const via of ['ws', 'rest'] as const) {
    it(`reports a device answering with data nested 9,000 deep as error, the others intact, within the timeout (${via})`, async () => {
      const { reports, ms } = await broadcast((ref) => {
        // The deep answer first, the innocent ones after it: the last answer settles the report.
        deep.sendRaw(`{"t":"control.result","ref":${JSON.stringify(ref)},"ok":true,"data":${deepData(9000)}}`);
        good1.sendJson({ t: 'control.result', ref, ok: true, data: { uptime: 1 } });
        good2.sendJson({ t: 'control.result', ref, ok: true, data: { uptime: 2 } });
      }, via);
      assert.ok(ms < 2000, `answered after ${Math.round(ms)} ms, the timeout is 2000`);
      assert.deepEqual(
        reports.map((r) => [r.device, r.status, r.code, r.data]),
        [
          ['b-deep', 'error', 'TOO_DEEP', undefined],
          ['b-good1', 'ok', undefined, { uptime: 1 }],
          ['b-good2', 'ok', undefined, { uptime: 2 }],
        ],
      );
      const delivered = await watcher.event('control.delivered');
      assert.deepEqual(delivered['reports'], reports);
      assert.equal((await deep.json((m) => m['t'] === 'error', 'error'))['code'], 'TOO_DEEP');
      // Nobody was disconnected, the innocent devices least of all.
      await Promise.all([pong(deep), pong(good1), pong(good2)]);
    });
  }

  it('reports an answer with oversized data as error and keeps the others', async () => {
    const { reports } = await broadcast((ref) => {
      deep.sendJson({ t: 'control.result', ref, ok: true, data: { blob: 'x'.repeat(10_000) } });
      good1.sendJson({ t: 'control.result', ref, ok: true });
      good2.sendJson({ t: 'control.result', ref, ok: true });
    }, 'ws');
    assert.deepEqual(reports.map((r) => [r.device, r.status, r.code]), [['b-deep', 'error', 'BAD_FIELD'], ['b-good1', 'ok', undefined], ['b-good2', 'ok', undefined]]);
    await Promise.all([pong(deep), pong(good1), pong(good2)]);
  });
});

describe('device rate limit and job data', () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { deviceMessageRate: 5, deviceMessageBurst: 10 } });
  });
  after(() => t.close());

  it('never refuses the acks of a job streamed faster than the message rate: each data frame gives a token back', async () => {
    const dev = await FakeDevice.connect(t, 'r-fast', registerDevice(t, 'r-fast'), { window: 4096, maxChunk: 256 });
    const client = await TestClient.connect(t);
    const size = 64 * 1024;
    const job = await client.call<{ id: string }>('job.submit', { printer: 'r-fast/0', data: Buffer.alloc(size, 0x41).toString('base64') });
    const startMsg = await dev.jobStart();
    dev.sendJson({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
    // An ack every quarter window, as a bridge sends them: 64 within moments, against 5 a second and bursts of 10.
    for (let received = 0; received < size; ) {
      received += (await dev.frame()).payload.length;
      if (received % 1024 === 0) dev.sendJson({ t: 'job.ack', id: startMsg['id'], written: received });
    }
    dev.sendJson({ t: 'job.done', id: job.id });
    await eventually(async () => (await client.call<{ state: string }>('job.get', { job: job.id })).state === 'done', 'job done');
    assert.equal((await client.call<{ written: number }>('job.get', { job: job.id })).written, size);
    assert.equal(dev.inbox.items.filter((x) => x.kind === 'text' && x.json['t'] === 'error').length, 0);
    assert.equal(t.logs.filter((l) => l.msg === 'device sends faster than its rate limit').length, 0);
    client.close();
    dev.close();
  });
});

describe('device floods', () => {
  let t: TestServer;
  let tokens: Record<string, string>;
  let client: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    tokens = { flood: registerDevice(t, 'f-flood'), unknown: registerDevice(t, 'f-unknown'), calm: registerDevice(t, 'f-calm') };
    client = await TestClient.connect(t);
    // A subscriber, so that every status a device sends costs events as well.
    await client.call('subscribe');
  });
  after(() => t.close());

  it('rate-limits a device that floods status reports, then closes it 4008, while other clients are served', async (ctx) => {
    const calm = await FakeDevice.connect(t, 'f-calm', tokens['calm'] as string);
    const dev = await FakeDevice.connect(t, 'f-flood', tokens['flood'] as string);
    const status = (i: number): string => JSON.stringify({ t: 'status', ports: [{ port: 0, state: i % 2 === 0 ? 'online' : 'busy', detail: `report ${i}` }], led: 'online', uptime: i });
    // 200,000 reports (22 MB): the server that reads them all stalls for seconds.
    const frames = textFrames(Array.from({ length: 200_000 }, (_, i) => status(i)));
    const start = performance.now();
    dev.socket?.write(frames);
    const rtt = await within(client.call('ping').then(() => performance.now() - start), 20_000, 'ping');
    ctx.diagnostic(`another client's ping answered ${Math.round(rtt)} ms into the flood`);
    // Time on a shared machine is noisy (a server that reads the whole flood
    // made this ping wait 0.6 to 1.3 s on an idle one); what cannot be noise is
    // how much of the flood the server let through: it reads all 200,000 when
    // nothing stops it, and each one reaches the subscriber.
    assert.ok(rtt < 5_000, `another client's ping waited ${Math.round(rtt)} ms`);
    assert.equal((await dev.json((m) => m['t'] === 'error', 'RATE_LIMITED'))['code'], 'RATE_LIMITED');
    assert.equal(await dev.closeCode(), 4008);
    await pong(calm);
    await client.call('ping'); // every event the flood caused was sent before this answer
    const relayed = client.inbox.items.filter((x) => x.kind === 'text' && x.json['event'] === 'printer.status' && JSON.stringify(x.json).includes('f-flood')).length;
    ctx.diagnostic(`status reports of the flood relayed to a subscriber: ${relayed}`);
    assert.ok(relayed < 5_000, `${relayed} of 200,000 flooded reports were relayed`);
    calm.close();
  });

  it('closes a device that sends 50,000 messages about unknown jobs with 4007, at the error budget', async () => {
    const dev = await FakeDevice.connect(t, 'f-unknown', tokens['unknown'] as string);
    dev.socket?.write(textFrames(Array.from({ length: 50_000 }, (_, i) => `{"t":"job.done","id":"no-such-job-${i}"}`)));
    assert.equal((await dev.json((m) => m['t'] === 'error', 'error'))['code'], 'UNKNOWN_JOB');
    assert.equal(await dev.closeCode(), 4007);
    const errors = dev.inbox.items.filter((x) => x.kind === 'text' && x.json['t'] === 'error').length;
    assert.ok(errors <= 20, `${errors + 1} errors were answered before the close`);
    assert.equal(await client.call('ping'), 'pong');
  });
});
