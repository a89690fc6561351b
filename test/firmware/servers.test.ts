// The firmware's server setting with two URLs, on the SDK's real runtime: a
// config control message sets the list (one bad entry refuses it all), the
// list is kept in the preference store, and when the first server stops
// taking the board it moves to the second by itself and prints there.
// Both URLs reach the one real server through their own loopback proxy, so
// the test can take one away while the server stays.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DeviceView } from '../../protocol/client-messages.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { DEVICE_ID, printed, quiet, receipt, sha256, startWorld, submit, until, type World } from './fixture.js';

interface DeliveryReport { device: string; status: string; code?: string; message?: string }

async function config(w: World, server: string): Promise<DeliveryReport> {
  const r = (await w.client.request('control.send', { to: { device: DEVICE_ID }, name: 'config', args: { server }, timeout: 10_000 })) as { reports: DeliveryReport[] };
  const report = r.reports[0];
  assert.ok(report, 'one delivery report');
  return report;
}

async function online(w: World): Promise<boolean> {
  return ((await w.client.request('devices.list')) as DeviceView[]).find((d) => d.id === DEVICE_ID)?.online === true;
}

describe('firmware on the SDK runtime: several servers', () => {
  let w: World;
  let second: TcpProxy;
  before(async () => {
    w = await startWorld();
    second = await startTcpProxy(w.serverPort);
    await w.fw.waitFor(/link online/, 60_000, 0);
  });
  after(async () => {
    await w.close();
    await second.close();
  });

  test('a list with an entry that is no URL is refused, naming it, and nothing is kept', async () => {
    const report = await config(w, `ws://127.0.0.1:${w.proxy.port} 127.0.0.1:${second.port}`);
    assert.equal(report.code, 'BAD_FIELD', JSON.stringify(report));
    assert.match(report.message ?? '', new RegExp(`"127\\.0\\.0\\.1:${second.port}" is not a server URL`));
    let prefs = '';
    try {
      prefs = readFileSync(join(w.dir, 'firmware', 'modpreferences.json'), 'utf8');
    } catch {
      // No preference written at all.
    }
    assert.ok(!prefs.includes(String(second.port)), prefs);
    assert.equal(await online(w), true);
  });

  test('two servers: kept in the preference store; the first stops taking it, it moves to the second and prints', async () => {
    const list = `ws://127.0.0.1:${w.proxy.port},ws://127.0.0.1:${second.port}`;
    const mark = w.fw.lines.length;
    const report = await config(w, list);
    assert.equal(report.status, 'ok', JSON.stringify(report));
    await w.fw.waitFor(/link online/, 30_000, mark);
    const prefs = readFileSync(join(w.dir, 'firmware', 'modpreferences.json'), 'utf8');
    assert.ok(prefs.includes(list), `saved as one setting: ${prefs}`);
    assert.equal(second.connections, 0, 'the first of the list is used while it works');

    // The first goes away (its connection cut, new ones refused): the board moves on.
    const moved = w.fw.lines.length;
    w.proxy.setRefusing(true);
    try {
      await w.fw.waitFor(/link online/, 30_000, moved);
      assert.ok(second.connections >= 1, 'online through the second server');
      assert.ok(w.since(moved).some((l) => /^warn: .*127\.0\.0\.1:/.test(l) && l.includes(`:${w.proxy.port}`)), w.since(moved).filter((l) => !l.startsWith('pin ')).join('\n'));
      await until('the server to list it online', () => online(w), 30_000);
      const before = await quiet(w);
      const data = receipt(20_000, 21);
      const id = await submit(w, data);
      await until(`job ${id} done`, () => w.jobs.get(id)?.state === 'done', 60_000);
      await until('the printer to have it all', () => printed(w).length >= before + data.length, 60_000);
      assert.equal(sha256(printed(w).subarray(before, before + data.length)), sha256(data));
    } finally {
      w.proxy.setRefusing(false);
    }
  });
});
