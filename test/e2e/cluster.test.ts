// Three `printbridge serve` nodes on one PostgreSQL database, with real
// parts: the database started by the test, the nodes, a bridge and a
// printer emulator as processes. A device connects to one node and a client
// to another; what the client asks reaches the device, and what the device
// does reaches the client.

import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { ClientEvent, ClientView, DeviceView, JobView, PrinterView } from '../../protocol/client-messages.js';
import { LEASE_MS, SILENT_MS } from '../../server/cluster/cluster.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { CLUSTER_ADMIN, startCluster, type TestCluster } from '../helpers/cluster.js';
import { Processes } from '../helpers/processes.js';
import { receiptText } from '../helpers/random.js';
import { until } from '../helpers/until.js';
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

/** The emulator's paper (what it printed, less the status queries it answered) has at least `n` bytes. */
function printedAtLeast(file: string, n: number): Promise<true> {
  return until(`${n} bytes printed`, () => {
    try {
      return statSync(file).size >= n;
    } catch {
      return false;
    }
  }, 60_000);
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
    const payload = receiptText(300_000, 7);
    const job = (await a.request('job.submit', { printer: 'far-1/0', data: Buffer.from(payload).toString('base64'), key: 'far-once' })) as JobView;
    const end = await finalState(a, job.id);
    assert.equal(end.state, 'done', JSON.stringify(end));
    await printedAtLeast(emu.printed, payload.length);
    assert.equal(fileHash(emu.printed), sha256(payload));

    // The same key through a third node is the same job, not a second print.
    const c = await client(2);
    const again = (await c.request('job.submit', { printer: 'far-1/0', data: Buffer.from(payload).toString('base64'), key: 'far-once' })) as JobView;
    assert.equal(again.id, job.id);
    assert.equal(again.state, 'done');
  });
});

