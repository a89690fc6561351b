// The line and layer of a G-code print. Byte-level: GcodeProgress counts
// newline-terminated lines within the bytes confirmed and reads Cura's
// `;LAYER:n` and PrusaSlicer's `;LAYER_CHANGE`, giving the same answer
// however the confirmed count grows, and reading each byte once. Over real
// sockets: a job on a G-code printer carries `line` and `layer` in its
// view as the device confirms bytes; a job on another dialect carries neither.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { JobView } from '../../protocol/client-messages.js';
import { GcodeProgress } from '../../server/core/gcode-progress.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, eventually, registerDevice } from './peers.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** What the progress should be at `written`, by reading the prefix from the start. */
function fromScratch(data: Uint8Array, written: number): { line: number; layer: number | undefined } {
  const complete = new TextDecoder('latin1').decode(data.subarray(0, written)).split('\n').slice(0, -1);
  let layer: number | undefined;
  let changes = 0;
  for (const l of complete) {
    if (l.startsWith(';LAYER_CHANGE')) layer = ++changes;
    else if (/^;LAYER:-?\d/.test(l)) layer = Number(/^;LAYER:(-?\d{1,9})/.exec(l)?.[1]) + 1;
  }
  return { line: complete.length, layer };
}

const CURA = ';FLAVOR:Marlin\nG28\n;LAYER_COUNT:3\n;LAYER:0\nG1 X1\nG1 X2\n;LAYER:1\nG1 Y1\n;LAYER:2\nG1 Z3\nM104 S0\n';
const PRUSA = 'G28\r\n;LAYER_CHANGE\r\n;Z:0.2\r\nG1 X1\r\n;LAYER_CHANGE\r\n;Z:0.4\r\nG1 X2\r\n';

