// The device behaviour scenarios on the real XS engine: the built firmware
// (core + Moddable host, unchanged) against the real server and the real
// printer emulator, through Moddable module doubles (see xs-board.ts).
// `npm run test:xs` runs these alone.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEVICE_ID, online, printed, receipt, sha256, startFixture, submit, SSID, type Fixture } from './fixture.js';

interface DeviceRow { id: string; online: boolean; fw?: string; heap?: number; rssi?: number; led?: string }

async function device(f: Fixture): Promise<DeviceRow | undefined> {
  const rows = (await f.client.request('devices.list')) as DeviceRow[];
  return rows.find((d) => d.id === DEVICE_ID);
}

function onlineCount(f: Fixture): number {
  return f.board.traces.filter((t) => t.includes('info: online')).length;
}

async function printAndCheck(f: Fixture, size: number, seed: number, midway?: () => void | Promise<void>): Promise<void> {
  const before = printed(f).length;
  const data = receipt(size, seed);
  const startBytes = f.board.uartBytes;
  const id = await submit(f, data);
  if (midway) {
    await f.board.waitFor('the job to be part-way out of the UART', () => f.board.uartBytes - startBytes > size / 4);
    await midway();
  }
  await f.board.waitFor(`job ${id} done`, () => f.jobs.get(id)?.state === 'done', 30_000);
  await f.emulator.waitForEvent({ event: 'received', bytes: before + size });
  assert.equal(sha256(printed(f).subarray(before)), sha256(data), 'the printer got exactly the job, once');
  assert.deepEqual(f.board.overruns, [], 'no write larger than the FIFO room');
  assert.deepEqual(f.board.fatals, []);
}

describe('XS firmware: connect, print, status', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(() => f.close());

  test('joins Wi-Fi, connects with its token in the upgrade and goes online', async () => {
    await f.board.waitFor('online', () => online(f));
    const first = f.board.socketLog[0];
    assert.ok(first, 'a socket was opened');
    assert.match(first.url, new RegExp(`/v1/device\\?id=${DEVICE_ID}$`));
    assert.match(String((first.headers as Record<string, string>)['authorization']), /^Bearer /);
    const me = await device(f);
    assert.equal(me?.online, true);
    assert.match(me?.fw ?? '', /esp32/);
  });

  test('prints a job with identical bytes, never overfilling the UART FIFO', async () => {
    await printAndCheck(f, 20_000, 1);
  });

  test('reports heap and RSSI in its status and shows "online" on the LED', async () => {
    let me: DeviceRow | undefined;
    // The server learns heap and RSSI from the periodic status report; ask until it has them.
    for (let i = 0; i < 200 && (me?.heap === undefined || me.rssi === undefined); i++) {
      me = await device(f);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(typeof me?.heap, 'number');
    assert.equal(me?.rssi, -60, 'the RSSI the Wi-Fi double reports');
    assert.equal(me?.led, 'online');
    assert.equal(f.board.pins.at(-1)?.value, 1, 'steady on');
  });
});

describe('XS firmware: link failures', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture({ board: { uartDelay: 2 } });
    await f.board.waitFor('online', () => online(f));
  });
  after(() => f.close());

  test('a link cut mid-job resumes on a new socket with identical bytes', async () => {
    const sockets = f.board.socketLog.length;
    await printAndCheck(f, 40_000, 2, () => f.board.cutLink());
    assert.ok(f.board.socketLog.length > sockets, 'reconnected on a new socket');
  });

  test('a server restart is survived: back online and printing', async () => {
    const n = onlineCount(f);
    await f.restartServer();
    await f.board.waitFor('online again after the restart', () => onlineCount(f) > n);
    await printAndCheck(f, 8_000, 3);
  });

  test('a silent server is detected by the heartbeat and replaced by a new connection', async () => {
    const n = onlineCount(f);
    const mark = f.board.traces.length;
    f.board.silenceServer();
    await f.board.waitFor('the heartbeat to give up', () => f.board.tracesSince(mark).some((t) => t.includes('server silent')));
    await f.board.waitFor('online on a new socket', () => onlineCount(f) > n);
    await printAndCheck(f, 4_000, 4);
  });
});

describe('XS firmware: Wi-Fi drop', () => {
  let f: Fixture;
  before(async () => {
    // A slow printer, so the board holds a window of job data when Wi-Fi goes.
    f = await startFixture({ board: { uartDelay: 8 } });
    await f.board.waitFor('online', () => online(f));
  });
  after(() => f.close());

  test('keeps feeding the printer and blinks "no network" while Wi-Fi is gone, then finishes the job', async () => {
    const before = printed(f).length;
    const data = receipt(30_000, 5);
    const id = await submit(f, data);
    await f.board.waitFor('printing to start', () => f.board.uartBytes > 2_000);
    const mark = f.board.traces.length;
    const droppedAt = f.board.now();
    f.board.dropAccessPoint(SSID);
    await f.board.waitFor('the LED to show no-network', () => f.board.tracesSince(mark).some((t) => t.includes('led no-network')));
    const bytesAtDrop = f.board.uartBytes;
    await f.board.waitFor('the UART to keep taking held data', () => f.board.uartBytes > bytesAtDrop + 512);
    await f.board.waitFor('the LED to blink', () => f.board.pins.filter((p) => p.at > droppedAt).length >= 3);
    assert.notEqual(f.jobs.get(id)?.state, 'done', 'the job cannot finish without the server');
    f.board.restoreAccessPoint(SSID);
    await f.board.waitFor(`job ${id} done`, () => f.jobs.get(id)?.state === 'done', 30_000);
    await f.emulator.waitForEvent({ event: 'received', bytes: before + data.length });
    assert.equal(sha256(printed(f).subarray(before)), sha256(data));
    assert.deepEqual(f.board.overruns, []);
    assert.deepEqual(f.board.fatals, []);
    assert.ok(f.board.tracesSince(mark).some((t) => t.includes('led printing')), 'back to the printing pattern');
  });
});
