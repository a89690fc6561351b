// A broker that stalls (SIGSTOP: the socket stays open, nothing is read)
// rather than dies: the link must not buffer without bound. Past
// MAX_BACKLOG_BYTES unsent it stops publishing, and when the broker reads
// again it says so and publishes once more. Delivery reports of about
// MAX_PAYLOAD_BYTES each, emitted on the hub as control.send does, fill the
// socket fast; the server core is real (store, Hub), the broker is a real
// Mosquitto on 127.0.0.1.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DeliveryReport } from '../../protocol/client-messages.js';
import type { Clock, Log } from '../../server/core/context.js';
import { Hub } from '../../server/core/hub.js';
import { resolveLimits } from '../../server/limits.js';
import { MAX_BACKLOG_BYTES, MqttLink, resolveMqtt } from '../../server/mqtt/link.js';
import { MAX_PAYLOAD_BYTES } from '../../server/mqtt/state.js';
import { openStore } from '../../server/store/db.js';
import { startMosquitto, watchTopics } from '../helpers/mosquitto.js';
import type { LogEntry } from '../helpers/server.js';
import { Processes } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { tempDir } from '../tools/emulator-fixture.js';

const procs = new Processes();
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await procs.killAll();
});

const clock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

test('a stalled broker: publishing pauses past the backlog cap instead of buffering every report, and resumes when it reads again', async () => {
  const { dir, cleanup } = tempDir('printbridge-mqtt-stall-');
  cleanups.push(cleanup);
  const broker = await startMosquitto(procs, dir);
  const store = openStore(join(dir, 'data'));
  const hub = new Hub({
    store, limits: resolveLimits({}), clock, log: () => undefined,
    heartbeatMs: 25_000, helloTimeoutMs: 10_000, controlTimeoutMs: 5_000, version: 'test',
  });
  cleanups.push(() => {
    hub.stop();
    store.close();
  });
  const logs: LogEntry[] = [];
  const log: Log = (level, msg, fields) => void logs.push({ level, msg, fields });
  const link = new MqttLink(resolveMqtt({ url: broker.url, prefix: 'stall', discoveryPrefix: false }), { hub, clock, log, node: 'stall', version: 'test' });
  cleanups.push(() => link.close());
  const watch = await watchTopics(broker.url, 'stall/control/+/report');
  cleanups.push(() => watch.close());
  await until('the link up', () => link.connected);

  // One report just under the payload cap: ~250 KiB of messages to devices.
  const reports: DeliveryReport[] = Array.from({ length: 1000 }, (_, i) => ({ device: `d${i}`, status: 'error', message: 'x'.repeat(220) }));
  const report = (ref: string): void => hub.events.emit({ event: 'control.delivered', ref, reports });
  report('before');
  await watch.waitFor('stall/control/before/report');

  const pid = broker.proc.pid;
  assert.ok(pid !== undefined);
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  const resume = (): void => {
    if (!resumed) process.kill(pid, 'SIGCONT');
    resumed = true;
  };
  cleanups.push(resume);
  const unsent = (): number => (link.client.stream as { writableLength?: number }).writableLength ?? 0;
  let most = 0;
  const emitted = 200; // ~50 MiB: far past the cap and the kernel's socket buffers
  for (let i = 0; i < emitted; i++) {
    report(`stalled-${i}`);
    most = Math.max(most, unsent());
    // Lets the socket flush what the kernel still takes, as the event loop would between events.
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(logs.some((l) => l.msg.startsWith('mqtt broker does not read fast enough')), JSON.stringify(logs));
  assert.ok(most <= MAX_BACKLOG_BYTES + 2 * MAX_PAYLOAD_BYTES, `unsent bytes grew to ${most}`);

  resume();
  await until('the link to say the broker caught up', () => logs.some((l) => l.msg.startsWith('mqtt broker caught up')), 20_000);
  const stalled = watch.on(/^stall\/control\/stalled-\d+\/report$/).length;
  assert.ok(stalled < emitted, `all ${emitted} reports went out`);
  // Publishing goes on after the pause.
  report('after');
  await watch.waitFor('stall/control/after/report', undefined, { ms: 20_000 });
  assert.ok(link.connected);
});
