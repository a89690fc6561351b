// The bridge's `cups:QUEUE` ports against real parts: a private CUPS
// scheduler (/usr/sbin/cupsd, started in a temporary configuration on a free
// port), raw queues made with lpadmin whose socket:// device is the printer
// emulator on TCP, `printbridge serve` with its compat listener, and a
// `printbridge bridge` process. What reaches the emulator through CUPS must
// be the job's bytes exactly; the printbridge job ends with the CUPS job
// (completed → done, aborted → failed with CUPS's reasons), and
// `printers.find` names the queue.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import type { JobView } from '../../protocol/client-messages.js';
import type { Client } from '../../tools/client/client.js';
import { freePort } from '../../tools/free-port.js';
import { cupsServer } from '../../device/hosts/node/ipp.js';
import { listPrinters } from '../../device/hosts/node/list-printers.js';
import { startCups, type Cups } from '../helpers/cups.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { serveWithDevices } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { fileHash, received, sha256, tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';

const ADMIN = 'cups-admin';
const FINAL = ['done', 'failed', 'canceled'];

const procs = new Processes();
const tmp = tempDir('printbridge-cups-');
let cups: Cups;
let emu: TcpEmulator;
let client: Client;
let compatUrl = '';
let bridge: Proc;

after(async () => {
  await client?.close();
  await procs.killAll();
  tmp.cleanup();
});

before(async () => {
  cups = await startCups(procs, tmp.dir);
  emu = await tcpEmulator(procs, tmp.dir, [], 'raw');
  await cups.addRawQueue('pos-58', `socket://127.0.0.1:${emu.port}`);
  // Nothing listens behind this one, and CUPS gives up on a job after a second: the job is aborted.
  const nobody = await freePort();
  await cups.addRawQueue('broken', `socket://127.0.0.1:${nobody}/?contimeout=1`, '-o', 'printer-error-policy=abort-job');

  const serve = await serveWithDevices(procs, `${tmp.dir}/data`, ADMIN, ['pos-pc'], ['--compat-port', '0']);
  compatUrl = serve.compat ?? '';
  client = serve.client;
  bridge = procs.cli(['bridge', '--server', serve.url, '--id', 'pos-pc', '--token', serve.tokens.get('pos-pc') ?? '', '--printer', 'cups:pos-58', '--printer', 'cups:broken'], {
    env: { CUPS_SERVER: cups.server },
  });
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  for (const printer of ['pos-pc/0', 'pos-pc/1']) {
    await until(`${printer} online`, async () => ((await client.request('printer.get', { printer })) as { status: string }).status === 'online');
  }
});

async function finished(id: string): Promise<JobView> {
  return until(`job ${id} to finish`, async () => {
    const j = (await client.request('job.get', { job: id })) as JobView;
    return FINAL.includes(j.state) ? j : undefined;
  }, 60_000);
}

async function submit(printer: string, data: Uint8Array): Promise<JobView> {
  return (await client.request('job.submit', { printer, data: Buffer.from(data).toString('base64') })) as JobView;
}

