// Control messages through the real server's relay to the firmware on the
// SDK's real runtime: identify and LED overrides (seen on the LED pin), an
// unknown control, the busy/CTS input, a restart (the process ends as a chip
// resets and starts again), config with a new server and token kept in the
// SDK's preference store across that restart, and the close codes that must
// stop a device for good: replaced by a twin, and removed (revoked).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { DeviceView, PrinterView } from '../../protocol/client-messages.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { Processes } from '../helpers/processes.js';
import { tempDir } from '../helpers/server.js';
import { count, DEVICE_ID, lastIndex, printed, quiet, receipt, sha256, startWorld, submit, until, type World } from './fixture.js';

const BUSY_PIN = 4;

interface DeliveryReport { device: string; status: string; code?: string; message?: string; data?: unknown }

async function control(client: Client, name: string, args: Record<string, unknown> = {}): Promise<DeliveryReport> {
  const r = (await client.request('control.send', { to: { device: DEVICE_ID }, name, args, timeout: 10_000 })) as { reports: DeliveryReport[] };
  const report = r.reports[0];
  assert.ok(report, 'one delivery report');
  return report;
}

async function deviceView(client: Client): Promise<DeviceView | undefined> {
  return ((await client.request('devices.list')) as DeviceView[]).find((d) => d.id === DEVICE_ID);
}

async function printerView(client: Client): Promise<PrinterView | undefined> {
  return ((await client.request('printers.list')) as PrinterView[]).find((p) => p.device === DEVICE_ID && p.port === 0);
}

async function printAll(w: World, data: Uint8Array, client = w.client): Promise<void> {
  const before = await quiet(w);
  const job = (await client.request('job.submit', { printer: `${DEVICE_ID}/0`, data: Buffer.from(data).toString('base64') })) as { id: string };
  await until(`job ${job.id} done`, async () => ((await client.request('job.get', { job: job.id })) as { state: string }).state === 'done', 60_000);
  await until('the printer to have it all', () => printed(w).length >= before + data.length, 60_000);
  assert.equal(sha256(printed(w).subarray(before, before + data.length)), sha256(data));
}

