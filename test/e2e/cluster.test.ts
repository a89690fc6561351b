// Three `printbridge serve` nodes on one PostgreSQL database, with real
// parts: the database started by the test, the nodes, a bridge and a
// printer emulator as processes. A device connects to one node and a client
// to another; what the client asks reaches the device, and what the device
// does reaches the client.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClientEvent, JobView } from '../../protocol/client-messages.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { CLUSTER_ADMIN, startCluster, type TestCluster } from '../helpers/cluster.js';
import { Processes } from '../helpers/processes.js';
import { randomBytes } from '../helpers/random.js';
import { fileHash, sha256, tcpEmulator, tempDir } from '../tools/emulator-fixture.js';

const procs = new Processes();
const cleanups: Array<() => Promise<void> | void> = [];
let cluster: TestCluster;
let dir: string;

before(async () => {
  const t = tempDir();
  dir = t.dir;
  cleanups.push(t.cleanup);
  cluster = await startCluster(procs, dir, 3);
  cleanups.push(() => cluster.stop());
});
after(async () => {
  await procs.killAll();
  for (const c of cleanups.reverse()) await c();
});

async function client(node: number): Promise<Client> {
  const c = await connectClient(`${cluster.nodes[node]!.url}/v1/client`, CLUSTER_ADMIN);
  cleanups.push(() => c.close());
  return c;
}

function finalState(c: Client, id: string): Promise<JobView> {
  return new Promise((resolve) => {
    c.on('event', (e: ClientEvent) => {
      if (e.event === 'job.updated' && e.job.id === id && ['done', 'failed', 'canceled'].includes(e.job.state)) resolve(e.job);
    });
  });
}

describe('three nodes on one PostgreSQL', () => {
  it('a job submitted on one node prints once on a device connected to another, and the first node hears it done', async () => {
    const token = cluster.addDevice('far-1');
    const emu = await tcpEmulator(procs, dir);
    const bridge = procs.cli(['bridge', '--server', cluster.nodes[1]!.url, '--id', 'far-1', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
    await bridge.waitForLine(`link online at ${cluster.nodes[1]!.url}`, { stream: 'stderr', timeout: 20_000 });

    const a = await client(0);
    await a.request('subscribe', {});
    const payload = randomBytes(300_000, 7);
    const job = (await a.request('job.submit', { printer: 'far-1/0', data: Buffer.from(payload).toString('base64'), key: 'far-once' })) as JobView;
    const end = await finalState(a, job.id);
    assert.equal(end.state, 'done', JSON.stringify(end));
    await emu.proc.waitForEvent({ event: 'received', bytes: payload.length }, { timeout: 20_000 });
    assert.equal(fileHash(emu.out), sha256(payload));

    // The same key through a third node is the same job, not a second print.
    const c = await client(2);
    const again = (await c.request('job.submit', { printer: 'far-1/0', data: Buffer.from(payload).toString('base64'), key: 'far-once' })) as JobView;
    assert.equal(again.id, job.id);
    assert.equal(again.state, 'done');
  });
});
