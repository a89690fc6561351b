// The network printers CUPS finds (CUPS-Get-Devices), against real parts: a
// private cupsd (test/helpers/cups.ts) whose ServerBin links the system's
// programs, with a stand-in script in place of CUPS's snmp backend that
// prints what the real one prints when printers answer it; the printer
// emulator on TCP at the address it announces; `printbridge serve` and a
// `printbridge bridge` process. Not tested here: the real snmp backend and
// a real printer answering it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import type { ScanEntry as Entry } from '../../protocol/printer-scan.js';
import type { Client } from '../../tools/client/client.js';
import { freePort } from '../../tools/free-port.js';
import { DEVICES_MAX, DISCOVERY_SECONDS } from '../../device/hosts/node/cups-devices.js';
import { cupsServer } from '../../device/hosts/node/ipp.js';
import { listPrinters } from '../../device/hosts/node/list-printers.js';
import { startCups, type Cups } from '../helpers/cups.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { serveWithDevices } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { fileHash, received, sha256, tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';

const ADMIN = 'cups-discovery-admin';

interface Report { device: string; status: string; code?: string; message?: string; data?: Record<string, unknown> }
interface Scan { printers: Entry[]; problems: string[] }

const procs = new Processes();
const tmp = tempDir('printbridge-cups-discovery-');
// No serial ports or USB printers: the list is CUPS's alone.
const sysfs = join(tmp.dir, 'sys');
let cups: Cups;
let emu: TcpEmulator;
let client: Client;
let bridge: Proc;

after(async () => {
  await client?.close();
  await procs.killAll();
  tmp.cleanup();
});

/** A backend that, run with no arguments as CUPS-Get-Devices runs it, prints these device lines (backend(7)), then goes on looking for `lingerSeconds`. */
function backendAnnouncing(lines: readonly string[], lingerSeconds = 0): string {
  // exec: CUPS's SIGTERM at the timeout reaches the sleep itself, which ends with it.
  return ['#!/bin/sh', "cat <<'END'", ...lines, 'END', ...(lingerSeconds > 0 ? [`exec sleep ${lingerSeconds}`] : []), ''].join('\n');
}

/** What a network like the test's would answer: the emulator (twice, as CUPS may list one printer), one more AppSocket printer, and printers the raw port cannot drive. */
function announced(port: number): string[] {
  return [
    `network socket://127.0.0.1:${port} "Acme POS-58" "Front counter" "MFG:Acme;MDL:POS-58;CMD:ESC/POS;" "Shop floor"`,
    `network socket://127.0.0.1:${port}/?waiteof=false "Acme POS-58" "Front counter (again)" "" ""`,
    // No port: AppSocket's 9100. A documentation address, never connected to.
    'network socket://192.0.2.7 "Acme TM-20" "Kitchen" "" ""',
    'network socket "Unknown" "AppSocket/HP JetDirect"',
    'network ipp://192.0.2.8/ipp/print "Acme Laser" "Office IPP printer" "" ""',
    'network lpd://192.0.2.9/queue "Acme Dot" "Office LPD printer" "" ""',
    'network dnssd://Acme%20Label._pdl-datastream._tcp.local/ "Acme Label" "Label printer" "" ""',
    'direct usb://Acme/POS-58?serial=42 "Acme POS-58" "USB printer" "" ""',
  ];
}

before(async () => {
  mkdirSync(join(sysfs, 'class/tty'), { recursive: true });
  emu = await tcpEmulator(procs, tmp.dir, [], 'raw');
  cups = await startCups(procs, tmp.dir, {
    backends: {
      snmp: backendAnnouncing(announced(emu.port)),
      // A tripwire: the bridge reads USB printers itself and must not have CUPS run its usb backend.
      usb: backendAnnouncing(['network socket://192.0.2.99 "Acme Tripwire" "run by CUPS although not asked for" "" ""']),
    },
  });
  // The same printer as a CUPS queue: both ways to it are listed.
  await cups.addRawQueue('pos-58', `socket://127.0.0.1:${emu.port}`);
});