describe('firmware on the SDK runtime: control messages', () => {
  let w: World;
  const procs = new Processes();
  before(async () => {
    // A slowish printer, so a job is still under way when a control arrives; a busy/CTS input.
    w = await startWorld({ emulator: ['--baud', '115200'], config: { busyPin: BUSY_PIN } });
    await w.fw.waitFor(/link online/, 60_000, 0);
  });
  after(async () => {
    await w.close();
    await procs.killAll();
  });

  test('identify blinks the identify pattern on the LED pin, then the LED returns to "online"', async () => {
    const mark = w.fw.lines.length;
    const report = await control(w.client, 'identify', { seconds: 2 });
    assert.equal(report.status, 'ok', JSON.stringify(report));
    await w.fw.waitFor(/led identify/, 5_000, mark);
    const shown = w.fw.lines.findIndex((l, i) => i >= mark && /led identify/.test(l));
    await w.fw.waitFor(/led online/, 10_000, shown);
    const pins = w.since(mark).filter((l) => l.startsWith('pin 2 = '));
    assert.ok(pins.length >= 4, `the pin blinked: ${pins.length} writes`);
  });

  test('an LED override holds until "auto" hands the LED back', async () => {
    let mark = w.fw.lines.length;
    const report = await control(w.client, 'led', { pattern: 'printer-error' });
    assert.equal(report.status, 'ok', JSON.stringify(report));
    await w.fw.waitFor(/led printer-error/, 5_000, mark);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok(!w.since(mark).some((l) => /led online/.test(l)), 'the override holds');
    mark = w.fw.lines.length;
    assert.equal((await control(w.client, 'led', { pattern: 'auto' })).status, 'ok');
    await w.fw.waitFor(/led online/, 5_000, mark);
    const bad = await control(w.client, 'led', { pattern: 'disco' });
    assert.equal(bad.code, 'BAD_FIELD');
  });

  test('an unknown control is answered UNSUPPORTED while the job goes on, on the same connection', async () => {
    const connections = w.proxy.connections;
    const before = await quiet(w);
    const data = receipt(20_000, 11);
    const id = await submit(w, data);
    await until('the job to be under way', () => printed(w).length - before > 2_000, 30_000);
    const report = await control(w.client, 'self-destruct', { now: 'yes' });
    assert.equal(report.status, 'error');
    assert.equal(report.code, 'UNSUPPORTED');
    // A board has no computer's printers to list or add: what a Node bridge answers, the firmware does not.
    assert.equal((await deviceView(w.client))?.caps, undefined, 'the firmware announces no capabilities');
    for (const name of ['printers.scan', 'printers.add']) {
      const r = await control(w.client, name, { uri: 'serial:/dev/ttyUSB0' });
      assert.deepEqual([r.status, r.code], ['error', 'UNSUPPORTED'], name);
    }
    await until(`job ${id} done`, () => w.jobs.get(id)?.state === 'done', 60_000);
    await w.emulator.waitForEvent({ event: 'received', bytes: before + data.length }, { timeout: 30_000 });
    assert.equal(sha256(printed(w).subarray(before)), sha256(data));
    assert.equal(w.proxy.connections, connections, 'the same connection throughout');
  });

  test('a server message over the firmware\'s 16 KiB bound ends that link (1009), not the firmware; it comes back and prints', async () => {
    const sessions = count(w.fw.lines, /link online/);
    const mark = w.fw.lines.length;
    const report = await control(w.client, 'identify', { seconds: 1, pad: 'x'.repeat(20_000) });
    assert.notEqual(report.status, 'ok', JSON.stringify(report));
    await until('the link to be dropped on the oversized message', () => w.since(mark).some((l) => /close 1009/.test(l)), 10_000);
    await until('online again', () => count(w.fw.lines, /link online/) > sessions, 30_000);
    await printAll(w, receipt(2_000, 15));
  });

  test('the busy/CTS input holds the UART while asserted; the job finishes once it drops', async () => {
    const before = await quiet(w);
    // Larger than what the PTY, socat and the board's window hold together.
    const data = receipt(160 * 1024, 12);
    const id = await submit(w, data);
    await until('the job to be under way', () => printed(w).length - before > 2_000, 30_000);
    await w.control(`pin ${BUSY_PIN} 1`);
    await until('the server to see the printer busy', async () => (await printerView(w.client))?.status === 'busy', 10_000);
    // What the firmware says it wrote to the UART (the PTY and socat still
    // hold tens of KiB, so the printer's side keeps moving for a while).
    const written = async (): Promise<number> => ((await w.client.request('job.get', { job: id })) as { written?: number }).written ?? 0;
    await new Promise((r) => setTimeout(r, 1_000));
    const held = await written();
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(await written(), held, 'nothing written to the UART while the printer says busy');
    assert.ok(held < data.length, `held part-way: ${held} of ${data.length}`);
    await w.control(`pin ${BUSY_PIN} 0`);
    await until(`job ${id} done`, () => w.jobs.get(id)?.state === 'done', 60_000);
    await w.emulator.waitForEvent({ event: 'received', bytes: before + data.length }, { timeout: 30_000 });
    assert.equal(sha256(printed(w).subarray(before)), sha256(data));
  });

  test('restart ends the runtime as a reset does; it starts again, comes back online and prints', async () => {
    const sessions = count(w.fw.lines, /link online/);
    const starts = w.fw.starts;
    const report = await control(w.client, 'restart');
    assert.equal(report.status, 'ok', JSON.stringify(report));
    await until('a fresh start', () => w.fw.starts === starts + 1, 10_000);
    await until('online again', () => count(w.fw.lines, /link online/) > sessions, 30_000);
    await until('the server to list it online', async () => (await deviceView(w.client))?.online === true);
    await printAll(w, receipt(3_000, 13));
  });

  test('config with a new server and token is kept in the preference store and used, now and after a restart', async () => {
    const data = tempDir('pb-fw-second-');
    const store = openStore(data);
    const token = addDevice(store, DEVICE_ID, []);
    store.close();
    const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: 'second-admin' } });
    const { port } = await serve.waitForEvent<{ port: number }>('listening');
    const second = await connectClient(`ws://127.0.0.1:${port}/v1/client`, 'second-admin');
    try {
      const url = `ws://127.0.0.1:${port}`;
      const report = await control(w.client, 'config', { server: url, token });
      assert.equal(report.status, 'ok', JSON.stringify(report));
      await until('the second server to list it online', async () => (await deviceView(second))?.online === true, 30_000);
      await until('the first server to see it go', async () => (await deviceView(w.client))?.online === false, 30_000);
      const prefs = readFileSync(join(w.dir, 'firmware', 'modpreferences.json'), 'utf8');
      assert.ok(prefs.includes(url) && prefs.includes(token), `saved in the SDK's preference store: ${prefs}`);

      // The build still names the first server: after a restart only the preference store can send it to the second.
      const starts = w.fw.starts;
      const restarted = await control(second, 'restart');
      assert.equal(restarted.status, 'ok', JSON.stringify(restarted));
      await until('a fresh start', () => w.fw.starts === starts + 1, 10_000);
      await w.fw.waitFor(/link online/, 30_000, lastIndex(w.fw.lines, /runner: firmware restarted/));
      await until('the second server to list it online after the restart', async () => (await deviceView(second))?.online === true, 30_000);
      assert.equal((await deviceView(w.client))?.online, false, 'never back to the build server');
      assert.ok(!w.fw.lines.some((l) => /abort/.test(l)));
      await printAll(w, receipt(2_000, 14), second);
    } finally {
      await second.close();
    }
  });
});

