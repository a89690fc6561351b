// What the server says on a real Mosquitto (test/helpers/mosquitto.ts), with
// real processes: `printbridge serve --mqtt`, bridges and printer emulators.
// A fresh subscriber is what a user's Home Assistant or mosquitto_sub is:
// what it gets right after subscribing is what the broker retained.
//
// In order: retained availability and state (compared with what the server
// answers over WebSocket), job events on a print, a control message's
// delivery report, Home Assistant's discovery (and its republish on HA's
// birth), a device going offline and being removed, the broker killed and
// restarted while a job prints, and last the server SIGKILLed: its Will.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectAsync } from 'mqtt';
import type { DeviceView, JobView, PrinterView } from '../../protocol/client-messages.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { markdownBlocks, where } from '../helpers/markdown-blocks.js';
import { startMosquitto, watchTopics, type Broker, type Watcher } from '../helpers/mosquitto.js';
import { Processes, REPO_ROOT, type Proc } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';
import { freePort } from '../../tools/free-port.js';

const ADMIN = 'mqtt-state-admin';
const NODE = 'mqtt-a';
const P = 'printbridge';
const FINAL = ['done', 'failed', 'canceled'];

const procs = new Processes();
const watchers: Watcher[] = [];
const { dir, cleanup } = tempDir('printbridge-mqtt-state-');
const DATA = join(dir, 'data');
const TOKENS = new Map<string, string>();
let broker: Broker;
let serve: Proc;
let client: Client;
let serverPort = 0;
const rigs = new Map<string, { emu: TcpEmulator; bridge: Proc }>();

after(async () => {
  for (const w of watchers) await w.close().catch(() => undefined);
  await client?.close();
  await procs.killAll();
  cleanup();
});

/** A subscriber made now: what it hears first is what the broker retained. */
async function fresh(filters: string | string[]): Promise<Watcher> {
  const w = await watchTopics(broker.url, filters);
  watchers.push(w);
  return w;
}

async function bridge(id: string, dialect: 'escpos' | 'gcode'): Promise<void> {
  const emu = rigs.get(id)?.emu ?? (await tcpEmulator(procs, dir, [], dialect));
  const proc = procs.cli([
    'bridge', '--server', `ws://127.0.0.1:${serverPort}`, '--id', id, '--token', TOKENS.get(id) ?? '',
    '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', dialect,
  ]);
  rigs.set(id, { emu, bridge: proc });
  await proc.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  await until(`${id}/0 online`, async () => (await client.request('printer.get', { printer: `${id}/0` })).status === 'online');
}

async function finished(id: string): Promise<JobView> {
  return until(`job ${id} to finish`, async () => {
    const j = await client.request('job.get', { job: id });
    return FINAL.includes(j.state) ? j : undefined;
  }, 60_000);
}

function serverLines(text: string): number {
  return serve.stderrLines.filter((l) => l.includes(text)).length;
}

let wsPort = 0;

before(async () => {
  // A second listener speaks MQTT over WebSocket, as brokers behind a web proxy do.
  wsPort = await freePort();
  broker = await startMosquitto(procs, dir, { config: `listener ${wsPort} 127.0.0.1\nprotocol websockets` });
  const store = openStore(DATA);
  try {
    for (const id of ['shop-1', 'shop-2', 'shop-3d', 'shop-4']) TOKENS.set(id, addDevice(store, id, []));
  } finally {
    store.close();
  }
  serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', DATA, '--json', '--mqtt', broker.url, '--node', NODE], {
    env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN },
  });
  serverPort = (await serve.waitForEvent<{ port: number }>('listening', { timeout: 20_000 })).port;
  client = await connectClient(`ws://127.0.0.1:${serverPort}/v1/client`, ADMIN);
  await bridge('shop-1', 'escpos');
  await bridge('shop-2', 'escpos');
  await bridge('shop-3d', 'gcode');
});

