// Three `printbridge serve` nodes on one PostgreSQL behind the real haproxy,
// with the configuration docs/cluster.md shows (test/helpers/haproxy.ts takes
// it from the document): TLS ends at haproxy, the nodes trust it for
// X-Forwarded-For (`--trust-proxy 127.0.0.1`), and a bridge, a printer
// emulator and clients know only haproxy's address. A job prints through
// it; then the node holding the device is killed with SIGKILL: haproxy's
// health check takes that node out, the bridge comes back through haproxy
// to another node, and a job submitted afterwards prints once. A node that
// hangs (SIGSTOP) is taken out too, and the connections it held are closed
// rather than left to time out. A Zebra printer's Weblink channels pass as
// TCP (their 101 unchanged) and all reach one node (source affinity).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ClientEvent, ClientView, JobView } from '../../protocol/client-messages.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { CLUSTER_ADMIN, startCluster, type TestCluster } from '../helpers/cluster.js';
import { HAPROXY, httpsStatus, startHaproxy, type Balancer } from '../helpers/haproxy.js';
import { Processes, type Json } from '../helpers/processes.js';
import { randomBytes } from '../helpers/random.js';
import { createTestPki } from '../helpers/tls-certs.js';
import { until } from '../helpers/until.js';
import { spawnWeblinkEmulator } from '../helpers/weblink-emulator.js';
import { fileHash, sha256, tcpEmulator, tempDir } from '../tools/emulator-fixture.js';

const procs = new Processes();
const cleanups: Array<() => Promise<void> | void> = [];
let cluster: TestCluster;
let lb: Balancer;
let ca: Buffer;
let caFile: string;
let dir: string;

before(async () => {
  // npm test installs haproxy (scripts/install-system-deps.sh); without it this fails rather than skips, so a broken set-up shows.
  if (!existsSync(HAPROXY)) throw new Error(`haproxy is not installed (${HAPROXY}): bash scripts/install-system-deps.sh haproxy`);
  const t = tempDir('printbridge-balancer-');
  dir = t.dir;
  cleanups.push(t.cleanup);
  cluster = await startCluster(procs, dir, 3, ['--trust-proxy', '127.0.0.1']);
  cleanups.push(() => cluster.stop());
  const pki = createTestPki(dir);
  caFile = pki.caCert;
  ca = readFileSync(caFile);
  const leaf = pki.issue('balancer', 443);
  // haproxy's `crt` takes the certificate, its chain and its key in one file.
  const pem = join(dir, 'balancer.pem');
  writeFileSync(pem, Buffer.concat([readFileSync(leaf.cert), ca, readFileSync(leaf.key)]));
  lb = await startHaproxy(procs, dir, { nodePorts: cluster.nodes.map((n) => n.port), tls: { pem, ca } });
});
after(async () => {
  await procs.killAll();
  for (const c of cleanups.reverse()) await c();
});

async function client(): Promise<Client> {
  const c = await connectClient(`${lb.wsBase}/v1/client`, CLUSTER_ADMIN, { ca });
  cleanups.push(() => c.close());
  return c;
}

/** Follows a client's job updates from now on; the returned function waits for a job's last one. */
function jobEnds(c: Client): (id: string) => Promise<JobView> {
  const seen: JobView[] = [];
  c.on('event', (e: ClientEvent) => {
    if (e.event === 'job.updated') seen.push(e.job);
  });
  return (id) => until(`job ${id} to end`, () => seen.find((j) => j.id === id && ['done', 'failed', 'canceled'].includes(j.state)));
}

/** Where each node's log is now: pass to holderOf to look only at later lines. */
function logMarks(): number[] {
  return cluster.nodes.map((n) => n.proc.stderrLines.length);
}

/** The node that logged `device` online after `marks`: the one holding its connection. */
function holderOf(device: string, marks: number[]): Promise<number> {
  return until(`a node to log ${device} online`, () => {
    const i = cluster.nodes.findIndex((n, k) => n.proc.stderrLines.slice(marks[k]).some((l) => l.includes('device online') && l.includes(device)));
    return i >= 0 ? i : undefined;
  });
}