test('the AppSocket printers CUPS finds are listed as tcp:// addresses, once each, the others left out', async (t) => {
  const started = Date.now();
  const list = await listPrinters({ sysfs, cups: cupsServer(cups.server) });
  const took = Date.now() - started;
  t.diagnostic(`listPrinters with discovery: ${took} ms`);
  assert.deepEqual(list.problems, []);
  assert.deepEqual(list.printers.map((p) => [p.uri, p.kind]), [
    ['cups:pos-58', 'cups'],
    [`tcp://127.0.0.1:${emu.port}`, 'network'],
    ['tcp://192.0.2.7:9100', 'network'],
  ], JSON.stringify(list));
  assert.equal(list.printers[1]?.detail, 'found by CUPS: Acme POS-58, Front counter, Shop floor; device of CUPS queue pos-58');
  assert.equal(list.printers[2]?.detail, 'found by CUPS: Acme TM-20, Kitchen');
  // CUPS answers once every backend is done: the timeout is an upper bound, not a wait.
  assert.ok(took < DISCOVERY_SECONDS * 1000, `discovery took ${took} ms`);
});

async function control(name: string, args: Record<string, unknown> = {}): Promise<Report> {
  const r = (await client.request('control.send', { to: { device: 'pos-pc' }, name, args, timeout: 20_000 })) as { reports: Report[] };
  assert.equal(r.reports.length, 1, JSON.stringify(r));
  return r.reports[0]!;
}

/** The bridge's printers.scan, less this machine's own serial ports and USB printers. */
async function scan(): Promise<Scan> {
  const r = await control('printers.scan');
  assert.equal(r.status, 'ok', JSON.stringify(r));
  const answer = r.data as unknown as Scan;
  return { printers: answer.printers.filter((e) => e.kind === 'cups' || e.kind === 'network'), problems: answer.problems.filter((p) => p.startsWith('CUPS')) };
}

test('a bridge\'s printers.scan offers the printer CUPS found; added, it prints byte-identical and is listed once, with its port', async () => {
  const serve = await serveWithDevices(procs, join(tmp.dir, 'data'), ADMIN, ['pos-pc']);
  client = serve.client;
  bridge = procs.cli(['bridge', '--server', serve.url, '--id', 'pos-pc', '--token', serve.tokens.get('pos-pc') ?? '', '--printer', 'cups:pos-58'], {
    env: { CUPS_SERVER: cups.server },
  });
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });

  const address = `tcp://127.0.0.1:${emu.port}`;
  const first = await scan();
  assert.deepEqual(first.problems, []);
  assert.deepEqual(first.printers.find((e) => e.uri === address), { uri: address, kind: 'network', detail: 'found by CUPS: Acme POS-58, Front counter, Shop floor; device of CUPS queue pos-58' });

  const added = await control('printers.add', { uri: address, dialect: 'raw' });
  assert.equal(added.status, 'ok', JSON.stringify(added));
  assert.equal((added.data as { port: number }).port, 1);
  // The bridge says hello again to announce it.
  await until('pos-pc/1 online', async () => {
    const printers = (await client.request('printers.list', {})) as { id: string; status: string }[];
    return printers.some((p) => p.id === 'pos-pc/1' && p.status === 'online');
  });
  const job = Buffer.concat([Buffer.from('\x1b@found by CUPS\n'), randomBytes(40_000), Buffer.from('\x1dV\x00')]);
  const submitted = (await client.request('job.submit', { printer: 'pos-pc/1', data: job.toString('base64') })) as JobView;
  const end = await until(`job ${submitted.id} to finish`, async () => {
    const j = (await client.request('job.get', { job: submitted.id })) as JobView;
    return ['done', 'failed', 'canceled'].includes(j.state) ? j : undefined;
  }, 30_000);
  assert.equal(end.state, 'done', JSON.stringify(end));
  await received(emu.proc, job.length);
  assert.equal(fileHash(emu.out), sha256(job), 'the printer CUPS found got the job straight from the bridge, byte for byte');

  // Found by CUPS and configured: one entry, the configured one's, with its port.
  const again = await scan();
  const same = again.printers.filter((e) => e.uri === address || e.port === 1);
  assert.deepEqual(same, [{ uri: address, kind: 'network', detail: 'found by CUPS: Acme POS-58, Front counter, Shop floor; device of CUPS queue pos-58', port: 1 }], JSON.stringify(again));
  assert.deepEqual(again.printers.map((e) => e.uri), ['cups:pos-58', address, 'tcp://192.0.2.7:9100'], JSON.stringify(again));
});