test('a fresh subscriber gets the node, each device and each printer, retained, as the server sees them', async () => {
  const w = await fresh(`${P}/#`);
  const node = await w.waitFor(`${P}/node/${NODE}/status`);
  assert.equal(node.text, 'online');
  assert.equal(node.retain, true);

  const availability = await w.waitFor(`${P}/shop-1/availability`);
  assert.deepEqual([availability.text, availability.retain], ['online', true]);
  const device = (await client.request('devices.list', {})).find((d: DeviceView) => d.id === 'shop-1');
  assert.ok(device);
  const state = await w.json<Record<string, unknown>>(`${P}/shop-1/state`);
  assert.equal(w.last(`${P}/shop-1/state`)?.retain, true);
  assert.equal(state['schema'], 1);
  assert.equal(state['id'], 'shop-1');
  assert.equal(state['online'], true);
  assert.equal(state['node'], NODE);
  assert.equal(state['fw'], device.fw);
  assert.deepEqual(state['ports'], device.ports);
  assert.equal(typeof state['since'], 'number');

  const printer: PrinterView = await client.request('printer.get', { printer: 'shop-1/0' });
  assert.equal((await w.waitFor(`${P}/shop-1/0/availability`)).text, 'online');
  const ps = await w.json<Record<string, unknown>>(`${P}/shop-1/0/state`, (s) => s['status'] === printer.status);
  assert.equal(w.last(`${P}/shop-1/0/state`)?.retain, true);
  assert.deepEqual(
    { schema: ps['schema'], id: ps['id'], device: ps['device'], port: ps['port'], dialect: ps['dialect'], online: ps['online'], job: ps['job'], progress: ps['progress'], queued: ps['queued'], paused: ps['paused'], node: ps['node'] },
    { schema: 1, id: 'shop-1/0', device: 'shop-1', port: 0, dialect: printer.dialect, online: true, job: null, progress: null, queued: 0, paused: false, node: NODE },
  );
});

test('--mqtt options are checked before anything starts (exit 2, one line), and a broker that is not there stops nothing', async () => {
  const usage: [string[], string][] = [
    [['--mqtt', 'http://127.0.0.1:1883'], 'the MQTT URL must start mqtt://, mqtts://, ws:// or wss://, not http://'],
    [['--mqtt', broker.url, '--mqtt-prefix', 'a/#'], 'the MQTT prefix "a/#" must not hold +, # or control characters'],
    [['--mqtt', broker.url, '--mqtt-discovery-prefix', '$SYS'], 'the MQTT discovery prefix "$SYS" must not start with $'],
    [['--mqtt', broker.url, '--mqtt-ca', join(dir, 'no-such-ca.pem')], `the MQTT CA file ${join(dir, 'no-such-ca.pem')} cannot be read`],
    [['--mqtt-username', 'u'], '--mqtt-username goes with --mqtt URL (or PRINTBRIDGE_MQTT)'],
  ];
  for (const [args, message] of usage) {
    const r = await procs.run(['serve', '--port', '0', '--data', join(dir, 'unused'), ...args], { env: { PRINTBRIDGE_MQTT: undefined } });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.includes(message), `${args.join(' ')}: ${r.stderr}`);
  }
  // Nothing listens on the broker's port: the server starts and serves all the same, and says so once.
  const nowhere = await freePort();
  const alone = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'alone'), '--json', '--mqtt', `mqtt://127.0.0.1:${nowhere}`], {
    env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN },
  });
  const { port } = await alone.waitForEvent<{ port: number }>('listening', { timeout: 20_000 });
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(health.status, 200);
  await alone.waitForLine('mqtt connection error; retrying', { stream: 'stderr' });
  const other = await connectClient(`ws://127.0.0.1:${port}/v1/client`, ADMIN);
  assert.deepEqual(await other.request('devices.list', {}), []);
  await other.close();
  await alone.kill();
  assert.equal(alone.stderrLines.filter((l) => l.includes('mqtt connection error')).length, 1, alone.tail());
  assert.equal(alone.stderrLines.filter((l) => l.includes('mqtt connected')).length, 0);
});