test('a job prints byte-identical through a CUPS raw queue and is done when CUPS completes it', async () => {
  // Every byte value, ESC/POS-like control codes included: CUPS must not filter a raw job.
  const data = Buffer.concat([Buffer.from('\x1b@receipt\n\x1dV\x00'), randomBytes(150_000), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
  const job = await submit('pos-pc/0', data);
  const end = await finished(job.id);
  assert.equal(end.state, 'done', JSON.stringify(end));
  await received(emu.proc, data.length);
  assert.equal(fileHash(emu.out), sha256(data), 'the emulator got the job through CUPS byte for byte');
  // CUPS's own record: the job it was handed completed.
  const completed = cups.client('lpstat', ['-W', 'completed', '-o', 'pos-58']);
  assert.match(completed, /^pos-58-\d+\s/m, completed);
});

test('a stopped CUPS queue is a printer in error: the job waits, paused, and prints once the queue goes on', async () => {
  cups.client('cupsdisable', ['-r', 'out for lunch', 'pos-58']);
  await until('pos-pc/0 in error', async () => {
    const p = (await client.request('printer.get', { printer: 'pos-pc/0' })) as { status: string; detail?: string };
    return p.status === 'error' && p.detail?.includes('queue stopped') === true && p.detail.includes('out for lunch') ? p : undefined;
  });
  const data = Buffer.from('held while the queue is stopped\n');
  const job = await submit('pos-pc/0', data);
  await until('the job paused', async () => ((await client.request('job.get', { job: job.id })) as JobView).state === 'paused');
  // The bridge kept it: CUPS has nothing of it yet.
  assert.doesNotMatch(cups.client('lpstat', ['-o', 'pos-58']), /^pos-58-/m);
  cups.client('cupsenable', ['pos-58']);
  const end = await finished(job.id);
  assert.equal(end.state, 'done', JSON.stringify(end));
  await until('the job at the printer', () => readFileSync(emu.out, 'latin1').endsWith(data.toString('latin1')));
});

test('a job CUPS aborts fails with CUPS\'s reason, not done', async () => {
  const job = await submit('pos-pc/1', Buffer.from('never printed\n'));
  const end = await finished(job.id);
  assert.equal(end.state, 'failed', JSON.stringify(end));
  assert.equal(end.error?.code, 'PRINTER_ERROR', JSON.stringify(end));
  assert.match(end.error?.message ?? '', /CUPS job \d+ on broken aborted/, JSON.stringify(end));
});

test('--list-printers shows the CUPS queues with their devices', async () => {
  const r = await procs.run(['bridge', '--list-printers'], { env: { CUPS_SERVER: cups.server } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^cups:pos-58 +CUPS queue at ${cups.server.replace(/\./g, '\\.')}, device socket://127\\.0\\.0\\.1:${emu.port}\\b`, 'm'), r.stdout);
  assert.match(r.stdout, /^cups:broken +/m, r.stdout);
  assert.doesNotMatch(r.stderr, /not listed: CUPS/, r.stderr);
});

test('the printer list: USB-serial adapters and USB printers with their ids from sysfs, the 8250 driver\'s empty slots left out, and the CUPS queues', async () => {
  // A sysfs stand-in shaped as Linux lays it out: class/tty/NAME links into devices/, a usb-serial port under its USB device.
  const sys = join(tmp.dir, 'sys');
  const usb = join(sys, 'devices/pci0000:00/usb1/1-1');
  const tty = join(usb, '1-1:1.0/ttyUSB0/tty/ttyUSB0');
  mkdirSync(tty, { recursive: true });
  for (const [file, text] of [['idVendor', '1a86'], ['idProduct', '7523'], ['serial', 'A5XK3RJT'], ['manufacturer', 'QinHeng'], ['product', 'USB Serial']]) writeFileSync(join(usb, file!), `${text}\n`);
  symlinkSync('../../../ttyUSB0', join(tty, 'device'));
  const slot = join(sys, 'devices/platform/serial8250/tty/ttyS5');
  mkdirSync(join(sys, 'bus/platform/drivers/serial8250'), { recursive: true });
  mkdirSync(slot, { recursive: true });
  symlinkSync('../..', join(slot, 'device'));
  symlinkSync(join(sys, 'bus/platform/drivers/serial8250'), join(sys, 'devices/platform/serial8250/driver'));
  mkdirSync(join(sys, 'devices/virtual/tty/tty0'), { recursive: true });
  // A USB printer-class device on another USB port: usblp's lp0.
  const printer = join(sys, 'devices/pci0000:00/usb1/1-2');
  const lp = join(printer, '1-2:1.0/usbmisc/lp0');
  mkdirSync(lp, { recursive: true });
  for (const [file, text] of [['idVendor', '0416'], ['idProduct', '5011'], ['product', 'POS58 Printer']]) writeFileSync(join(printer, file!), `${text}\n`);
  symlinkSync('../..', join(lp, 'device'));
  mkdirSync(join(sys, 'class/usbmisc'), { recursive: true });
  symlinkSync(lp, join(sys, 'class/usbmisc/lp0'));
  mkdirSync(join(sys, 'class/tty'), { recursive: true });
  symlinkSync(tty, join(sys, 'class/tty/ttyUSB0'));
  symlinkSync(slot, join(sys, 'class/tty/ttyS5'));
  symlinkSync(join(sys, 'devices/virtual/tty/tty0'), join(sys, 'class/tty/tty0'));

  const list = await listPrinters({ sysfs: sys, cups: cupsServer(cups.server) });
  assert.deepEqual(list.problems, []);
  assert.deepEqual(list.printers.map((p) => p.uri), ['serial:/dev/ttyUSB0', 'usb:/dev/usb/lp0', 'cups:broken', 'cups:pos-58']);
  assert.equal(list.printers[0]?.detail, 'USB 1a86:7523 serial A5XK3RJT, QinHeng, USB Serial');
  assert.equal(list.printers[1]?.detail, 'USB printer, USB 0416:5011, POS58 Printer, or usb:0416:5011');
});

test('--list-printers says when CUPS cannot be reached, and still exits 0', async () => {
  const r = await procs.run(['bridge', '--list-printers'], { env: { CUPS_SERVER: `127.0.0.1:${await freePort()}` } });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /^cups:/m);
  assert.match(r.stderr, /not listed: CUPS: CUPS at 127\.0\.0\.1:\d+: connect ECONNREFUSED/, r.stderr);
});

test('printers.find on the compat listener names the CUPS queues', async () => {
  const ws = new WebSocket(compatUrl);
  try {
    const reply = await new Promise<{ uid: string; result: string[] }>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('message', (m) => {
        const msg = JSON.parse(m.toString()) as { uid?: string; result: string[] };
        if (msg.uid === 'u1') resolve(msg as { uid: string; result: string[] });
      });
      ws.on('open', () => ws.send(JSON.stringify({ call: 'printers.find', uid: 'u1' })));
    });
    assert.deepEqual([...reply.result].filter((n) => n === 'pos-58' || n === 'broken').sort(), ['broken', 'pos-58'], JSON.stringify(reply));
  } finally {
    ws.close();
  }
});

test('CUPS gone is the printer offline; CUPS back is the printer online, and it prints again', async () => {
  await cups.stop();
  await until('pos-pc/0 offline', async () => {
    const p = (await client.request('printer.get', { printer: 'pos-pc/0' })) as { status: string; detail?: string };
    return p.status === 'offline' && /ECONNREFUSED/.test(p.detail ?? '') ? p : undefined;
  });
  await cups.start();
  await until('pos-pc/0 online', async () => ((await client.request('printer.get', { printer: 'pos-pc/0' })) as { status: string }).status === 'online');
  const data = Buffer.from('after the restart\n');
  const job = await submit('pos-pc/0', data);
  const end = await finished(job.id);
  assert.equal(end.state, 'done', JSON.stringify(end));
  await until('the job at the printer', () => readFileSync(emu.out, 'latin1').endsWith(data.toString('latin1')));
});

test('a cups: printer takes --dialect raw only', async () => {
  const r = await procs.run(['bridge', '--server', 'ws://127.0.0.1:1', '--id', 'x', '--token', 't', '--printer', 'cups:pos-58', '--dialect', 'escpos']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /cups:pos-58: a CUPS queue takes the raw dialect only, not escpos/);
});