describe('a node killed mid-job', () => {
  it('its device moves to another node, which resumes the job from where the device is: every byte once', async () => {
    const token = cluster.addDevice('moving-1');
    // Slow paper: the job is still printing when its node dies.
    const emu = await tcpEmulator(procs, dir, ['--print-rate', '60000', '--buffer', '8192']);
    const [n0, n1, n2] = [cluster.nodes[0]!, cluster.nodes[1]!, cluster.nodes[2]!];
    const bridge = procs.cli(['bridge', '--server', n1.url, '--server', n2.url, '--id', 'moving-1', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
    await bridge.waitForLine(`link online at ${n1.url}`, { stream: 'stderr', timeout: 20_000 });

    const a = await client(0);
    await a.request('subscribe', {});
    const payload = receiptText(400_000, 11);
    const job = (await a.request('job.submit', { printer: 'moving-1/0', data: Buffer.from(payload).toString('base64') })) as JobView;
    const end = finalState(a, job.id);
    await emu.proc.waitForEvent((e) => e['event'] === 'received' && (e['bytes'] as number) >= 100_000, { timeout: 20_000 });
    const mark = bridge.stderrLines.length;
    await n1.proc.kill('SIGKILL');
    await bridge.waitForLine(`link online at ${n2.url}`, { stream: 'stderr', from: mark, timeout: 30_000 });
    const done = await end;
    assert.equal(done.state, 'done', JSON.stringify(done));
    await printedAtLeast(emu.printed, payload.length);
    assert.equal(fileHash(emu.printed), sha256(payload), 'every byte once, in order');
    await cluster.restart(1);
    void n0;
  });
});

describe('control messages across nodes', () => {
  it('a broadcast from one node reaches the devices of every node, with one report; one device elsewhere too', async () => {
    const ids = ['ctl-a', 'ctl-b', 'ctl-c'];
    for (const [i, id] of ids.entries()) {
      const token = cluster.addDevice(id);
      const emu = await tcpEmulator(procs, dir);
      const node = cluster.nodes[i]!;
      const bridge = procs.cli(['bridge', '--server', node.url, '--id', id, '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
      await bridge.waitForLine(`link online at ${node.url}`, { stream: 'stderr', timeout: 20_000 });
    }
    const a = await client(0);
    const outcome = (await a.request('control.send', { to: { all: true }, name: 'identify', args: {}, timeout: 10_000 })) as { reports: { device: string; status: string }[] };
    const byDevice = new Map(outcome.reports.map((r) => [r.device, r.status]));
    for (const id of ids) assert.equal(byDevice.get(id), 'ok', `${id}: ${JSON.stringify(outcome.reports)}`);
    const one = (await a.request('control.send', { to: { device: 'ctl-c' }, name: 'identify', args: {} })) as { reports: { device: string; status: string }[] };
    assert.deepEqual(one.reports.map((r) => [r.device, r.status]), [['ctl-c', 'ok']]);
  });
});

describe('lists across nodes', () => {
  it('every node lists the devices, printers and clients of every node; a node that dies takes its devices offline everywhere within a bound', async () => {
    const token = cluster.addDevice('listed-1');
    const emu = await tcpEmulator(procs, dir);
    const holder = cluster.nodes[2]!;
    const bridge = procs.cli(['bridge', '--server', holder.url, '--id', 'listed-1', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
    await bridge.waitForLine(`link online at ${holder.url}`, { stream: 'stderr', timeout: 20_000 });
    const watcher = await client(0);
    await client(2);
    await until('node 0 lists the device online, its printer, and a client of node 2', async () => {
      const devices = (await watcher.request('devices.list', {})) as DeviceView[];
      const printers = (await watcher.request('printers.list', {})) as PrinterView[];
      const clients = (await watcher.request('clients.list', {})) as ClientView[];
      return devices.find((d) => d.id === 'listed-1')?.online === true
        && printers.find((p) => p.id === 'listed-1/0')?.online === true
        && clients.length >= 2;
    });

    // The holder dies and the bridge has nowhere else to go: the others list the device offline by themselves.
    const offline = new Promise<number>((resolve) => {
      watcher.on('event', (e: ClientEvent) => {
        if (e.event === 'device.offline' && e.device.id === 'listed-1') resolve(Date.now());
      });
    });
    await watcher.request('subscribe', {});
    const killed = Date.now();
    await holder.proc.kill('SIGKILL');
    const at = await offline;
    assert.ok(at - killed <= SILENT_MS + LEASE_MS, `offline after ${at - killed} ms`);
    const devices = (await watcher.request('devices.list', {})) as DeviceView[];
    assert.equal(devices.find((d) => d.id === 'listed-1')?.online, false);
    const printers = (await watcher.request('printers.list', {})) as PrinterView[];
    assert.equal(printers.find((p) => p.id === 'listed-1/0')?.status, 'offline');
    await cluster.restart(2);
  });
});

describe('client tokens across nodes', () => {
  it('a token revoked on one node closes its connections on every node with 4006', async () => {
    const admin = await client(0);
    const issued = (await admin.request('token.issue', { label: 'till-3' })) as { id: string; token: string };
    const elsewhere = await connectClient(`${cluster.nodes[1]!.url}/v1/client`, issued.token);
    cleanups.push(() => elsewhere.close());
    const closed = new Promise<number>((resolve) => elsewhere.on('close', (code) => resolve(code)));
    await admin.request('token.revoke', { token: issued.id });
    assert.equal(await closed, 4006);
  });
});

describe('the database connection cut', () => {
  it('every node loses its PostgreSQL connections twice mid-job (pg_terminate_backend): the job ends done once, and the next prints', async () => {
    const token = cluster.addDevice('cut-1');
    const emu = await tcpEmulator(procs, dir, ['--print-rate', '60000', '--buffer', '8192']);
    const holder = cluster.nodes[1]!;
    const bridge = procs.cli(['bridge', '--server', holder.url, '--server', cluster.nodes[2]!.url, '--id', 'cut-1', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
    await bridge.waitForLine('link online at ', { stream: 'stderr', timeout: 20_000 });
    const a = await client(0);
    await a.request('subscribe', {});
    const first = receiptText(300_000, 23);
    const job = (await a.request('job.submit', { printer: 'cut-1/0', data: Buffer.from(first).toString('base64') })) as JobView;
    const end = finalState(a, job.id);
    for (const at of [60_000, 150_000]) {
      await emu.proc.waitForEvent((e) => e['event'] === 'received' && (e['bytes'] as number) >= at, { timeout: 30_000 });
      await cluster.pg.terminateBackends(cluster.storeUrl);
    }
    assert.equal((await end).state, 'done');
    // The nodes reconnected: a job submitted now, on another node, prints after it.
    const second = receiptText(50_000, 29);
    const next = (await (await client(2)).request('job.submit', { printer: 'cut-1/0', data: Buffer.from(second).toString('base64') })) as JobView;
    assert.equal((await finalState(a, next.id)).state, 'done');
    await printedAtLeast(emu.printed, first.length + second.length);
    const printed = readFileSync(emu.printed);
    assert.equal(sha256(printed), sha256(Buffer.concat([first, second])), 'each job once, whole, in order');
  });
});

describe('a node that starts', () => {
  it('asks the others what they hold, and lists their devices online at once', async () => {
    const token = cluster.addDevice('synced-1');
    const emu = await tcpEmulator(procs, dir);
    const holder = cluster.nodes[1]!;
    const bridge = procs.cli(['bridge', '--server', holder.url, '--id', 'synced-1', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
    await bridge.waitForLine(`link online at ${holder.url}`, { stream: 'stderr', timeout: 20_000 });
    // Node 0 starts after the device came online: no event of it will come again.
    await cluster.nodes[0]!.proc.kill('SIGKILL');
    await cluster.restart(0);
    const fresh = await client(0);
    await until('the new node lists the device online', async () => {
      const devices = (await fresh.request('devices.list', {})) as DeviceView[];
      return devices.find((d) => d.id === 'synced-1')?.online === true;
    });
  });
});

describe('PostgreSQL itself down mid-job', () => {
  it('killed while a job prints and started again: the nodes carry on and the job ends done, every byte once', async () => {
    const token = cluster.addDevice('pgdown-1');
    const emu = await tcpEmulator(procs, dir, ['--print-rate', '60000', '--buffer', '8192']);
    const holder = cluster.nodes[1]!;
    const bridge = procs.cli(['bridge', '--server', holder.url, '--server', cluster.nodes[2]!.url, '--id', 'pgdown-1', '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`]);
    await bridge.waitForLine('link online at ', { stream: 'stderr', timeout: 20_000 });
    const a = await client(0);
    const payload = receiptText(240_000, 31);
    const job = (await a.request('job.submit', { printer: 'pgdown-1/0', data: Buffer.from(payload).toString('base64') })) as JobView;
    await emu.proc.waitForEvent((e) => e['event'] === 'received' && (e['bytes'] as number) >= 60_000, { timeout: 30_000 });
    await cluster.pg.kill();
    await emu.proc.waitForEvent((e) => e['event'] === 'received' && (e['bytes'] as number) >= 150_000, { timeout: 30_000 });
    await cluster.pg.restart();
    const reader = await client(2);
    // Asked until the nodes have their database again (STORE_UNAVAILABLE meanwhile).
    const end = await until('the job ended', async () => {
      const v = (await reader.request('job.get', { job: job.id }).catch(() => undefined)) as JobView | undefined;
      return v !== undefined && ['done', 'failed', 'canceled'].includes(v.state) ? v : undefined;
    }, 90_000);
    assert.equal(end.state, 'done', JSON.stringify(end));
    await printedAtLeast(emu.printed, payload.length);
    assert.equal(fileHash(emu.printed), sha256(payload), 'every byte once');
  });
});
