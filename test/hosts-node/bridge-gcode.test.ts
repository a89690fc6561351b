// A G-code print through the real pieces: the server, the Node bridge
// (runBridge, the device core's G-code dialect) and the Marlin emulator as a
// process on a TCP port with ADVANCED_OK, so several numbered lines are in
// flight. Lines vanish on the wire (drop-line@N): the printer answers the
// next one "Line Number is not Last Line Number+1" and `Resend:`, once per
// line behind the gap. The job must end done with every line run exactly
// once, in order, and without the dialect's time limit running out: a
// stalled stream would end only by that limit, whose M105 tickle (the only
// unnumbered line but M110 the dialect sends in a job, polls being off here)
// would then be in what the printer received.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runBridge } from '../../device/hosts/node/bridge.js';
import type { ClientEvent, JobView } from '../../protocol/client-messages.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { connectClient } from '../../tools/client/client.js';
import { executed, lessFence, moveJob } from '../helpers/gcode.js';
import { Processes } from '../helpers/processes.js';
import { startTestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { tcpEmulator, tempDir } from '../tools/emulator-fixture.js';

const procs = new Processes();
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await procs.killAll();
});

const LINES = 300;
const move = (i: number): string => `G1 X${(i * 7) % 200}.${i % 10} Y${(i * 13) % 200} E${(i * 0.04).toFixed(2)} F${1800 + (i % 5) * 300}`;

test('a G-code job through the bridge with lines lost on the wire (first, middle, last, two close together): done, each line once and in order, no stall', async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const srv = await startTestServer();
  cleanups.push(() => srv.close());
  const store = openStore(srv.dataDir);
  const token = addDevice(store, 'marlin-1', []);
  store.close();

  const drops = [1, 150, 200, 202, LINES];
  const linesOut = join(dir, 'lines.txt');
  const emu = await tcpEmulator(procs, dir, [
    '--advanced-ok', '--bufsize', '4', '--ok-delay', '2', '--lines-out', linesOut, ...drops.flatMap((n) => ['--fault', `drop-line@${n}`]),
  ], 'gcode');
  const bridge = await runBridge({
    server: `ws://127.0.0.1:${srv.server.port}`, id: 'marlin-1', token,
    printers: [{ uri: `tcp://127.0.0.1:${emu.port}`, dialect: 'gcode', poll: 0 }],
    log: () => {},
  });
  cleanups.push(() => bridge.stop());
  await until('bridge online', () => bridge.snapshot().link === 'online');

  const client = await connectClient(srv.wsUrl('/v1/client'), srv.server.adminToken);
  cleanups.push(() => client.close());
  const finals: JobView[] = [];
  client.on('event', (e: ClientEvent) => {
    if (e.event === 'job.updated' && ['done', 'failed', 'canceled'].includes(e.job.state)) finals.push(e.job);
  });
  const { cmds, text } = moveJob(LINES, move);
  const submitted = (await client.request('job.submit', { printer: 'marlin-1/0', data: Buffer.from(text, 'latin1').toString('base64') })) as JobView;
  const end = await until('the job ends', () => finals.find((j) => j.id === submitted.id), 120_000);

  assert.equal(end.state, 'done', JSON.stringify(end));
  assert.equal(end.written, end.size, 'every byte of the job counted written, none twice');
  assert.equal(end.size, text.length);
  const lost = emu.proc.events().filter((e) => e['event'] === 'fault').map((e) => Number(e['line']));
  assert.deepEqual([...lost].sort((a, b) => a - b), drops, 'each of those lines vanished once');
  assert.deepEqual(lessFence(executed(linesOut)), ['M110 N0', ...cmds], 'every line ran exactly once, in order');
  const unnumbered = readFileSync(emu.out, 'latin1').split('\n').filter((l) => l !== '' && !l.startsWith('N'));
  assert.deepEqual(unnumbered, ['M110 N0'], 'no M105 tickle: the stream never waited for the time limit');
  const report = await emu.proc.waitForEvent((e) => e['event'] === 'gcode' && Number(e['executed']) >= LINES + 1);
  assert.equal(report['overruns'], 0, 'never more lines than the printer had room for');
  assert.ok(Number(report['maxQueued']) >= 2, 'several lines were in flight');
});