describe('gcode progress: the counting', () => {
  it('counts lines and Cura layers (n + 1) as the confirmed bytes grow', () => {
    const data = bytes(CURA);
    const p = new GcodeProgress();
    const at = (text: string): number => CURA.indexOf(text) + text.length;
    p.advance(data, 0);
    assert.deepEqual([p.line, p.layer], [0, undefined]);
    p.advance(data, at(';LAYER:0'));
    assert.deepEqual([p.line, p.layer], [3, undefined], 'a marker counts once its line is complete');
    p.advance(data, at(';LAYER:0\n'));
    assert.deepEqual([p.line, p.layer], [4, 1]);
    p.advance(data, at(';LAYER:2\n'));
    assert.deepEqual([p.line, p.layer], [9, 3]);
    p.advance(data, data.length);
    assert.deepEqual([p.line, p.layer], [11, 3]);
  });

  it('counts PrusaSlicer layer changes, with CRLF line ends', () => {
    const data = bytes(PRUSA);
    const p = new GcodeProgress();
    p.advance(data, data.length);
    assert.deepEqual([p.line, p.layer], [7, 2]);
  });

  it('a raft (Cura ;LAYER:-2) and a file without markers', () => {
    const raft = new GcodeProgress();
    raft.advance(bytes(';LAYER:-2\nG1\n'), 13);
    assert.equal(raft.layer, -1);
    const plain = new GcodeProgress();
    plain.advance(bytes('G28\nG1 X1\nM84\n'), 14);
    assert.deepEqual([plain.line, plain.layer], [3, undefined]);
  });

  it('gives the answer a reading from scratch gives, however the confirmed count grows', () => {
    const line = fc.oneof(
      fc.constantFrom(';LAYER_CHANGE', ';LAYER:0', ';LAYER:17', ';LAYER:-3', ';LAYER:', ';LAYERS', 'G1 X1 Y2', ';TYPE:WALL-OUTER', ''),
      fc.string({ maxLength: 12 }).map((s) => s.replace(/\n/g, '')),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (lines, cuts, tail) => {
        const data = bytes(lines.join('\n') + (tail ? '\n' : ''));
        const p = new GcodeProgress();
        const points = [...cuts.map((c) => c % (data.length + 1)), data.length].sort((a, b) => a - b);
        for (const written of points) {
          p.advance(data, written);
          const want = fromScratch(data, written);
          assert.deepEqual([p.line, p.layer], [want.line, want.layer], `at ${written} of ${JSON.stringify(lines)}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reads each byte once: a long line confirmed a byte at a time is not searched again', () => {
    const data = new Uint8Array(200_000).fill(0x41);
    data[data.length - 1] = 0x0a;
    const p = new GcodeProgress();
    let searched = 0;
    const original = Uint8Array.prototype.indexOf;
    // Counts how far the searches reach, to tell one pass from a pass per call.
    Uint8Array.prototype.indexOf = function (this: Uint8Array, value: number, from?: number): number {
      const found = original.call(this, value, from);
      searched += (found < 0 ? this.length : found + 1) - (from ?? 0);
      return found;
    };
    try {
      for (let w = 1000; w <= data.length; w += 1000) p.advance(data, w);
    } finally {
      Uint8Array.prototype.indexOf = original;
    }
    assert.equal(p.line, 1);
    assert.ok(searched <= data.length + 1000, `searched ${searched} bytes for ${data.length}`);
  });
});

describe('gcode progress: in the job view', () => {
  let t: TestServer;
  let dev: FakeDevice;
  let admin: TestClient;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    dev = await FakeDevice.connect(t, 'gc-1', registerDevice(t, 'gc-1'), { ports: [{ port: 0, dialect: 'gcode' }, { port: 1, dialect: 'escpos' }] });
    admin = await TestClient.connect(t);
  });
  after(async () => {
    dev?.close();
    admin?.close();
    await t?.close();
  });

  /** Accepts the offered job, reads every frame, and returns its id. */
  async function take(): Promise<string> {
    const start = await dev.jobStart();
    const id = start['id'] as string;
    dev.sendJson({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    let size = 0;
    while (size < (start['size'] as number)) size += (await dev.frame()).payload.length;
    return id;
  }

  it('a G-code job carries the line and layer the confirmed bytes reached, in job.get, jobs.list and job.updated', async () => {
    await admin.call('subscribe');
    const job = await admin.call<JobView>('job.submit', { printer: 'gc-1/0', text: CURA, name: 'cube.gcode' });
    const id = await take();
    assert.equal(id, job.id);
    const at = CURA.indexOf(';LAYER:1\n') + ';LAYER:1\n'.length;
    dev.sendJson({ t: 'job.ack', id, written: at });
    await eventually(async () => (await admin.call<JobView>('job.get', { job: id })).line === 7, 'line 7 reached');
    const view = await admin.call<JobView>('job.get', { job: id });
    assert.deepEqual([view.written, view.line, view.layer], [at, 7, 2]);
    assert.deepEqual((await admin.call<JobView[]>('jobs.list', { printer: 'gc-1/0' })).map((j) => [j.line, j.layer]), [[7, 2]]);
    const event = await admin.event('job.updated', (e) => (e['job'] as JobView).id === id && (e['job'] as JobView).line === 7);
    assert.equal((event['job'] as JobView).layer, 2);

    dev.sendJson({ t: 'job.ack', id, written: CURA.length });
    dev.sendJson({ t: 'job.done', id });
    const done = await admin.event('job.updated', (e) => (e['job'] as JobView).id === id && (e['job'] as JobView).state === 'done');
    assert.deepEqual([(done['job'] as JobView).line, (done['job'] as JobView).layer], [11, 3]);
  });

  it('a job on another dialect carries neither', async () => {
    const job = await admin.call<JobView>('job.submit', { printer: 'gc-1/1', text: ';LAYER:5\nhello\n' });
    const id = await take();
    dev.sendJson({ t: 'job.ack', id, written: 15 });
    await eventually(async () => (await admin.call<JobView>('job.get', { job: job.id })).written === 15, 'written moved');
    const view = await admin.call<JobView>('job.get', { job: job.id });
    assert.deepEqual(['line' in view, 'layer' in view], [false, false]);
    dev.sendJson({ t: 'job.done', id });
  });
});
