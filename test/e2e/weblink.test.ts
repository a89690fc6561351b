// A Zebra Link-OS printer on Weblink, end to end as a user runs it: a real
// `printbridge serve` over TLS with a throwaway CA, the printer registered
// with `devices add SERIAL --weblink`, and the Weblink printer emulator
// (`printbridge emulate --weblink`) dialing in. Jobs go in through REST and
// must come out of the printer byte for byte, done only on its confirmation.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Processes, type Json, type Proc } from '../helpers/processes.js';
import { tempDir } from '../helpers/server.js';
import { createTestPki } from '../helpers/tls-certs.js';
import { spawnWeblinkEmulator } from '../helpers/weblink-emulator.js';

const SERIAL = '50J000000001';
const ADMIN = 'e2e-weblink-admin-token';

describe('Weblink end to end (serve, devices add --weblink, emulate --weblink)', () => {
  const procs = new Processes();
  const dir = tempDir('printbridge-weblink-e2e-');
  const data = join(dir, 'data');
  const record = join(dir, 'printed.zpl');
  let ca: Buffer;
  let caPath: string;
  let base: string;
  let weblink: string;
  let password: string;
  let printer: Proc;

  before(async () => {
    const pki = createTestPki(dir);
    caPath = pki.caCert;
    ca = readFileSync(caPath);
    const tls = pki.issue('server', 1);
    const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json', '--tls-cert', tls.cert, '--tls-key', tls.key], {
      env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN },
    });
    const info = await serve.waitForEvent<Json & { port: number }>('listening', { timeout: 20_000 });
    base = `https://localhost:${info.port}`;
    weblink = `${base}/weblink`;
    const add = await procs.run(['devices', 'add', SERIAL, '--weblink', '--data', data]);
    assert.equal(add.code, 0, add.stderr);
    password = add.stdout.trim().split('\n').at(-1) ?? '';
    assert.match(password, /^[A-Za-z0-9_-]{20,}$/, 'the password is alone on the last line');
    printer = spawnWeblinkEmulator(procs, { url: weblink, serial: SERIAL, password, ca: caPath, record, printMs: 20 });
    await printer.waitForEvent({ event: 'connected', channel: 'main' }, { timeout: 20_000 });
  });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  function rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${base}/api/v1${path}`, {
        method, ca, headers: { authorization: `Bearer ${ADMIN}`, ...(text === undefined ? {} : { 'content-type': 'application/json' }) },
      }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8')) as Json }));
      });
      req.on('error', reject);
      req.end(text);
    });
  }

  async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await get();
      if (ok(v)) return v;
      if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const view = async (): Promise<Json> => (await rest('GET', `/printers/${SERIAL}/0`)).body;
  const job = async (id: string): Promise<Json> => (await rest('GET', `/jobs/${id}`)).body;
  const printed = (): Buffer => (existsSync(record) ? readFileSync(record) : Buffer.alloc(0));

  it('lists the printer online as SERIAL/0 (zpl) with its model from discovery', async () => {
    const p = await until('printer online', view, (v) => v['online'] === true);
    assert.equal(p['dialect'], 'zpl');
    assert.match(String(p['name']), /ZD420/);
  });

  it('prints a ZPL job from REST byte-identical, done on the printer\'s confirmation', async () => {
    const before = printed().length;
    const zpl = Buffer.from('^XA^FO50,50^A0N,40^FDHello Weblink^FS^PQ2^XZ\r\n^XA^FO50,50^FDsecond^FS^XZ\r\n', 'latin1');
    const submitted = await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: zpl.toString('base64') });
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    const done = await until('job done', () => job(String(submitted.body['id'])), (j) => j['state'] === 'done' || j['state'] === 'failed');
    assert.equal(done['state'], 'done', JSON.stringify(done));
    // Every format was printed before the job was called done.
    assert.equal(printer.events().filter((e) => e['event'] === 'format-printed').length >= 2, true);
    assert.deepEqual(printed().subarray(before), zpl);
  });

  it('reads and sets settings (SGD) through REST', async () => {
    const got = await rest('POST', `/printers/${SERIAL}/0/sgd`, { get: ['device.unique_id', 'appl.name'] });
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.equal((got.body['values'] as Json)['device.unique_id'], SERIAL);
    const set = await rest('POST', `/printers/${SERIAL}/0/sgd`, { set: { 'device.location': 'dock 4' } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal((set.body['values'] as Json)['device.location'], 'dock 4');
    const back = await rest('POST', `/printers/${SERIAL}/0/sgd`, { get: ['device.location'] });
    assert.equal((back.body['values'] as Json)['device.location'], 'dock 4');
  });

  it('shows HEAD OPEN in the printer\'s status, and its clearing', async () => {
    printer.send('head open');
    const open = await until('cover open', view, (v) => v['status'] === 'cover-open');
    assert.match(String(open['detail']), /head open/);
    printer.send('head close');
    await until('online again', view, (v) => v['status'] === 'online');
  });

  it('holds a job while the head is open and finishes it once closed', async () => {
    const before = printed().length;
    const zpl = Buffer.from('^XA^FO50,50^FDheld^FS^PQ30^XZ\r\n', 'latin1');
    const from = printer.mark();
    const submitted = await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: zpl.toString('base64') });
    const id = String(submitted.body['id']);
    await printer.waitForEvent((e) => e['event'] === 'received' && e['channel'] === 'raw', { timeout: 10_000, from });
    printer.send('head open');
    const paused = await until('job paused', () => job(id), (j) => j['state'] === 'paused' || j['state'] === 'done');
    assert.equal(paused['state'], 'paused');
    assert.equal((paused['error'] as Json | undefined)?.['code'], 'PRINTER_ERROR');
    printer.send('head close');
    const done = await until('job done', () => job(id), (j) => j['state'] === 'done' || j['state'] === 'failed');
    assert.equal(done['state'], 'done', JSON.stringify(done));
    assert.deepEqual(printed().subarray(before), zpl);
  });

  it('puts an SGD answer split over several messages back together', async () => {
    printer.send('split 1 4');
    const got = await rest('POST', `/printers/${SERIAL}/0/sgd`, { get: ['weblink.ip.conn1.retry_interval', 'device.unique_id', 'appl.name'] });
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.equal((got.body['values'] as Json)['device.unique_id'], SERIAL);
    assert.ok(printer.events().some((e) => e['event'] === 'split'), 'the emulator did split a message');
  });

  it('lets a newer main connection replace the older, and goes on printing', async () => {
    const from = printer.mark();
    printer.send('new-main');
    const closed = await printer.waitForEvent((e) => e['event'] === 'closed' && e['channel'] === 'main', { timeout: 10_000, from });
    assert.equal(closed['code'], 4001);
    assert.equal((await view())['online'], true);
    const before = printed().length;
    const zpl = Buffer.from('^XA^FDafter^FS^XZ', 'latin1');
    const submitted = await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: zpl.toString('base64') });
    const done = await until('job done', () => job(String(submitted.body['id'])), (j) => j['state'] === 'done' || j['state'] === 'failed');
    assert.equal(done['state'], 'done', JSON.stringify(done));
    assert.deepEqual(printed().subarray(before), zpl);
  });

  it('finishes a job whose PQ JOB COMPLETED alert was lost on the printer\'s own ~HS answer, once, not left printing', async () => {
    const before = printed().length;
    const zpl = Buffer.from('^XA^FO50,50^FDno alert^FS^PQ3^XZ\r\n', 'latin1');
    const from = printer.mark();
    printer.send('lose-alerts 1');
    const submitted = await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: zpl.toString('base64') });
    const id = String(submitted.body['id']);
    const lost = await printer.waitForEvent((e) => e['event'] === 'alert' && e['condition'] === 'PQ JOB COMPLETED', { timeout: 10_000, from });
    assert.equal(lost['lost'], true, 'the printer printed the format and its alert went missing');
    assert.equal((await job(id))['state'], 'printing', 'no confirmation yet');
    // The server waits 10 s for the alert (completedWaitMs), then asks ~HS.
    const done = await until('job done', () => job(id), (j) => j['state'] === 'done' || j['state'] === 'failed', 20_000);
    assert.equal(done['state'], 'done', JSON.stringify(done));
    assert.deepEqual(printed().subarray(before), zpl, 'printed once');
  });

  it('refuses a printer with a wrong password (401)', async () => {
    const intruder = spawnWeblinkEmulator(procs, { url: weblink, serial: SERIAL, password: 'wrong-password', ca: caPath });
    const failed = await intruder.waitForEvent('connect-failed', { timeout: 10_000 });
    assert.equal(failed['status'], 401);
    await intruder.kill();
    assert.equal((await view())['online'], true, 'the real printer stays connected');
  });

  it('fails a job whose raw channel drops mid-print with JOB_INTERRUPTED', async () => {
    const labels = Buffer.from('^XA^FO50,50^FDmany^FS^PQ60^XZ\r\n', 'latin1');
    const from = printer.mark();
    const submitted = await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: labels.toString('base64') });
    const id = String(submitted.body['id']);
    await printer.waitForEvent((e) => e['event'] === 'received' && e['channel'] === 'raw', { timeout: 10_000, from });
    printer.send('drop raw');
    const failed = await until('job failed', () => job(id), (j) => j['state'] !== 'sending' && j['state'] !== 'printing' && j['state'] !== 'queued');
    assert.equal(failed['state'], 'failed');
    assert.equal((failed['error'] as Json | undefined)?.['code'], 'JOB_INTERRUPTED');
    // The printer is still there: the raw channel is asked for again and the next job prints.
    const next = await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: Buffer.from('^XA^FDnext^FS^XZ').toString('base64') });
    const done = await until('next job done', () => job(String(next.body['id'])), (j) => j['state'] === 'done' || j['state'] === 'failed');
    assert.equal(done['state'], 'done', JSON.stringify(done));
  });

  it('fails a job cut by a power cycle mid-print and never sends it again; the printer dials back and prints the next', async () => {
    const labels = Buffer.from('^XA^FO50,50^FDcut^FS^PQ60^XZ\r\n', 'latin1');
    const from = printer.mark();
    const submitted = await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: labels.toString('base64') });
    const id = String(submitted.body['id']);
    await printer.waitForEvent((e) => e['event'] === 'received' && e['channel'] === 'raw', { timeout: 10_000, from });
    printer.send('power-cycle 300');
    const failed = await until('job failed', () => job(id), (j) => j['state'] !== 'sending' && j['state'] !== 'printing' && j['state'] !== 'queued');
    assert.equal(failed['state'], 'failed', JSON.stringify(failed));
    assert.equal((failed['error'] as Json | undefined)?.['code'], 'JOB_INTERRUPTED');
    await printer.waitForEvent((e) => e['event'] === 'connected' && e['channel'] === 'main', { timeout: 10_000, from });
    await until('online again', view, (v) => v['online'] === true);
    const before = printed().length;
    const next = Buffer.from('^XA^FDafter power^FS^XZ', 'latin1');
    const again = await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: next.toString('base64') });
    const done = await until('next job done', () => job(String(again.body['id'])), (j) => j['state'] === 'done' || j['state'] === 'failed');
    assert.equal(done['state'], 'done', JSON.stringify(done));
    assert.deepEqual(printed().subarray(before), next, 'the cut job is not sent again');
  });
});