describe('three nodes behind haproxy, configured as docs/cluster.md shows', () => {
  it('answers /healthz through haproxy, and a node knows a client by the address haproxy forwards for it', async () => {
    const health = await httpsStatus(`${lb.base}/healthz`, ca);
    assert.equal(health.status, 200, health.body);
    assert.equal((JSON.parse(health.body) as Json)['ok'], true);

    // haproxy reaches the nodes from 127.0.0.1; a client from 127.0.0.2 is
    // listed at 127.0.0.2 only if X-Forwarded-For got through and was read.
    const peer = '127.0.0.2';
    const agent = 'balancer-address-probe';
    const ws = new WebSocket(`${lb.wsBase}/v1/client`, { ca, localAddress: peer, headers: { authorization: `Bearer ${CLUSTER_ADMIN}`, 'user-agent': agent } });
    cleanups.push(() => ws.terminate());
    await once(ws, 'open');
    const replies: Json[] = [];
    ws.on('message', (data) => replies.push(JSON.parse(String(data)) as Json));
    ws.send(JSON.stringify({ op: 'clients.list', id: 1 }));
    const reply = await until('the clients.list reply', () => replies.find((m) => m['re'] === 1));
    assert.equal(reply['ok'], true, JSON.stringify(reply));
    // clients.list is the answering node's: this connection's own node.
    const me = (reply['result'] as ClientView[]).find((c) => c.userAgent === agent);
    assert.equal(me?.address, peer, JSON.stringify(reply['result']));
  });

  it('takes a Zebra printer\'s channels at /weblink to one node, by its address, and prints a job submitted on any', async () => {
    const serial = '50J000000914';
    const add = await procs.run(['devices', 'add', serial, '--weblink', '--store', cluster.storeUrl, '--data', join(dir, 'cli')]);
    assert.equal(add.code, 0, add.stderr);
    const record = join(dir, 'zebra.zpl');
    const marks = logMarks();
    const zebra = spawnWeblinkEmulator(procs, { url: `${lb.base}/weblink`, serial, password: add.stdout.trim().split('\n').pop()!, ca: caFile, record });
    await zebra.waitForEvent({ event: 'configure-alert' }, { timeout: 30_000 });

    const c = await client();
    await c.request('subscribe', {});
    const ends = jobEnds(c);
    const zpl = Buffer.from('^XA^FO50,50^A0N,40^FDthrough haproxy^FS^XZ\r\n', 'latin1');
    const job = (await c.request('job.submit', { printer: `${serial}/0`, data: zpl.toString('base64') })) as JobView;
    const end = await ends(job.id);
    assert.equal(end.state, 'done', JSON.stringify(end));
    assert.deepEqual(readFileSync(record), zpl);
    // Round robin or least connections would spread the channels, and a node
    // refuses a raw channel without the printer's main connection.
    const said = (k: number, what: string) => cluster.nodes[k]!.proc.stderrLines.slice(marks[k]).some((l) => l.includes(what) && l.includes(serial));
    const main = cluster.nodes.findIndex((_, k) => said(k, 'weblink printer connected'));
    assert.ok(main >= 0);
    assert.ok(said(main, 'weblink channel open'), cluster.nodes[main]!.proc.tail(30));
    for (let k = 0; k < cluster.nodes.length; k++) if (k !== main) assert.ok(!said(k, 'weblink'), cluster.nodes[k]!.proc.tail(30));
  });

  it('prints through haproxy; the node holding the device is killed and taken out, the bridge comes back through haproxy, and the next job prints once', async () => {
    const device = 'balanced-1';
    const token = cluster.addDevice(device);
    const emu = await tcpEmulator(procs, dir, [], 'raw');
    const marks = logMarks();
    const bridge = procs.cli(['bridge', '--server', lb.wsBase, '--ca', caFile, '--id', device, '--token', token,
      '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', 'raw', '--poll', '0']);
    await bridge.waitForLine(`link online at ${lb.wsBase}`, { stream: 'stderr', timeout: 30_000 });
    const holder = await holderOf(device, marks);

    const first = randomBytes(200_000, 21);
    const a = await client();
    await a.request('subscribe', {});
    const endOnA = jobEnds(a);
    const job1 = (await a.request('job.submit', { printer: `${device}/0`, data: Buffer.from(first).toString('base64'), key: 'balanced-first' })) as JobView;
    assert.equal((await endOnA(job1.id)).state, 'done');

    const [bridgeMark, lbMark, nodeMarks] = [bridge.stderrLines.length, lb.proc.stderrLines.length, logMarks()];
    await cluster.nodes[holder]!.proc.kill('SIGKILL');
    // The health check's word, not a failed request's: `check` on the server line.
    await lb.proc.waitForLine(`Server nodes/${lb.server(holder)} is DOWN`, { stream: 'stderr', from: lbMark, timeout: 20_000 });
    await bridge.waitForLine(`link online at ${lb.wsBase}`, { stream: 'stderr', from: bridgeMark, timeout: 30_000 });
    const newHolder = await holderOf(device, nodeMarks);
    assert.notEqual(newHolder, holder);

    // The first client may have been on the killed node: a new one, through haproxy.
    const b = await client();
    await b.request('subscribe', {});
    const endOnB = jobEnds(b);
    const again = (await b.request('job.submit', { printer: `${device}/0`, data: Buffer.from(first).toString('base64'), key: 'balanced-first' })) as JobView;
    assert.equal(again.id, job1.id, 'the same key through another node is the same job');
    assert.equal(again.state, 'done');
    const second = randomBytes(150_000, 22);
    const job2 = (await b.request('job.submit', { printer: `${device}/0`, data: Buffer.from(second).toString('base64'), key: 'balanced-second' })) as JobView;
    assert.equal((await endOnB(job2.id)).state, 'done');

    const total = first.length + second.length;
    await emu.proc.waitForEvent((e) => e['event'] === 'received' && (e['bytes'] as number) >= total, { timeout: 30_000 });
    assert.equal(fileHash(emu.out), sha256(Buffer.concat([first, second])), 'each job once, in order');
    // Back for the next test, on its port if that is still free (haproxy knows no other).
    await cluster.restart(holder);
  });

  it('takes out a node that hangs (SIGSTOP) and closes what it held: the bridge moves on at once, not after its 40 s of silence', async () => {
    const device = 'balanced-2';
    const token = cluster.addDevice(device);
    const emu = await tcpEmulator(procs, dir, [], 'raw');
    const marks = logMarks();
    const bridge = procs.cli(['bridge', '--server', lb.wsBase, '--ca', caFile, '--id', device, '--token', token,
      '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', 'raw', '--poll', '0']);
    await bridge.waitForLine(`link online at ${lb.wsBase}`, { stream: 'stderr', timeout: 30_000 });
    const holder = await holderOf(device, marks);

    const [bridgeMark, lbMark] = [bridge.stderrLines.length, lb.proc.stderrLines.length];
    const hung = cluster.nodes[holder]!.proc;
    cleanups.push(async () => void (await hung.kill('SIGKILL')));
    process.kill(hung.pid!, 'SIGSTOP');
    await lb.proc.waitForLine(`Server nodes/${lb.server(holder)} is DOWN`, { stream: 'stderr', from: lbMark, timeout: 20_000 });
    await bridge.waitForLine(`link online at ${lb.wsBase}`, { stream: 'stderr', from: bridgeMark, timeout: 30_000 });
    // Closed by haproxy (on-marked-down shutdown-sessions), not given up on by the bridge itself.
    assert.equal(bridge.stderrLines.slice(bridgeMark).filter((l) => l.includes('server silent')).length, 0, bridge.tail(20));

    const c = await client();
    await c.request('subscribe', {});
    const ends = jobEnds(c);
    const payload = randomBytes(120_000, 23);
    const job = (await c.request('job.submit', { printer: `${device}/0`, data: Buffer.from(payload).toString('base64') })) as JobView;
    assert.equal((await ends(job.id)).state, 'done');
    await emu.proc.waitForEvent((e) => e['event'] === 'received' && (e['bytes'] as number) >= payload.length, { timeout: 30_000 });
    assert.equal(fileHash(emu.out), sha256(payload));
    await hung.kill('SIGKILL');
  });
});
