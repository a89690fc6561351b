// A server asking a bridge which printers its computer can reach, and
// adding one, against real parts: a private CUPS scheduler with two raw
// queues, each to a printer emulator on TCP, `printbridge serve`, and a
// `printbridge bridge` process with a settings file. An added queue must
// print byte-identical, be there again after the bridge restarts, and a
// device node the scan does not list must never become a printer.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DeviceView, JobView } from '../../protocol/client-messages.js';
import type { ScanEntry as Entry } from '../../protocol/printer-scan.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { ADDED_SETTING } from '../../device/hosts/node/printer-admin.js';
import { startCups, type Cups } from '../helpers/cups.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { serveWithDevices } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { fileHash, received, sha256, tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';

const ADMIN = 'bridge-printers-admin';
const FINAL = ['done', 'failed', 'canceled'];

interface Report { device: string; status: string; code?: string; data?: Record<string, unknown> }

const procs = new Processes();
const tmp = tempDir('printbridge-bridge-printers-');
const settings = join(tmp.dir, 'bridge-settings.json');
let cups: Cups;
let first: TcpEmulator;
let spare: TcpEmulator;
let client: Client;
let serverUrl = '';
let token = '';
let bridge: Proc;

after(async () => {
  await client?.close();
  await procs.killAll();
  tmp.cleanup();
});

function startBridge(): Proc {
  return procs.cli(['bridge', '--server', serverUrl, '--id', 'pos-pc', '--token', token, '--printer', 'cups:pos-58', '--settings', settings], {
    env: { CUPS_SERVER: cups.server },
  });
}

before(async () => {
  cups = await startCups(procs, tmp.dir);
  first = await tcpEmulator(procs, tmp.dir, [], 'raw');
  spare = await tcpEmulator(procs, tmp.dir, [], 'raw');
  await cups.addRawQueue('pos-58', `socket://127.0.0.1:${first.port}`);
  await cups.addRawQueue('spare', `socket://127.0.0.1:${spare.port}`);
  const serve = await serveWithDevices(procs, `${tmp.dir}/data`, ADMIN, ['pos-pc']);
  serverUrl = serve.url;
  token = serve.tokens.get('pos-pc') ?? '';
  client = serve.client;
  bridge = startBridge();
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  await until('pos-pc/0 online', async () => ((await client.request('printer.get', { printer: 'pos-pc/0' })) as { status: string }).status === 'online');
});

async function control(name: string, args: Record<string, unknown> = {}, via: Client = client): Promise<Report> {
  const r = (await via.request('control.send', { to: { device: 'pos-pc' }, name, args, timeout: 20_000 })) as { reports: Report[] };
  assert.equal(r.reports.length, 1, JSON.stringify(r));
  return r.reports[0]!;
}

async function scan(): Promise<Entry[]> {
  const r = await control('printers.scan');
  assert.equal(r.status, 'ok', JSON.stringify(r));
  const data = r.data as { printers: Entry[]; problems: string[] };
  assert.deepEqual(data.problems.filter((p) => p.startsWith('CUPS')), [], JSON.stringify(data));
  return data.printers;
}

async function finished(id: string): Promise<JobView> {
  return until(`job ${id} to finish`, async () => {
    const j = (await client.request('job.get', { job: id })) as JobView;
    return FINAL.includes(j.state) ? j : undefined;
  }, 60_000);
}

test('the bridge announces what it answers, and its scan lists the CUPS queues, the configured one with its port', async () => {
  const devices = (await client.request('devices.list', {})) as DeviceView[];
  assert.deepEqual(devices.find((d) => d.id === 'pos-pc')?.caps, ['printers.scan', 'printers.add']);
  const found = await scan();
  const queues = found.filter((e) => e.kind === 'cups').map((e) => [e.uri, e.port]);
  assert.deepEqual(queues, [['cups:pos-58', 0], ['cups:spare', undefined]], JSON.stringify(found));
  assert.match(found.find((e) => e.uri === 'cups:spare')?.detail ?? '', new RegExp(`device socket://127\\.0\\.0\\.1:${spare.port}\\b`));
});

test('printers.add refuses what it must, with BAD_FIELD and why, and adds nothing', async () => {
  const refusals: [Record<string, unknown>, RegExp][] = [
    [{ uri: 'serial:/dev/sda', dialect: 'raw' }, /not among the printers this computer has now/],
    [{ uri: 'usb:/dev/nvme0n1', dialect: 'raw' }, /not among the printers this computer has now/],
    [{ uri: 'cups:pos-58', dialect: 'raw' }, /already printer 0/],
    [{ uri: 'cups:spare', dialect: 'escpos' }, /takes the raw dialect only/],
    [{ uri: 'cups:spare', dialect: 'pdf' }, /dialect must be one of/],
    [{ uri: 'ftp://printer', dialect: 'raw' }, /use tcp:\/\/HOST:PORT/],
    [{ dialect: 'raw' }, /uri must be a printer address/],
    [{ uri: 'cups:spare', name: 'a\nb' }, /name must be/],
  ];
  for (const [args, why] of refusals) {
    const r = await control('printers.add', args);
    assert.equal(r.status, 'error', JSON.stringify([args, r]));
    assert.equal(r.code, 'BAD_FIELD', JSON.stringify([args, r]));
    assert.match(JSON.stringify(r), why, JSON.stringify([args, r]));
  }
  // Settings a server may set never reach the list of added printers.
  const config = await control('config', { [ADDED_SETTING]: JSON.stringify([{ uri: 'serial:/dev/sda', dialect: 'raw' }]) });
  assert.equal(config.code, 'BAD_FIELD', JSON.stringify(config));
  const devices = (await client.request('devices.list', {})) as DeviceView[];
  assert.equal(devices.find((d) => d.id === 'pos-pc')?.ports.length, 1);
});