describe('firmware on the SDK runtime: close codes that stop a device', () => {
  test('replaced by a twin with the same id (4001): it stops reconnecting', async () => {
    const w = await startWorld();
    try {
      await w.fw.waitFor(/link online/, 60_000, 0);
      const mark = w.fw.lines.length;
      // A twin: the same id and token over a raw socket, straight to the server.
      const twin = new WebSocket(`ws://127.0.0.1:${w.serverPort}/v1/device?id=${DEVICE_ID}`, { headers: { authorization: `Bearer ${w.deviceToken}` } });
      await new Promise<void>((resolve, reject) => twin.once('open', () => resolve()).once('error', reject));
      twin.send(JSON.stringify({ t: 'hello', v: [1, 2], id: DEVICE_ID, fw: 'twin', caps: [], window: 4096, maxChunk: 1024, ports: [{ port: 0, dialect: 'escpos' }] }));
      await w.fw.waitFor(/4001/, 15_000, mark);
      await w.fw.waitFor(/link stopped/, 5_000, mark);
      const connections = w.proxy.connections;
      // Its backoff ceiling here is 2 s: three ceilings without a try.
      await new Promise((r) => setTimeout(r, 6_000));
      assert.equal(w.proxy.connections, connections, 'no new connection after 4001');
      assert.ok(w.fw.lines.some((l) => /led refused/.test(l)), "the LED says a person must act");
      twin.close();
    } finally {
      await w.close();
    }
  });

  test('a wrong token: one line naming the refusal within 5 s, the refused LED, and it keeps trying slowly', async () => {
    const w = await startWorld({ config: { token: 'not-the-token' } });
    try {
      await w.fw.waitFor(/wifi: up/, 60_000, 0);
      const up = w.fw.lines.length;
      const said = await w.fw.waitFor(/HTTP 401: unknown id or wrong token/, 5_000, up);
      assert.match(said, /^error: the server refused device lin-1/);
      assert.ok(!said.includes('not-the-token'), 'the line never holds the token');
      await w.fw.waitFor(/led refused/, 5_000, up);
      // More attempts, but no line per attempt: the cause is said again at most once a minute.
      const tries = w.proxy.connections;
      await until('another attempt', () => w.proxy.connections > tries, 30_000);
      assert.equal(count(w.fw.lines, /HTTP 401/), 1, w.fw.lines.filter((l) => !l.startsWith('pin ')).join('\n'));
    } finally {
      await w.close();
    }
  });

  test('removed on the server (4006): it stops reconnecting', async () => {
    const w = await startWorld();
    try {
      await w.fw.waitFor(/link online/, 60_000, 0);
      const mark = w.fw.lines.length;
      const removed = (await w.client.request('device.remove', { device: DEVICE_ID })) as { closed: number };
      assert.equal(removed.closed, 1);
      await w.fw.waitFor(/4006/, 15_000, mark);
      await w.fw.waitFor(/link stopped/, 5_000, mark);
      const connections = w.proxy.connections;
      await new Promise((r) => setTimeout(r, 6_000));
      assert.equal(w.proxy.connections, connections, 'no new connection after 4006');
    } finally {
      await w.close();
    }
  });
});