test('over WebSocket (ws://) as well, with its own prefix and node name', async () => {
  const w = await fresh('viaws/#');
  const viaWs = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'via-ws'), '--json', '--mqtt', `ws://127.0.0.1:${wsPort}`, '--mqtt-prefix', 'viaws', '--node', 'ws-node'], {
    env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN },
  });
  await viaWs.waitForEvent('listening', { timeout: 20_000 });
  assert.equal((await w.waitFor('viaws/node/ws-node/status')).text, 'online');
  await viaWs.waitForLine('mqtt connected', { stream: 'stderr' });
  // A clean stop says offline itself (no Will is sent for a clean disconnect).
  await viaWs.kill('SIGTERM');
  await w.waitFor('viaws/node/ws-node/status', (m) => m.text === 'offline');
});

test('a print is told as one message per state on the printer\'s job topics, not retained, and its progress in the printer state', async () => {
  const w = await fresh([`${P}/shop-1/0/job/#`, `${P}/shop-1/0/state`]);
  const data = Buffer.from(`\x1b@${'mqtt job line\n'.repeat(2000)}\x1dVA\x03`, 'latin1');
  const submitted = await client.request('job.submit', { printer: 'shop-1/0', data: data.toString('base64') });
  const job = await finished(submitted.id);
  assert.equal(job.state, 'done');
  const done = await w.json<JobView & Record<string, unknown>>(`${P}/shop-1/0/job/done`, (j) => j.id === job.id);
  assert.deepEqual(
    { schema: done['schema'], device: done['device'], port: done['port'], node: done['node'], id: done.id, printer: done.printer, state: done.state, size: done.size, written: done.written, progress: done.progress },
    { schema: 1, device: 'shop-1', port: 0, node: NODE, id: job.id, printer: 'shop-1/0', state: 'done', size: data.length, written: data.length, progress: 1 },
  );
  const states = w.on(/\/job\//).filter((m) => JSON.parse(m.text).id === job.id).map((m) => m.topic.split('/').at(-1));
  // Each state once, in the order the job went through them.
  assert.deepEqual(states, [...new Set(states)]);
  assert.equal(states[0], 'queued');
  assert.equal(states.at(-1), 'done');
  assert.ok(states.includes('sending'), `states told: ${states.join(', ')}`);
  assert.ok(w.on(/\/job\//).every((m) => !m.retain));
  // The printer state named the job while it was on the printer, and is back to no job.
  assert.ok(w.on(`${P}/shop-1/0/state`).some((m) => JSON.parse(m.text).job === job.id), 'the printer state named the job');
  await w.json(`${P}/shop-1/0/state`, (s) => s['job'] === null && s['status'] === 'online');

  // A subscriber made afterwards gets no job event: the retained availability arrives, the job topics stay silent.
  const late = await fresh([`${P}/shop-1/0/job/#`, `${P}/shop-1/availability`]);
  await late.waitFor(`${P}/shop-1/availability`);
  assert.deepEqual(late.on(/\/job\//), []);
});

test('a control message\'s delivery report goes to control/<ref>/report', async () => {
  const w = await fresh(`${P}/control/+/report`);
  const result = await client.request('control.send', { to: { device: 'shop-1' }, name: 'identify', args: {} });
  const report = await w.json<{ schema: number; ref: string; node: string; reports: { device: string; status: string }[] }>(`${P}/control/${result.ref}/report`);
  assert.equal(report.schema, 1);
  assert.equal(report.ref, result.ref);
  assert.equal(report.node, NODE);
  assert.deepEqual(report.reports.map((r) => [r.device, r.status]), result.reports.map((r) => [r.device, r.status]));
  assert.equal(w.last(`${P}/control/${result.ref}/report`)?.retain, false);
});

interface Discovery {
  dev: { ids: string[]; name: string };
  avty: { t: string }[];
  avty_mode: string;
  cmps: Record<string, { p: string; stat_t?: string; cmd_t?: string; val_tpl?: string; dev_cla?: string; avty?: { t: string }[] }>;
}

test('Home Assistant discovery: one retained config per device with its printers\' sensors and buttons, sent again when Home Assistant starts', async () => {
  const config = `homeassistant/device/${P}_shop-1/config`;
  const w = await fresh([config, `homeassistant/device/${P}_shop-3d/config`]);
  const d = await w.json<Discovery>(config);
  assert.equal(w.last(config)?.retain, true);
  assert.deepEqual(d.dev.ids, [`${P}_shop-1`]);
  assert.deepEqual(d.avty.map((a) => a.t), [`${P}/shop-1/availability`, `${P}/node/${NODE}/status`]);
  assert.equal(d.avty_mode, 'all');
  assert.deepEqual(Object.keys(d.cmps).sort(), ['identify', 'p0_cancel', 'p0_progress', 'p0_status']);
  assert.deepEqual([d.cmps['identify']?.p, d.cmps['identify']?.cmd_t], ['button', `${P}/shop-1/cmd/identify`]);
  assert.deepEqual([d.cmps['p0_cancel']?.p, d.cmps['p0_cancel']?.cmd_t], ['button', `${P}/shop-1/0/cmd/cancel`]);
  assert.deepEqual([d.cmps['p0_status']?.p, d.cmps['p0_status']?.stat_t], ['sensor', `${P}/shop-1/0/state`]);
  assert.deepEqual(d.cmps['p0_status']?.avty?.map((a) => a.t), [`${P}/shop-1/0/availability`, `${P}/node/${NODE}/status`]);
  assert.equal(d.cmps['p0_progress']?.stat_t, `${P}/shop-1/0/state`);

  // The G-code printer: a temperature sensor for each heater its printer reported, read from the temps the state carries.
  const state = await (await fresh(`${P}/shop-3d/0/state`)).json<{ temps: Record<string, { current: number }> }>(`${P}/shop-3d/0/state`, (s) => Object.keys(s.temps).length > 0);
  const heaters = Object.keys(state.temps).sort();
  const g = await w.json<Discovery>(`homeassistant/device/${P}_shop-3d/config`, (c) => Object.keys(c.cmps).some((k) => k.includes('_temp_')));
  assert.deepEqual(Object.keys(g.cmps).filter((k) => k.includes('_temp_')).sort(), heaters.map((h) => `p0_temp_${h}`).sort());
  for (const h of heaters) {
    assert.equal(g.cmps[`p0_temp_${h}`]?.dev_cla, 'temperature');
    assert.equal(g.cmps[`p0_temp_${h}`]?.stat_t, `${P}/shop-3d/0/state`);
  }

  // Home Assistant's birth: every node publishes its devices' discovery again (live, so not retained on the way).
  const from = w.mark();
  const ha = await connectAsync(broker.url, { protocolVersion: 5 });
  await ha.publishAsync('homeassistant/status', 'online', { qos: 1 });
  await ha.endAsync();
  const again = await w.waitFor(config, () => true, { from });
  assert.deepEqual(JSON.parse(again.text), d);
});

test('a device going offline is offline on the broker; removed, nothing of it stays there', async () => {
  const rig = rigs.get('shop-2');
  assert.ok(rig);
  const w = await fresh(`${P}/shop-2/#`);
  await w.waitFor(`${P}/shop-2/availability`, (m) => m.text === 'online');
  const from = w.mark();
  await rig.bridge.kill();
  await w.waitFor(`${P}/shop-2/availability`, (m) => m.text === 'offline', { from });
  await w.waitFor(`${P}/shop-2/0/availability`, (m) => m.text === 'offline', { from });
  const offline = await w.json<Record<string, unknown>>(`${P}/shop-2/0/state`, (s) => s['online'] === false, { from });
  assert.equal(offline['status'], 'offline');
  const retained = await fresh(`${P}/shop-2/#`);
  assert.equal((await retained.waitFor(`${P}/shop-2/availability`)).text, 'offline');
  assert.equal((await retained.json<Record<string, unknown>>(`${P}/shop-2/state`))['online'], false);

  // Back, then removed while online: its retained topics and its discovery config are emptied.
  const back = w.mark();
  await bridge('shop-2', 'escpos');
  await w.waitFor(`${P}/shop-2/availability`, (m) => m.text === 'online', { from: back });
  const config = `homeassistant/device/${P}_shop-2/config`;
  const ha = await fresh(config);
  await ha.waitFor(config, (m) => m.text !== '');
  await client.request('device.remove', { device: 'shop-2' });
  await ha.waitFor(config, (m) => m.text === '');
  const emptied = [`${P}/shop-2/availability`, `${P}/shop-2/state`, `${P}/shop-2/0/availability`, `${P}/shop-2/0/state`];
  for (const topic of emptied) await w.waitFor(topic, (m) => m.payload.length === 0);
  // A subscriber after the removal: the node's status comes (retained), and nothing of shop-2.
  const after = await fresh([config, `${P}/shop-2/#`, `${P}/node/${NODE}/status`]);
  await after.waitFor(`${P}/node/${NODE}/status`);
  assert.deepEqual(after.heard.filter((m) => m.topic !== `${P}/node/${NODE}/status`).map((m) => m.topic), []);
});

test('a device removed while offline: nothing of it stays on the broker either, and subscribers hear device.removed', async () => {
  await bridge('shop-4', 'escpos');
  const config = `homeassistant/device/${P}_shop-4/config`;
  const w = await fresh([`${P}/shop-4/#`, config]);
  await w.waitFor(config, (m) => m.text !== '');
  const from = w.mark();
  await rigs.get('shop-4')?.bridge.kill();
  await w.waitFor(`${P}/shop-4/0/availability`, (m) => m.text === 'offline', { from });
  // What a broker keeps for an offline device: its last word, retained.
  const retained = await fresh([`${P}/shop-4/#`, config]);
  assert.equal((await retained.waitFor(`${P}/shop-4/availability`)).text, 'offline');
  const watcher = await connectClient(`ws://127.0.0.1:${serverPort}/v1/client`, ADMIN);
  try {
    const heard: unknown[] = [];
    watcher.on('event', (e) => {
      if (e.event === 'device.removed') heard.push(e.device.id);
    });
    await watcher.request('subscribe', {});
    await client.request('device.remove', { device: 'shop-4' });
    for (const topic of [`${P}/shop-4/availability`, `${P}/shop-4/state`, `${P}/shop-4/0/availability`, `${P}/shop-4/0/state`, config]) {
      await w.waitFor(topic, (m) => m.payload.length === 0, { from });
    }
    await until('device.removed heard', () => heard.includes('shop-4'));
  } finally {
    await watcher.close();
  }
  const after = await fresh([config, `${P}/shop-4/#`, `${P}/node/${NODE}/status`]);
  await after.waitFor(`${P}/node/${NODE}/status`);
  assert.deepEqual(after.heard.filter((m) => m.topic !== `${P}/node/${NODE}/status`).map((m) => m.topic), []);
});

test('the broker killed and restarted: the server serves meanwhile, reconnects once and says its retained state again', async () => {
  await broker.kill();
  await serve.waitForLine('mqtt disconnected', { stream: 'stderr' });
  // A job submitted over WebSocket while the broker is away prints.
  const data = Buffer.from(`\x1b@${'broker away\n'.repeat(50)}\x1dVA\x03`, 'latin1');
  const submitted = await client.request('job.submit', { printer: 'shop-1/0', data: data.toString('base64') });
  assert.equal((await finished(submitted.id)).state, 'done');
  // No persistence: the restarted broker has nothing retained until the server says it again.
  await broker.restart();
  await until('the server to reconnect', () => serverLines('mqtt connected') === 2);
  const w = await fresh([`${P}/#`, 'homeassistant/#']);
  assert.equal((await w.waitFor(`${P}/node/${NODE}/status`)).text, 'online');
  for (const id of ['shop-1', 'shop-3d']) {
    assert.equal((await w.waitFor(`${P}/${id}/availability`)).text, 'online');
    assert.equal((await w.json<Record<string, unknown>>(`${P}/${id}/state`))['online'], true);
    assert.equal((await w.waitFor(`${P}/${id}/0/availability`)).text, 'online');
    await w.json(`${P}/${id}/0/state`, (s) => s['job'] === null);
  }
  await w.waitFor(`homeassistant/device/${P}_shop-1/config`);
  assert.deepEqual(w.on(/shop-2/), [], 'a removed device is not said again');
  // One line per transition, however many attempts failed in between.
  assert.equal(serverLines('mqtt disconnected'), 1);
  assert.equal(serverLines('mqtt connected'), 2);
});

test('the server SIGKILLed: its Will says the node is offline, retained', async () => {
  const w = await fresh(`${P}/node/${NODE}/status`);
  await w.waitFor(`${P}/node/${NODE}/status`, (m) => m.text === 'online');
  const from = w.mark();
  await serve.kill('SIGKILL');
  await w.waitFor(`${P}/node/${NODE}/status`, (m) => m.text === 'offline', { from });
  const later = await fresh(`${P}/node/${NODE}/status`);
  const status = await later.waitFor(`${P}/node/${NODE}/status`);
  assert.deepEqual([status.text, status.retain], ['offline', true]);
});

/** A topic as docs/mqtt.md writes it: ids, ports, refs and states as placeholders. */
function shape(topic: string): string {
  return topic
    .replace(/^homeassistant\/device\/printbridge_[^/]+\/config$/, 'homeassistant/device/printbridge_<device>/config')
    .replace(new RegExp(`^${P}/node/${NODE}/`), `${P}/node/<node>/`)
    .replace(/^printbridge\/control\/[0-9a-f-]{36}\/report$/, `${P}/control/<ref>/report`)
    .replace(/\/job\/[a-z]+$/, '/job/<state>')
    .replace(/^printbridge\/shop-[^/]+\//, `${P}/<device>/`)
    .replace(/^printbridge\/<device>\/\d+\//, `${P}/<device>/<port>/`);
}

test('docs/mqtt.md names every topic the server published here', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs/mqtt.md'), 'utf8');
  // With the default prefixes (the ws:// server's own prefix aside).
  const seen = new Set(watchers.flatMap((w) => w.heard.filter((m) => !m.topic.startsWith('viaws/')).map((m) => shape(m.topic))));
  // Every kind of topic was heard above; a new one must be documented.
  assert.ok(seen.size >= 8, [...seen].join(', '));
  for (const topic of seen) assert.ok(doc.includes(`\`${topic}\``), `docs/mqtt.md names \`${topic}\``);
});

test('each payload docs/mqtt.md shows has the fields of one the server published on that topic', () => {
  const blocks = markdownBlocks('docs/mqtt.md', readFileSync(join(REPO_ROOT, 'docs/mqtt.md'), 'utf8'));
  const heard = watchers.flatMap((w) => w.heard);
  let checked = 0;
  for (const b of blocks) {
    const topic = /checks its fields against `([^`]+)`/.exec(b.notRun ?? '')?.[1];
    if (topic === undefined) continue;
    const pattern = new RegExp(`^${topic.replace(/<device>|<node>|<ref>/g, '[^/]+').replace(/<port>/g, '\\d+')}$`);
    const real = heard.find((m) => pattern.test(m.topic) && m.payload.length > 0);
    assert.ok(real, `${where(b)}: the server published on ${topic}`);
    const shown = Object.keys(JSON.parse(b.lines.join('\n')) as object).sort();
    assert.deepEqual(shown, Object.keys(JSON.parse(real.text) as object).sort(), `${where(b)}: the fields of ${real.topic}`);
    checked += 1;
  }
  assert.equal(checked, 5, 'the device, printer, job, report and discovery examples');
});