test(`more than ${DEVICES_MAX} printers found: the first ${DEVICES_MAX} are listed and the rest counted`, async () => {
  const many = Array.from({ length: DEVICES_MAX + 5 }, (_, i) => `network socket://192.0.2.${i + 10}:9100 "Acme POS-58" "Till ${i + 1}" "" ""`);
  cups.setBackend('snmp', backendAnnouncing(many));
  const list = await listPrinters({ sysfs, cups: cupsServer(cups.server) });
  const network = list.printers.filter((p) => p.kind === 'network');
  assert.equal(network.length, DEVICES_MAX, JSON.stringify(list));
  assert.equal(new Set(network.map((p) => p.uri)).size, DEVICES_MAX);
  assert.deepEqual(list.problems, [`CUPS device discovery: 5 more printers found than the ${DEVICES_MAX} listed`]);
  assert.ok(list.printers.some((p) => p.uri === 'cups:pos-58'));
});

test('a discovery that outlasts its timeout is cut off by CUPS: the scan still answers in time, with the queues and a note', async (t) => {
  // Announces one printer, then goes on looking far longer than CUPS allows.
  cups.setBackend('snmp', backendAnnouncing(['network socket://192.0.2.7 "Acme TM-20" "Kitchen" "" ""'], 60));
  const started = Date.now();
  const answer = await scan();
  const took = Date.now() - started;
  t.diagnostic(`printers.scan cut off: ${took} ms`);
  assert.ok(took >= DISCOVERY_SECONDS * 1000 && took < DISCOVERY_SECONDS * 1000 + 3000, `the scan took ${took} ms`);
  // The added printer is still there, as the bridge's own, though CUPS did not find it this time.
  assert.deepEqual(answer.printers.map((e) => [e.uri, e.port]), [['cups:pos-58', 0], ['tcp://192.0.2.7:9100', undefined], [`tcp://127.0.0.1:${emu.port}`, 1]], JSON.stringify(answer));
  assert.deepEqual(answer.problems, [`CUPS device discovery: stopped after ${DISCOVERY_SECONDS} s; a printer slower to answer is not listed`]);
});

test('a CUPS that keeps discovery for its administrators: the queues are listed, and --list-printers says why no network printer is', async () => {
  const locked = await startCups(procs, join(tmp.dir, 'locked'), { adminOnly: ['CUPS-Get-Devices'], backends: { snmp: backendAnnouncing(announced(emu.port)) } });
  await locked.addRawQueue('till', `socket://127.0.0.1:${emu.port}`);
  const r = await procs.run(['bridge', '--list-printers'], { env: { CUPS_SERVER: locked.server } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^cups:till +CUPS queue at /m, r.stdout);
  assert.doesNotMatch(r.stdout, /^tcp:/m, r.stdout);
  assert.match(r.stderr, /not listed: CUPS device discovery: CUPS at 127\.0\.0\.1:\d+: HTTP 401 for \/: CUPS lets only its administrators run CUPS-Get-Devices/, r.stderr);
});

test('a CUPS that cannot be reached is one problem, not one per question asked', async () => {
  const list = await listPrinters({ sysfs, cups: cupsServer(`127.0.0.1:${await freePort()}`) });
  assert.deepEqual(list.printers, []);
  assert.equal(list.problems.length, 1, JSON.stringify(list.problems));
  assert.match(list.problems[0] ?? '', /^CUPS: CUPS at 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
});
