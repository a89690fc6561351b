// Control messages on the real XS engine, sent by an admin client through
// the real server's control relay (client op `control.send`) to the built
// firmware: identify and LED overrides as seen on the LED pin double,
// config persisted through the preference double and used to reconnect,
// restart through the restart binding (the board reboots with what
// Preference held), an unknown control, and the busy/CTS input holding the
// UART. Waits are conditions; their timeouts only stop a stuck test.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { levelAt } from '../../device/core/leds.js';
import type { LedPattern } from '../../protocol/device-messages.js';
import type { ClientEvent, DeliveryReport, DeviceView, JobView, PrinterView } from '../../protocol/client-messages.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { tempDir } from '../helpers/server.js';
import { DEVICE_ID, online, printed, receipt, sha256, startFixture, submit, type Fixture } from './fixture.js';
import type { PinEdge } from './xs-board.js';

const LED_PIN = 2;
const BUSY_PIN = 4;

async function control(client: Client, name: string, args: Record<string, unknown> = {}): Promise<DeliveryReport> {
  const r = (await client.request('control.send', { to: { device: DEVICE_ID }, name, args, timeout: 10_000 })) as { ref: string; reports: DeliveryReport[] };
  assert.equal(r.reports.length, 1, 'one report for one device');
  const report = r.reports[0]!;
  assert.equal(report.device, DEVICE_ID);
  return report;
}

async function deviceView(client: Client): Promise<DeviceView | undefined> {
  return ((await client.request('devices.list')) as DeviceView[]).find((d) => d.id === DEVICE_ID);
}

async function printerView(client: Client): Promise<PrinterView | undefined> {
  return ((await client.request('printers.list')) as PrinterView[]).find((p) => p.device === DEVICE_ID && p.port === 0);
}

