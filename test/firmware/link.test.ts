// The firmware on the Moddable SDK's real runtime (Linux host) against a real
// server at its default heartbeat: it connects, prints a 256 KiB job byte for
// byte through a PTY printer, and keeps one connection across the server's
// pings (which a client that answers unmasked, or not at all, cannot).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DeviceView } from '../../protocol/client-messages.js';
import { count, DEVICE_ID, printed, receipt, sha256, startWorld, submit, until, type World } from './fixture.js';

/** The server's default heartbeat (server/server.ts): a ping per round, a missing pong ends the link. */
const SERVER_HEARTBEAT_MS = 25_000;

describe('firmware on the SDK runtime: connect, print, heartbeat', () => {
  let w: World;
  let onlineAt = 0;
  before(async () => {
    w = await startWorld();
  });
  after(() => w.close());

  test('joins Wi-Fi through the ECMA-419 interface, connects with its token and goes online', async () => {
    await w.fw.waitFor(/link online/, 60_000, 0);
    onlineAt = Date.now();
    const lines = w.fw.lines;
    const joined = lines.findIndex((l) => /wifi: up/.test(l));
    const online = lines.findIndex((l) => /link online/.test(l));
    assert.ok(joined >= 0 && joined < online, 'Wi-Fi came up before the link');
    const me = ((await w.client.request('devices.list')) as DeviceView[]).find((d) => d.id === DEVICE_ID);
    assert.equal(me?.online, true);
    assert.match(me?.fw ?? '', /esp32/);
    assert.ok(lines.some((l) => /led online/.test(l)), 'the LED shows online');
    assert.ok(lines.some((l) => /^pin 2 = 1$/.test(l)), 'the LED pin was driven');
  });

  test('prints a 256 KiB job byte-identical to a PTY printer', async () => {
    const data = receipt(256 * 1024, 7);
    const id = await submit(w, data);
    const job = await until(`job ${id} to end`, () => {
      const j = w.jobs.get(id);
      return j !== undefined && ['done', 'failed', 'canceled'].includes(j.state) ? j : undefined;
    }, 120_000);
    assert.equal(job.state, 'done', JSON.stringify(job));
    await w.emulator.waitForEvent({ event: 'received', bytes: data.length }, { timeout: 30_000 });
    assert.equal(printed(w).length, data.length);
    assert.equal(sha256(printed(w)), sha256(data), 'the printer got exactly the job, once');
  });

  test('keeps one connection across the server heartbeats (pongs are masked and in time)', async () => {
    const rounds = 2;
    const wait = onlineAt + rounds * SERVER_HEARTBEAT_MS + 3_000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    assert.equal(count(w.fw.lines, /link online/), 1, `one session only:\n${w.fw.lines.filter((l) => !l.startsWith('pin ')).slice(-20).join('\n')}`);
    assert.equal(w.proxy.connections, 1, "one TCP connection through the proxy");
    const me = ((await w.client.request('devices.list')) as DeviceView[]).find((d) => d.id === DEVICE_ID);
    assert.equal(me?.online, true);
    assert.equal(count(w.fw.lines, /abort/), 0);
  });
});

describe('firmware on the SDK runtime: the access point lost while joining (radio stand-in)', () => {
  /** Longer than the test waits: a join that never ends would only be ended by it. */
  const JOIN_TIMEOUT_MS = 60_000;
  let w: World;
  before(async () => {
    w = await startWorld({ config: { wifiTimeout: JOIN_TIMEOUT_MS } });
    await w.fw.waitFor(/link online/, 60_000, 0);
  });
  after(() => w.close());

  test('a join under way when the access point goes fails as a join that finds none, and the station keeps trying until it is back', async () => {
    let mark = w.fw.lines.length;
    await w.control('wifi down');
    await w.fw.waitFor(/wifi: down/, 10_000, mark);
    // The station's next try is a join in progress (connection 300) that waits for an access point; it goes again meanwhile.
    mark = w.fw.lines.length;
    await w.fw.waitFor(/wifi: joining/, 10_000, mark);
    await w.control('wifi down');
    const tries = count(w.fw.lines, /wifi: joining/);
    await until('the join to fail and the station to try again', () => count(w.fw.lines, /wifi: joining/) > tries, 10_000);
    assert.equal(count(w.since(mark), /no address from/), 0, 'the join failed by itself, not by the station giving up on it');
    mark = w.fw.lines.length;
    await w.control('wifi up');
    await w.fw.waitFor(/wifi: up/, 15_000, mark);
    await w.fw.waitFor(/link online/, 30_000, mark);
  });
});
