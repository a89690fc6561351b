// Two `printbridge serve --mqtt` nodes on one PostgreSQL and one real
// Mosquitto: every node hears every other node's events, but only the node
// holding a device publishes it, so each thing is said once, by its holder.
// When the holder dies, its Will says so and the node the bridge moves to
// publishes the device as its own.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { CLUSTER_ADMIN, startCluster, type TestCluster } from '../helpers/cluster.js';
import { startMosquitto, watchTopics, type Broker, type Watcher } from '../helpers/mosquitto.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { tcpEmulator, tempDir } from '../tools/emulator-fixture.js';

const P = 'printbridge';
const procs = new Processes();
const { dir, cleanup } = tempDir('printbridge-mqtt-cluster-');
let broker: Broker;
let cluster: TestCluster;
let bridge: Proc;
let watch: Watcher;
const clients: Client[] = [];

after(async () => {
  await watch?.close();
  for (const c of clients) await c.close();
  await cluster?.stop();
  await procs.killAll();
  cleanup();
});

before(async () => {
  broker = await startMosquitto(procs, dir);
  cluster = await startCluster(procs, dir, 2, ['--mqtt', broker.url]);
  watch = await watchTopics(broker.url, [`${P}/#`]);
  const token = cluster.addDevice('till-1');
  const emu = await tcpEmulator(procs, dir);
  // node-0 first: the bridge holds to it while it works, and moves to node-1 when it goes.
  bridge = procs.cli([
    'bridge', '--server', cluster.nodes[0]!.url, '--server', cluster.nodes[1]!.url, '--id', 'till-1', '--token', token,
    '--printer', `tcp://127.0.0.1:${emu.port}`,
  ]);
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  for (const node of cluster.nodes) await watch.waitFor(`${P}/node/${node.name}/status`, (m) => m.text === 'online');
});

async function client(node: number): Promise<Client> {
  const c = await connectClient(`${cluster.nodes[node]!.url}/v1/client`, CLUSTER_ADMIN);
  clients.push(c);
  return c;
}

test('a job submitted at the node that does not hold the device: each state told once, by the holder', async () => {
  await watch.json(`${P}/till-1/0/state`, (s) => s['status'] === 'online' && s['node'] === 'node-0');
  const other = await client(1);
  const data = Buffer.from(`\x1b@${'cluster line\n'.repeat(200)}\x1dVA\x03`, 'latin1');
  const submitted = await other.request('job.submit', { printer: 'till-1/0', data: data.toString('base64') });
  const done = await watch.json<JobView & { node: string }>(`${P}/till-1/0/job/done`, (j) => j.id === submitted.id);
  assert.equal(done.node, 'node-0');
  const told = watch.on(/^printbridge\/till-1\//).map((m) => ({ topic: m.topic, body: m.text.startsWith('{') ? (JSON.parse(m.text) as Record<string, unknown>) : undefined }));
  // Everything said of the device came from its holder.
  assert.deepEqual([...new Set(told.flatMap((t) => (t.body === undefined ? [] : [t.body['node']])))], ['node-0']);
  const states = told.filter((t) => t.topic.includes('/job/') && t.body?.['id'] === submitted.id).map((t) => t.topic.split('/').at(-1));
  assert.deepEqual(states, [...new Set(states)], `each state once, not once per node: ${JSON.stringify(told.filter((t) => t.topic.includes('/job/')).map((t) => [t.body?.['state'], t.body?.['updated'], t.body?.['written']]))}`);
  assert.equal(states.at(-1), 'done');
});

test('the holder killed: its Will says it is offline, and the node the bridge moved to publishes the device as its own', async () => {
  const from = watch.mark();
  await cluster.nodes[0]!.proc.kill('SIGKILL');
  await watch.waitFor(`${P}/node/node-0/status`, (m) => m.text === 'offline', { from });
  const state = await watch.json<Record<string, unknown>>(`${P}/till-1/state`, (s) => s['node'] === 'node-1', { from });
  assert.equal(state['online'], true);
  await watch.json(`${P}/till-1/0/state`, (s) => s['node'] === 'node-1' && s['status'] === 'online', { from });
  // What a subscriber made now is told: the device online at node-1.
  const fresh = await watchTopics(broker.url, [`${P}/till-1/availability`, `${P}/till-1/state`]);
  try {
    assert.equal((await fresh.waitFor(`${P}/till-1/availability`)).text, 'online');
    assert.equal((await fresh.json<Record<string, unknown>>(`${P}/till-1/state`))['node'], 'node-1');
  } finally {
    await fresh.close();
  }
});

test('a node dies and its device reconnects nowhere: the node that notices says the device and its printer offline, retained', async () => {
  // node-0 back; till-1 stays at node-1 (its bridge holds to the node that works), and till-2 knows node-1 only.
  const restarted = watch.mark();
  await cluster.restart(0);
  await watch.waitFor(`${P}/node/node-0/status`, (m) => m.text === 'online', { from: restarted });
  const token = cluster.addDevice('till-2');
  const emu = await tcpEmulator(procs, dir);
  const lonely = procs.cli(['bridge', '--server', cluster.nodes[1]!.url, '--id', 'till-2', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
  await lonely.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  await watch.json(`${P}/till-2/0/state`, (s) => s['node'] === 'node-1' && s['status'] === 'online');
  const from = watch.mark();
  await cluster.nodes[1]!.proc.kill('SIGKILL');
  // node-0 takes node-1 for gone after 15 s of silence, and says what it held.
  await watch.waitFor(`${P}/till-2/availability`, (m) => m.text === 'offline', { from, ms: 40_000 });
  const state = await watch.json<Record<string, unknown>>(`${P}/till-2/state`, (s) => s['online'] === false, { from });
  assert.equal(state['node'], 'node-0');
  await watch.waitFor(`${P}/till-2/0/availability`, (m) => m.text === 'offline', { from });
  assert.equal((await watch.json<Record<string, unknown>>(`${P}/till-2/0/state`, (s) => s['online'] === false, { from }))['status'], 'offline');
  // till-1's bridge moved to node-0, which publishes it online: the sweep did not overwrite it.
  const fresh = await watchTopics(broker.url, [`${P}/till-1/availability`, `${P}/till-2/availability`]);
  try {
    assert.equal((await fresh.waitFor(`${P}/till-2/availability`)).text, 'offline');
    await fresh.waitFor(`${P}/till-1/availability`, (m) => m.text === 'online', { ms: 20_000 });
  } finally {
    await fresh.close();
  }
});