/** Polls the server until `done` holds for what it returns; the limit only stops a stuck test. */
async function until<T>(what: string, get: () => Promise<T>, done: (v: T) => boolean, limit = 20_000): Promise<T> {
  const end = Date.now() + limit;
  for (;;) {
    const v = await get();
    if (done(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function onlineCount(f: Fixture): number {
  return f.board.traces.filter((t) => t.includes('info: online')).length;
}

function ledEdges(f: Fixture, from: number): PinEdge[] {
  return f.board.pins.slice(from).filter((p) => p.pin === LED_PIN);
}

/** Every write the LED double saw is the level the pattern has at that board time. */
function assertFollows(edges: readonly PinEdge[], pattern: LedPattern): void {
  for (const e of edges) assert.equal(e.value, levelAt(pattern, Math.floor(e.at)), `${pattern} level at ${e.at}: ${JSON.stringify(edges)}`);
}

/** Submits `data` (or takes a job already submitted when the printer's output was `before` long) and checks it printed exactly. */
async function printAll(f: Fixture, client: Client, data: Uint8Array, submitted?: { id: string; before: number }): Promise<void> {
  const before = submitted?.before ?? printed(f).length;
  let id = submitted?.id;
  if (id === undefined) {
    const job = (await client.request('job.submit', { printer: `${DEVICE_ID}/0`, data: Buffer.from(data).toString('base64') })) as JobView;
    id = job.id;
  }
  await until(`job ${id} done`, () => client.request('job.get', { job: id }) as Promise<JobView>, (j) => j.state === 'done', 30_000);
  await f.emulator.waitForEvent({ event: 'received', bytes: before + data.length });
  assert.equal(sha256(printed(f).subarray(before)), sha256(data), 'the printer got exactly the job, once');
}

describe('XS firmware: control messages through the server relay', () => {
  let f: Fixture;
  const ledsSeen: string[] = [];
  let second: { server: RunningServer; client: Client; token: string; url: string } | undefined;

  before(async () => {
    // A slow printer so a job is still under way when a control arrives; a busy/CTS input on GPIO 4.
    f = await startFixture({ board: { uartDelay: 2, config: { busyPin: BUSY_PIN } } });
    f.client.on('event', (e: ClientEvent) => {
      if (e.event === 'device.status' && e.device.id === DEVICE_ID && e.device.led !== undefined && ledsSeen.at(-1) !== e.device.led) ledsSeen.push(e.device.led);
    });
    await f.board.waitFor('online', () => online(f));
    await until('the server to see the "online" LED', () => deviceView(f.client), (d) => d?.led === 'online');
  });
  after(async () => {
    await f.close();
    await second?.client.close().catch(() => {});
    await second?.server.close();
  });

  test('identify blinks the identify pattern on the LED pin, then returns to "online" after the time', async () => {
    assert.equal(f.board.pins.filter((p) => p.pin === LED_PIN).at(-1)?.value, 1, 'steady "online" before');
    const pinMark = f.board.pins.length;
    const traceMark = f.board.traces.length;
    const sentAt = f.board.now();
    const report = await control(f.client, 'identify', { seconds: 3 });
    assert.equal(report.status, 'ok', JSON.stringify(report));
    await f.board.waitFor('the LED to return to "online"', () => f.board.tracesSince(traceMark).some((t) => t.includes('led online')));
    const backBy = f.board.now();
    assert.ok(f.board.tracesSince(traceMark).some((t) => t.includes('led identify')));
    // The core ends identify at the first moment at or after its deadline, which is after sentAt + 3 s.
    assert.ok(backBy >= sentAt + 3_000, `back to "online" at ${backBy}, before the 3 s had passed since ${sentAt}`);
    const blinking = ledEdges(f, pinMark).filter((e) => e.at < sentAt + 3_000);
    assert.ok(blinking.filter((e) => e.value === 0).length >= 2, `the LED went dark several times: ${JSON.stringify(blinking)}`);
    assertFollows(blinking, 'identify');
    // Steady again: no edge for two more identify periods after the return.
    const settled = f.board.pins.length;
    await f.board.waitFor('two more seconds of board time', () => f.board.now() > backBy + 2_000);
    assert.deepEqual(ledEdges(f, settled).filter((e) => e.at > backBy), [], 'no blinking after identify ended');
    assert.equal(f.board.pins.filter((p) => p.pin === LED_PIN).at(-1)?.value, 1, 'lit steady');
    await until('the server to see the LED back to "online"', () => deviceView(f.client), (d) => d?.led === 'online');
    const i = ledsSeen.lastIndexOf('identify');
    assert.ok(i >= 0 && ledsSeen.slice(i + 1).includes('online'), `status reports showed identify then online: ${ledsSeen.join(' ')}`);
  });

  test('an LED override holds until "auto" gives the LED back to the device', async () => {
    const bad = await control(f.client, 'led', { pattern: 'disco' });
    assert.equal(bad.status, 'error');
    assert.equal(bad.code, 'BAD_FIELD');

    const pinMark = f.board.pins.length;
    const sentAt = f.board.now();
    const report = await control(f.client, 'led', { pattern: 'printer-error' });
    assert.equal(report.status, 'ok', JSON.stringify(report));
    await until('the server to see the override', () => deviceView(f.client), (d) => d?.led === 'printer-error');
    // No expiry was given: the strobe keeps going well past any identify-like time.
    await f.board.waitFor('the strobe to run for 4 s of board time', () => f.board.now() > sentAt + 4_000);
    const strobe = ledEdges(f, pinMark);
    assert.ok(strobe.filter((e) => e.value === 0).length >= 5, `the LED strobes: ${strobe.length} edges`);
    assert.ok(strobe.some((e) => e.at > sentAt + 3_500), 'still strobing after 3.5 s');
    assertFollows(strobe, 'printer-error');
    assert.equal((await deviceView(f.client))?.led, 'printer-error', 'the override is still in force');

    const traceMark = f.board.traces.length;
    const auto = await control(f.client, 'led', { pattern: 'auto' });
    assert.equal(auto.status, 'ok', JSON.stringify(auto));
    await f.board.waitFor('the LED to return to "online"', () => f.board.tracesSince(traceMark).some((t) => t.includes('led online')));
    const backBy = f.board.now();
    await f.board.waitFor('one more second of board time', () => f.board.now() > backBy + 1_000);
    assert.deepEqual(ledEdges(f, pinMark).filter((e) => e.at > backBy), [], 'steady after auto');
    assert.equal(f.board.pins.filter((p) => p.pin === LED_PIN).at(-1)?.value, 1);
    await until('the server to see "online" again', () => deviceView(f.client), (d) => d?.led === 'online');
  });

  test('an unknown control is answered UNSUPPORTED while the board keeps printing', async () => {
    const sockets = f.board.socketLog.length;
    const data = receipt(40_000, 11);
    const start = f.board.uartBytes;
    const before = printed(f).length;
    const id = await submit(f, data);
    await f.board.waitFor('the job to be under way', () => f.board.uartBytes - start > 4_000);
    const report = await control(f.client, 'self-destruct', { now: 'yes' });
    assert.equal(report.status, 'error');
    assert.equal(report.code, 'UNSUPPORTED');
    assert.match(report.message ?? '', /self-destruct/);
    await printAll(f, f.client, data, { id, before });
    assert.equal(f.board.socketLog.length, sockets, 'the same connection throughout');
    assert.deepEqual(f.board.restarts, []);
    assert.deepEqual(f.board.overruns, []);
    assert.deepEqual(f.board.fatals, []);
  });

  test('the busy/CTS input holds UART writes while asserted; the job finishes once it drops', async () => {
    const data = receipt(30_000, 12);
    const start = f.board.uartBytes;
    const before = printed(f).length;
    const id = await submit(f, data);
    await f.board.waitFor('the job to be under way', () => f.board.uartBytes - start > 2_000);
    f.board.driveInput(BUSY_PIN, 1);
    await until('the server to see the printer busy', () => printerView(f.client), (p) => p?.status === 'busy');
    // Everything written before the busy edge went out with the status that reported it.
    const held = f.board.uartBytes;
    const pinMark = f.board.pins.length;
    // Let the board run on: the "printing" LED toggles every 150 ms of board time.
    await f.board.waitFor('a dozen LED edges while busy', () => ledEdges(f, pinMark).length >= 12);
    assert.equal(f.board.uartBytes, held, 'not one byte while the printer said busy');
    assert.ok(held - start < data.length, 'the job was held part-way');
    assert.notEqual(f.jobs.get(id)?.state, 'done');
    f.board.driveInput(BUSY_PIN, 0);
    await f.board.waitFor('the UART to resume', () => f.board.uartBytes > held);
    await printAll(f, f.client, data, { id, before });
    assert.deepEqual(f.board.overruns, []);
    assert.deepEqual(f.board.fatals, []);
  });

  test('restart goes through the restart binding; the rebooted board comes back online and prints', async () => {
    const n = onlineCount(f);
    const boots = f.board.boots.length;
    const report = await control(f.client, 'restart');
    assert.equal(report.status, 'ok', JSON.stringify(report));
    await f.board.waitFor('the restart binding to be called', () => f.board.restarts.length === 1);
    await f.board.waitFor('a fresh boot', () => f.board.boots.length === boots + 1);
    await f.board.waitFor('online again', () => onlineCount(f) > n);
    assert.equal(f.board.traces.filter((t) => /device \S+ \(.*\) starting/.test(t)).length, boots + 1, 'the firmware started again');
    await until('the server to list it online', () => deviceView(f.client), (d) => d?.online === true);
    await printAll(f, f.client, receipt(6_000, 13));
    assert.deepEqual(f.board.fatals, []);
  });

  test('config with a new server and token is saved in Preference and used, now and after a reboot', async () => {
    const dataDir = tempDir('pb-xs-second-');
    const store = openStore(dataDir);
    const token = addDevice(store, DEVICE_ID, []);
    store.close();
    const server = await startServer({ host: '127.0.0.1', port: 0, dataDir, adminToken: 'second-admin', heartbeatMs: 60_000, log: () => {} });
    const client = await connectClient(`ws://127.0.0.1:${server.port}/v1/client`, 'second-admin');
    const url = `ws://127.0.0.1:${server.port}`;
    second = { server, client, token, url };
    const firstUrl = String(f.board.socketLog[0]?.url);
    assert.ok(!firstUrl.startsWith(url));

    const sockets = f.board.socketLog.length;
    const report = await control(f.client, 'config', { server: url, token });
    assert.equal(report.status, 'ok', JSON.stringify(report));
    await f.board.waitFor('a socket to the second server', () => f.board.socketLog.slice(sockets).some((s) => s.url.startsWith(url)));
    assert.equal(f.board.saved()['server'], url, 'server written through the preference double');
    assert.equal(f.board.saved()['token'], token, 'token written through the preference double');
    assert.ok(f.board.prefs.every((p) => String(p['key']).length <= 15 && p['domain'] === 'printbridge'));
    const moved = f.board.socketLog.slice(sockets).find((s) => s.url.startsWith(url));
    assert.equal((moved?.headers as Record<string, string>)['authorization'], `Bearer ${token}`, 'the new token in the upgrade');
    await until('the second server to list it online', () => deviceView(client), (d) => d?.online === true);
    await until('the first server to see it go', () => deviceView(f.client), (d) => d?.online === false);

    // The build still says server 1: after a reboot only Preference can send it to server 2.
    const boots = f.board.boots.length;
    const n = onlineCount(f);
    const afterBoot = f.board.socketLog.length;
    const restarted = await control(client, 'restart');
    assert.equal(restarted.status, 'ok', JSON.stringify(restarted));
    await f.board.waitFor('a fresh boot', () => f.board.boots.length === boots + 1);
    await f.board.waitFor('a socket after the reboot', () => f.board.socketLog.length > afterBoot);
    const rebootSocket = f.board.socketLog[afterBoot]!;
    assert.ok(rebootSocket.url.startsWith(url), `the rebooted board went to ${rebootSocket.url}`);
    assert.equal((rebootSocket.headers as Record<string, string>)['authorization'], `Bearer ${token}`);
    await f.board.waitFor('online again after the reboot', () => onlineCount(f) > n);
    await until('the second server to list it online after the reboot', () => deviceView(client), (d) => d?.online === true);
    await printAll(f, client, receipt(5_000, 14));
    assert.ok(f.board.socketLog.slice(afterBoot).every((s) => s.url.startsWith(url)), 'never back to the build server');
    assert.deepEqual(f.board.fatals, []);
  });
});