test('a token with `control` may scan but not add', async () => {
  const issued = (await client.request('token.issue', { scopes: ['print', 'control'], ttl: 60 })) as { token: string };
  const weak = await connectClient(`${serverUrl}/v1/client`, issued.token);
  try {
    const ok = await control('printers.scan', {}, weak);
    assert.equal(ok.status, 'ok', JSON.stringify(ok));
    await assert.rejects(control('printers.add', { uri: 'cups:spare' }, weak), (e: { code?: string; message?: string }) => e.code === 'FORBIDDEN' && /devices:config/.test(e.message ?? ''));
  } finally {
    await weak.close();
  }
});

test('an added queue becomes the next printer, prints byte-identical while the first one prints, and is kept in the settings file', async () => {
  // A job on the first printer is under way when the bridge reconnects to announce the new one.
  const busy = Buffer.concat([Buffer.from('first printer\n'), randomBytes(200_000)]);
  const before = (await client.request('job.submit', { printer: 'pos-pc/0', data: busy.toString('base64') })) as JobView;
  const r = await control('printers.add', { uri: 'cups:spare', dialect: 'raw' });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  assert.deepEqual(r.data, { port: 1, saved: true });
  const added = await until('pos-pc/1 online', async () => {
    const p = (await client.request('printers.list', {})) as { id: string; status: string; name?: string }[];
    return p.find((x) => x.id === 'pos-pc/1' && x.status === 'online');
  });
  assert.equal(added.name, 'spare', 'a queue is named as the system names it');
  const data = Buffer.concat([Buffer.from('\x1b@added\n'), randomBytes(60_000)]);
  const job = (await client.request('job.submit', { printer: 'pos-pc/1', data: data.toString('base64') })) as JobView;
  const [endBefore, end] = await Promise.all([finished(before.id), finished(job.id)]);
  assert.equal(endBefore.state, 'done', JSON.stringify(endBefore));
  assert.equal(end.state, 'done', JSON.stringify(end));
  await received(first.proc, busy.length);
  assert.equal(fileHash(first.out), sha256(busy), 'the first printer got its job once, whole, across the reconnect');
  await received(spare.proc, data.length);
  assert.equal(fileHash(spare.out), sha256(data), 'the added queue got the job byte for byte');
  const kept = JSON.parse(readFileSync(settings, 'utf8')) as Record<string, string>;
  assert.deepEqual(JSON.parse(kept[ADDED_SETTING] ?? 'null'), [{ uri: 'cups:spare', dialect: 'raw', name: 'spare' }]);
  const found = await scan();
  assert.deepEqual(found.filter((e) => e.kind === 'cups').map((e) => [e.uri, e.port]), [['cups:pos-58', 0], ['cups:spare', 1]]);
});

test('after a restart of the bridge the added printer is still printer 1', async () => {
  await bridge.kill('SIGTERM');
  bridge = startBridge();
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  await until('pos-pc/1 online again', async () => ((await client.request('printer.get', { printer: 'pos-pc/1' })) as { status: string }).status === 'online');
  const data = Buffer.from('after the restart\n');
  const job = (await client.request('job.submit', { printer: 'pos-pc/1', data: data.toString('base64') })) as JobView;
  assert.equal((await finished(job.id)).state, 'done');
  await until('the job at the added printer', () => readFileSync(spare.out, 'latin1').endsWith(data.toString('latin1')));
});

test('a network printer may be added without the scan listing it', async () => {
  const net = await tcpEmulator(procs, tmp.dir, [], 'escpos');
  const r = await control('printers.add', { uri: `tcp://127.0.0.1:${net.port}`, dialect: 'escpos', name: 'Kitchen' });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  assert.deepEqual(r.data, { port: 2, saved: true });
  // The bridge says hello again to announce it: it is back once the new printer is.
  await until('pos-pc/2 online', async () => {
    const p = (await client.request('printers.list', {})) as { id: string; status: string }[];
    return p.some((x) => x.id === 'pos-pc/2' && x.status === 'online');
  });
  const found = await scan();
  assert.deepEqual(found.find((e) => e.port === 2), { uri: `tcp://127.0.0.1:${net.port}`, kind: 'network', detail: 'network printer', port: 2 });
});

test('the settings file cannot be written during printers.add: refused, nothing added, the file as it was; writable again, the add goes through', async () => {
  const keptBefore = readFileSync(settings, 'utf8');
  const portsBefore = ((await client.request('printers.list', {})) as { id: string }[]).filter((p) => p.id.startsWith('pos-pc/')).length;
  const net = await tcpEmulator(procs, tmp.dir, [], 'raw');
  // Root writes through any mode bits: a directory where the bridge writes its temporary file fails the write instead.
  const blocker = `${settings}.${bridge.pid}.tmp`;
  mkdirSync(blocker);
  try {
    const r = await control('printers.add', { uri: `tcp://127.0.0.1:${net.port}` });
    assert.equal(r.status, 'error', JSON.stringify(r));
    assert.equal(r.code, 'INTERNAL', JSON.stringify(r));
  } finally {
    rmdirSync(blocker);
  }
  assert.equal(readFileSync(settings, 'utf8'), keptBefore);
  const listed = ((await client.request('printers.list', {})) as { id: string }[]).filter((p) => p.id.startsWith('pos-pc/'));
  assert.equal(listed.length, portsBefore, JSON.stringify(listed));
  const again = await control('printers.add', { uri: `tcp://127.0.0.1:${net.port}` });
  assert.equal(again.status, 'ok', JSON.stringify(again));
  assert.deepEqual(again.data, { port: portsBefore, saved: true });
});

