// The Weblink endpoint against a scripted Link-OS printer: real wss sockets
// with a throwaway CA, a real server, and a printer written out step by step
// in the test, so that each step of the protocol is checked where it happens.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { DeviceMessage } from '../../protocol/device-messages.js';
import { encodeServerMessage, type ServerMessage } from '../../protocol/device-messages.js';
import { encodeDataFrame } from '../../protocol/frames.js';
import type { Hub } from '../../server/core/hub.js';
import type { Peer } from '../../server/core/peer.js';
import { addDevice } from '../../server/store/devices.js';
import { crc16xmodem, parseDiscovery } from '../../server/weblink/discovery.js';
import { DEFAULT_WEBLINK_TIMING, WeblinkPrinter, type Link } from '../../server/weblink/printer.js';
import { HostStatusReader } from '../../server/weblink/host-status.js';
import { MAX_PIECES, Reassembler } from '../../server/weblink/messages.js';
import { MAX_SGD_WAITING } from '../../server/weblink/printers.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { createTestPki } from '../helpers/tls-certs.js';
import { manualClock } from '../helpers/manual-clock.js';

const PROTOCOL = 'v1.weblink.zebra.com';
const RAW = 'v1.raw.zebra.com';
const CONFIG = 'v1.config.zebra.com';
const ADMIN = 'test-admin-token';
const SERIAL = '50J000000001';
const STX = '\x02';
const ETX = '\x03';

/** The manufactured ZD420 discovery value of WEBLINK.md A.13 (serial 50J000000001). */
const SAMPLE_DISCOVERY =
  'OiwuBAQBAAFaQlIAADUwSjAwMDAwMDAwMQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFpUQyBaRDQyMC0yMDNkcGkgWlBMAAAAAAAAAAAAAAAAVjg0LjIwLjIzWgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1MEowMDAwMDAwMDEAAAAAAAAAAAAAAAAAAAAAAAAAAGxvY2FsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAdNAAABAAB/AAAB/wAAAH8AAAEjjAAAAAAAAAAAAAAAAAAAAAgAAATCA0AAZAAAAAAAAAAABNIAAAAAAAAAAAAAAAAAAAAAA0Aj8AYEMC4xMwAAAAAAAAAAAAAjtyQbAAA=:5596';

/** A discovery value for another serial, built like the sample. */
function discoveryFor(serial: string): string {
  const packet = Buffer.from(SAMPLE_DISCOVERY.slice(0, SAMPLE_DISCOVERY.lastIndexOf(':')), 'base64');
  packet.fill(0, 188, 220);
  packet.write(serial, 188, 'latin1');
  const b64 = packet.toString('base64');
  return `${b64}:${crc16xmodem(b64).toString(16).padStart(4, '0')}`;
}

function hostStatus(formats: number, labels: number): string {
  const one = `030,0,0,1245,${String(formats).padStart(3, '0')},0,0,0,000,0,0,0`;
  const two = `001,0,0,0,1,2,6,0,${String(labels).padStart(8, '0')},1,000`;
  return `${STX}${one}${ETX}\r\n${STX}${two}${ETX}\r\n${STX}1234,0${ETX}\r\n`;
}

interface Frame {
  data: Buffer;
  binary: boolean;
}

/** One WebSocket connection of the scripted printer, with an inbox to wait on. */
class Conn {
  readonly inbox: Frame[] = [];
  private waiters: (() => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, binary) => {
      this.inbox.push({ data: data as Buffer, binary });
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value));
  }

  /** The first frame (from the start) that `match` takes, removed from the inbox. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.inbox.findIndex(match);
      if (at >= 0) return this.inbox.splice(at, 1)[0] as Frame;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame in ${timeoutMs} ms; inbox: ${this.inbox.map((f) => f.data.toString('latin1')).join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async json(key: string): Promise<Record<string, unknown>> {
    const f = await this.next((f) => {
      try {
        return key in (JSON.parse(f.data.toString('utf8')) as Record<string, unknown>);
      } catch {
        return false;
      }
    });
    assert.equal(f.binary, true, 'every frame to a printer is binary');
    return JSON.parse(f.data.toString('utf8')) as Record<string, unknown>;
  }

  close(): void {
    this.ws.close();
  }
}

describe('Weblink endpoint', () => {
  let t: TestServer;
  let ca: Buffer;
  let password: string;
  let otherPassword: string;
  let url: string;

  before(async () => {
    const pki = createTestPki(tempDir('printbridge-weblink-pki-'));
    ca = readFileSync(pki.caCert);
    t = await startTestServer({
      tls: pki.issue('server', 1), heartbeatMs: 60_000, limits: { maxWeblinkMessage: 4096, maxWeblinkConnections: 4 },
    });
    const { openStore } = await import('../../server/store/db.js');
    const store = openStore(t.dataDir);
    password = addDevice(store, SERIAL, ['weblink']);
    otherPassword = addDevice(store, 'OTHER0000002', ['weblink']);
    store.close();
    url = t.wsUrl('/weblink');
  });
  after(() => t.close());

  /** `null`: no credentials, as a printer's first attempt. */
  function dial(auth: { user: string; password: string } | null = { user: SERIAL, password }): Promise<Conn> {
    const headers: Record<string, string> = {};
    if (auth !== null) headers['authorization'] = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    const ws = new WebSocket(url, PROTOCOL, { ca, headers });
    return new Promise((resolve, reject) => {
      ws.once('upgrade', (res) => {
        // What Link-OS insists on: the subprotocol echoed and an empty body announced.
        assert.equal(res.headers['sec-websocket-protocol'], PROTOCOL);
        assert.equal(res.headers['content-length'], '0');
      });
      ws.once('open', () => resolve(new Conn(ws)));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, headers: res.headers })));
      ws.once('error', reject);
    });
  }

  async function main(serial = SERIAL): Promise<Conn> {
    const c = await dial();
    c.send({ discovery_b64: serial === SERIAL ? SAMPLE_DISCOVERY : discoveryFor(serial) });
    return c;
  }

  async function channel(name: string): Promise<Conn> {
    const c = await dial();
    c.send({ channel_name: name, unique_id: SERIAL, channel_id: '1' });
    return c;
  }

  function rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${t.server.url}/api/v1${path}`, {
        method, ca, headers: { authorization: `Bearer ${ADMIN}`, ...(text === undefined ? {} : { 'content-type': 'application/json' }) },
      }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8')) }));
      });
      req.on('error', reject);
      req.end(text);
    });
  }

  async function printer(): Promise<Record<string, unknown>> {
    return (await rest('GET', `/printers/${SERIAL}/0`)).body as Record<string, unknown>;
  }

  async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await get();
      if (ok(v)) return v;
      if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Takes one job on the raw channel: the bytes until `size`, then confirms it as a printer does. */
  async function take(raw: Conn, size: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < size) {
      const f = await raw.next();
      assert.equal(f.binary, true);
      parts.push(f.data);
      got += f.data.length;
    }
    return Buffer.concat(parts);
  }

  it('challenges an upgrade without credentials and refuses a wrong password with 401', async () => {
    const none = await dial(null).then(() => undefined, (e: { status: number; headers: Record<string, string> }) => e);
    assert.equal(none?.status, 401);
    assert.match(none?.headers['www-authenticate'] ?? '', /^Basic realm="/);
    const wrong = await dial({ user: SERIAL, password: 'not-it' }).then(() => undefined, (e: { status: number }) => e);
    assert.equal(wrong?.status, 401);
    assert.ok(t.logs.some((l) => l.msg === 'device login refused' && l.fields?.['reason'] === 'wrong token'));
  });

  it('refuses a bridge logging in at /v1/device with a Weblink printer\'s password (403)', async () => {
    const ws = new WebSocket(t.wsUrl(`/v1/device?id=${SERIAL}`), { ca, headers: { authorization: `Bearer ${password}` } });
    const status = await new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('a bridge got in with a printer\'s password')));
      ws.once('error', reject);
    });
    assert.equal(status, 403);
    assert.ok(t.logs.some((l) => l.msg === 'device login refused' && l.fields?.['reason'] === 'a Weblink printer, not a bridge'));
  });

  it('lists the printer online as SERIAL/0 (zpl) with model and firmware from discovery, and configures alerts', async () => {
    const m = await main();
    assert.deepEqual(await m.json('configure_alert'), { configure_alert: 'ALL MESSAGES,SDK,Y,Y,,,N,' });
    const view = await until('printer online', printer, (p) => p['online'] === true);
    assert.equal(view['id'], `${SERIAL}/0`);
    assert.equal(view['dialect'], 'zpl');
    assert.equal(view['name'], 'ZTC ZD420-203dpi ZPL');
    assert.equal(view['status'], 'online');
    const device = ((await rest('GET', '/devices')).body as Record<string, unknown>[]).find((d) => d['id'] === SERIAL);
    assert.equal(device?.['fw'], 'V84.20.23Z');

    // A ZPL job through REST: printed byte-identical, done only on the printer's confirmation.
    const zpl = Buffer.from('^XA^FO50,50^A0N,40^FDHello \xe9^FS^PQ1^XZ\r\n^XA^FDtwo^FS^XZ', 'latin1');
    const submitted = await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: zpl.toString('base64') });
    assert.equal(submitted.status, 201);
    const job = submitted.body as { id: string };
    assert.deepEqual(await m.json('open'), { open: RAW });
    const raw = await channel(RAW);
    assert.deepEqual(await take(raw, zpl.length), zpl);
    const state = async (): Promise<string> => ((await rest('GET', `/jobs/${job.id}`)).body as { state: string }).state;
    assert.equal(await until('all bytes written', state, (s) => s === 'printing'), 'printing');
    m.send({ alert: { unique_id: SERIAL, condition_id: 'PQ JOB COMPLETED', condition_state: 'SET' } });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await state(), 'printing', 'one PQ JOB COMPLETED for two formats is not done');
    assert.deepEqual(raw.inbox, [], 'nor asked about with ~HS yet');
    m.send({ alert: { unique_id: SERIAL, condition_id: 'PQ JOB COMPLETED', condition_state: 'SET' } });
    assert.equal((await raw.next()).data.toString('latin1'), '~HS');
    raw.send(Buffer.from(hostStatus(1, 0), 'latin1'));
    // Formats still in the buffer: asked again, and done only when it is empty.
    assert.equal((await raw.next()).data.toString('latin1'), '~HS');
    assert.equal(await state(), 'printing');
    raw.send(Buffer.from(hostStatus(0, 0), 'latin1'));
    assert.equal(await until('job done', state, (s) => s === 'done'), 'done');

    // HEAD OPEN shows on the printer's status, and its clearing too.
    m.send({ alert: { unique_id: SERIAL, condition_id: 'HEAD OPEN', condition_state: 'SET' } });
    const open = await until('head open', printer, (p) => p['status'] === 'cover-open');
    assert.equal(open['detail'], 'head open');
    m.send({ alert: { unique_id: SERIAL, condition_id: 'HEAD OPEN', condition_state: 'CLEAR' } });
    await until('head closed', printer, (p) => p['status'] === 'online');

    // SGD get and set through REST over the config channel; the answer comes split in two messages.
    const get = rest('POST', `/printers/${SERIAL}/0/sgd`, { get: ['appl.name', 'device.friendly_name'] });
    assert.deepEqual(await m.json('open'), { open: CONFIG });
    const config = await channel(CONFIG);
    const asked = await config.next();
    assert.equal(asked.binary, true);
    assert.equal(asked.data.toString('utf8'), '{}{"appl.name":null,"device.friendly_name":null}');
    config.send('{"appl.name" : "V84.20.23Z",');
    config.send(' "device.friendly_name" : "ZD420"}');
    assert.deepEqual(await get, { status: 200, body: { printer: `${SERIAL}/0`, values: { 'appl.name': 'V84.20.23Z', 'device.friendly_name': 'ZD420' } } });
    // The printer closes config after an answer; the next request reopens it.
    config.close();
    await config.closed;
    const set = rest('POST', `/printers/${SERIAL}/0/sgd`, { set: { 'device.location': 'dock 4' } });
    assert.deepEqual(await m.json('open'), { open: CONFIG });
    const config2 = await channel(CONFIG);
    assert.equal((await config2.next()).data.toString('utf8'), '{}{"device.location":"dock 4"}');
    config2.send({ 'device.location': 'dock 4' });
    assert.deepEqual((await set).body, { printer: `${SERIAL}/0`, values: { 'device.location': 'dock 4' } });

    // A bad request is refused with a code, and the printer stays served.
    const bad = await rest('POST', `/printers/${SERIAL}/0/sgd`, { get: [] });
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { error: { code: string } }).error.code, 'BAD_FIELD');

    // The raw channel drops after bytes went out, before confirmation: JOB_INTERRUPTED, never resent.
    const second = (await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: Buffer.from('^XA^FDlost^FS^XZ').toString('base64') })).body as { id: string };
    await take(raw, 16);
    raw.close();
    const failed = await until('job failed', async () => (await rest('GET', `/jobs/${second.id}`)).body as { state: string; error?: { code: string } }, (j) => j.state === 'failed');
    assert.equal(failed.error?.code, 'JOB_INTERRUPTED');

    // A newer main of the same printer replaces the older; the printer stays listed online.
    const m2 = await main();
    assert.equal((await m.closed).code, 4001);
    await m2.json('configure_alert');
    assert.equal((await printer())['online'], true);
    m2.close();
    await until('printer offline', printer, (p) => p['online'] === false && p['status'] === 'offline');
  });

  it('fails an SGD request the printer does not answer in time (TIMEOUT) and closes that config channel', async () => {
    const m = await main();
    await m.json('configure_alert');
    // MAX_SGD_WAITING requests may wait for one printer; one more is refused
    // at once. One client connection sends them all: its requests are taken
    // in order, so the last one surely comes after the others wait.
    const client = new WebSocket(t.wsUrl(`/v1/client?token=${ADMIN}`), { ca });
    const replies = new Map<number, { ok: boolean; error?: { code: string } }>();
    client.on('message', (data) => {
      const reply = JSON.parse(String(data)) as { re?: number; ok: boolean; error?: { code: string } };
      if (typeof reply.re === 'number') replies.set(reply.re, reply);
    });
    await new Promise((r) => client.once('open', r));
    for (let id = 1; id <= MAX_SGD_WAITING + 1; id++) {
      client.send(JSON.stringify({ id, op: 'printer.sgd', printer: `${SERIAL}/0`, get: ['appl.name'], timeout: 2000 }));
    }
    await until('the one over the bound refused', async () => replies.get(MAX_SGD_WAITING + 1), (r) => r !== undefined, 5000);
    assert.equal(replies.get(MAX_SGD_WAITING + 1)?.error?.code, 'RATE_LIMITED');
    assert.equal(replies.size, 1, 'the others wait');
    assert.deepEqual(await m.json('open'), { open: CONFIG });
    const config = await channel(CONFIG);
    await config.next();
    await until('all answered', async () => replies.size, (n) => n === MAX_SGD_WAITING + 1, 5000);
    for (let id = 1; id <= MAX_SGD_WAITING; id++) assert.equal(replies.get(id)?.error?.code, 'TIMEOUT');
    client.close();
    assert.equal((await config.closed).code, 1000, 'a late answer cannot be taken for the next request');
    // SGD for a printer nobody registered is refused with a code.
    const none = await rest('POST', '/printers/nobody/0/sgd', { get: ['appl.name'] });
    assert.equal((none.body as { error: { code: string } }).error.code, 'UNKNOWN_PRINTER');
    m.close();
    await until('printer offline', printer, (p) => p['online'] === false);
  });

  it('pauses, resumes and cancels a job on the printer as for other printers (~PP, ~PS, ~JA)', async () => {
    const m = await main();
    await m.json('configure_alert');
    const zpl = Buffer.from('^XA^FDlong^FS^PQ100^XZ', 'latin1');
    const job = (await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: zpl.toString('base64') })).body as { id: string };
    assert.deepEqual(await m.json('open'), { open: RAW });
    const raw = await channel(RAW);
    assert.deepEqual(await take(raw, zpl.length), zpl);
    assert.equal((await rest('POST', `/jobs/${job.id}/pause`)).status, 200);
    assert.equal((await raw.next()).data.toString('latin1'), '~PP');
    assert.equal((await rest('POST', `/jobs/${job.id}/resume`)).status, 200);
    assert.equal((await raw.next()).data.toString('latin1'), '~PS');
    const canceled = await rest('POST', `/jobs/${job.id}/cancel`);
    assert.equal((canceled.body as { state: string }).state, 'canceled');
    assert.equal((await raw.next()).data.toString('latin1'), '~JA');
    // A late confirmation of the canceled job changes nothing.
    m.send({ alert: { unique_id: SERIAL, condition_id: 'PQ JOB COMPLETED', condition_state: 'SET' } });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(((await rest('GET', `/jobs/${job.id}`)).body as { state: string }).state, 'canceled');
    m.close();
    await until('printer offline', printer, (p) => p['online'] === false);
  });

  it('takes a channel replaced by a newer one as lost: its job fails JOB_INTERRUPTED, its SGD is asked again on the newer', async () => {
    const m = await main();
    await m.json('configure_alert');
    // The printer saw its raw channel as dead (half-open) and opened another:
    // what went out on the older is of unknown fate, as if it had closed.
    const zpl = Buffer.from('^XA^FDgone^FS^XZ', 'latin1');
    const job = (await rest('POST', '/jobs', { printer: `${SERIAL}/0`, data: zpl.toString('base64') })).body as { id: string };
    assert.deepEqual(await m.json('open'), { open: RAW });
    const raw = await channel(RAW);
    assert.deepEqual(await take(raw, zpl.length), zpl);
    const raw2 = await channel(RAW);
    assert.equal((await raw.closed).code, 4001);
    const failed = await until('job failed', async () => (await rest('GET', `/jobs/${job.id}`)).body as { state: string; error?: { code: string } }, (j) => j.state === 'failed', 3000);
    assert.equal(failed.error?.code, 'JOB_INTERRUPTED');
    // The same for a config channel with a request on it: the newer gets the request.
    const get = rest('POST', `/printers/${SERIAL}/0/sgd`, { get: ['appl.name'] });
    assert.deepEqual(await m.json('open'), { open: CONFIG });
    const config = await channel(CONFIG);
    await config.next();
    const config2 = await channel(CONFIG);
    assert.equal((await config.closed).code, 4001);
    assert.equal((await config2.next()).data.toString('utf8'), '{}{"appl.name":null}');
    config2.send({ 'appl.name': 'V84.20.23Z' });
    assert.deepEqual((await get).body, { printer: `${SERIAL}/0`, values: { 'appl.name': 'V84.20.23Z' } });
    raw2.close();
    m.close();
    await until('printer offline', printer, (p) => p['online'] === false);
  });

  it('closes a main connection whose discovery names another serial, with a log line', async () => {
    const c = await dial();
    c.send({ discovery_b64: discoveryFor('50J999999999') });
    assert.equal((await c.closed).code, 1008);
    assert.ok(t.logs.some((l) => l.msg === 'weblink main connection refused: the discovery serial is not the login' && l.fields?.['discovered'] === '50J999999999'));
  });

  it('refuses an unknown channel and a channel without a main connection', async () => {
    const unknown = await dial();
    unknown.send({ channel_name: 'v1.status.zebra.com', unique_id: SERIAL });
    assert.equal((await unknown.closed).code, 1008);
    const orphan = await channel(RAW);
    assert.equal((await orphan.closed).code, 1008);
  });

  it('bounds the sockets of one printer (maxWeblinkConnections) and the reassembly of split JSON (maxWeblinkMessage)', async () => {
    // Another printer than the earlier tests', whose last sockets may still be closing.
    const other = { user: 'OTHER0000002', password: otherPassword };
    const held = await Promise.all([dial(other), dial(other), dial(other), dial(other)]);
    const over = await dial(other).then(() => undefined, (e: { status: number }) => e);
    assert.equal(over?.status, 503);
    for (const c of held) c.close();
    await Promise.all(held.map((c) => c.closed));

    const m = await main();
    await m.json('configure_alert');
    // Pieces that never make JSON, past the bound: 1009, and the printer's next main is served again.
    m.send('{"alert" : {"condition_id" : "');
    for (let i = 0; i < 5; i++) m.send('x'.repeat(1000));
    assert.equal((await m.closed).code, 1009);
    // The server closed that main itself: the printer is offline at once, not at the next heartbeat.
    await until('printer offline', printer, (p) => p['online'] === false, 2000);
    const again = await main();
    await again.json('configure_alert');
    // The same on a config channel with a request on it: the request is asked again on the next one.
    const get = rest('POST', `/printers/${SERIAL}/0/sgd`, { get: ['appl.name'] });
    assert.deepEqual(await again.json('open'), { open: CONFIG });
    const config = await channel(CONFIG);
    await config.next();
    config.send('{"appl.name" : "');
    for (let i = 0; i < 5; i++) config.send('x'.repeat(1000));
    assert.equal((await config.closed).code, 1009);
    assert.deepEqual(await again.json('open'), { open: CONFIG });
    const config2 = await channel(CONFIG);
    assert.equal((await config2.next()).data.toString('utf8'), '{}{"appl.name":null}');
    config2.send({ 'appl.name': 'V84.20.23Z' });
    assert.deepEqual((await get).body, { printer: `${SERIAL}/0`, values: { 'appl.name': 'V84.20.23Z' } });
    again.close();
    await again.closed;
  });
});

describe('Weblink liveness', () => {
  it('pings a printer\'s main connection and drops it when the pongs stop', async () => {
    const t = await startTestServer({ heartbeatMs: 150 });
    try {
      const { openStore } = await import('../../server/store/db.js');
      const store = openStore(t.dataDir);
      const password = addDevice(store, SERIAL, ['weblink']);
      store.close();
      const auth = `Basic ${Buffer.from(`${SERIAL}:${password}`).toString('base64')}`;
      // A printer that answers pings (ws pongs by itself) stays; one that stopped answering is dropped.
      const live = new WebSocket(t.wsUrl('/weblink'), PROTOCOL, { headers: { authorization: auth } });
      await new Promise((r) => live.once('open', r));
      let pinged = 0;
      live.on('ping', () => (pinged += 1));
      live.send(JSON.stringify({ discovery_b64: SAMPLE_DISCOVERY }));
      await new Promise((r) => setTimeout(r, 700));
      assert.ok(pinged >= 2, `pinged ${pinged} times`);
      assert.equal(live.readyState, WebSocket.OPEN);
      live.close();
      await new Promise((r) => live.once('close', r));

      const dead = new WebSocket(t.wsUrl('/weblink'), PROTOCOL, { headers: { authorization: auth }, autoPong: false });
      await new Promise((r) => dead.once('open', r));
      const closed = new Promise<number>((r) => dead.once('close', (code) => r(code)));
      dead.send(JSON.stringify({ discovery_b64: SAMPLE_DISCOVERY }));
      assert.ok([4004, 1006].includes(await closed), 'dropped for its heartbeat');
      assert.ok(t.logs.some((l) => l.msg === 'device offline' && l.fields?.['device'] === SERIAL));
    } finally {
      await t.close();
    }
  });
});

describe('Weblink decoding', () => {
  it('reads the serial, product and firmware of a discovery value and checks its CRC', () => {
    const d = parseDiscovery(SAMPLE_DISCOVERY);
    assert.deepEqual(d, { ok: true, value: { serial: SERIAL, product: 'ZTC ZD420-203dpi ZPL', firmware: 'V84.20.23Z' } });
    const mangled = `${SAMPLE_DISCOVERY.slice(0, 10)}B${SAMPLE_DISCOVERY.slice(11)}`;
    assert.equal(parseDiscovery(mangled).ok, false);
    assert.equal(parseDiscovery('OiwuBA==:0000').ok, false);
  });

  it('puts split JSON back together under its bound', () => {
    const r = new Reassembler(40);
    assert.deepEqual(r.push('{"a" :'), { kind: 'more' });
    assert.deepEqual(r.push(' "b"}'), { kind: 'json', value: { a: 'b' } });
    assert.equal(r.push('not json').kind, 'bad');
    assert.equal(r.push('{"a":"').kind, 'more');
    assert.equal(r.push('x'.repeat(40)).kind, 'too-large');
    assert.equal(r.pending, 0);
  });

  it('bounds the pieces of one message (MAX_PIECES), so a message sent a byte at a time is refused', () => {
    const r = new Reassembler(1 << 20);
    const text = JSON.stringify({ sgd: 'x'.repeat(200) });
    let last: ReturnType<Reassembler['push']> = { kind: 'more' };
    let pushed = 0;
    for (const c of text) {
      last = r.push(c);
      pushed += 1;
      if (last.kind !== 'more') break;
    }
    assert.equal(last.kind, 'too-large');
    assert.equal(pushed, MAX_PIECES + 1);
    // A message in a few pieces still comes together.
    const pieces = [text.slice(0, 70), text.slice(70, 150), text.slice(150)];
    assert.deepEqual(pieces.map((x) => r.push(x).kind), ['more', 'more', 'json']);
  });

  it('reads formats in buffer and labels remaining from ~HS, in pieces and after noise', () => {
    const reader = new HostStatusReader();
    const text = `1234\r\n${hostStatus(3, 17)}`;
    assert.deepEqual(reader.push(Buffer.from(text.slice(0, 20), 'latin1')), []);
    assert.deepEqual(reader.push(Buffer.from(text.slice(20), 'latin1')), [{ formatsInBuffer: 3, labelsRemaining: 17 }]);
  });
});

/**
 * One WeblinkPrinter on a virtual clock, with the core played by a recorder:
 * what it tells the core, what it sends on main and on the raw channel.
 */
function virtualPrinter() {
  const clock = manualClock();
  const toCore: DeviceMessage[] = [];
  let peer: Peer | undefined;
  const hub = {
    clock,
    log: () => {},
    connectDevice(_serial: string, p: Peer) {
      peer = p;
      return { phase: 'open', life() {}, gone() {}, close() {}, text: (d: { ok: boolean; value?: DeviceMessage }) => void (d.ok && d.value !== undefined && toCore.push(d.value)) };
    },
  } as unknown as Hub;
  const link = (sent: string[]): Link => ({
    send: (bytes, done) => {
      sent.push(bytes.toString('latin1'));
      done?.(null);
    },
    close() {}, terminate() {}, ping() {}, bufferedAmount: () => 0,
  });
  const mainSent: string[] = [];
  const rawSent: string[] = [];
  const printer = new WeblinkPrinter(hub, SERIAL, { serial: SERIAL, product: 'ZTC ZD420-203dpi ZPL', firmware: 'V84.20.23Z' }, link(mainSent), undefined);
  const raw = link(rawSent);
  const v = {
    printer, toCore, mainSent, rawSent, raw,
    /** Runs the timers due up to `ms` from now, in order. */
    advance(ms: number): void {
      clock.advance(ms);
    },
    core(m: ServerMessage): void {
      peer?.sendText(encodeServerMessage(m));
      v.advance(0);
    },
    data(stream: number, offset: number, bytes: Buffer): void {
      peer?.sendBinary(encodeDataFrame(stream, offset, bytes));
      v.advance(0);
    },
    alert(condition: string): void {
      printer.mainMessage({ alert: { unique_id: SERIAL, condition_id: condition, condition_state: 'SET' } });
      v.advance(0);
    },
    answer(formats: number, labels: number): void {
      printer.channelData('v1.raw.zebra.com', raw, Buffer.from(hostStatus(formats, labels), 'latin1'), null);
      v.advance(0);
    },
    ended(id: string): DeviceMessage | undefined {
      return toCore.find((m) => (m.t === 'job.done' || m.t === 'job.fail') && m.id === id);
    },
    /** A job of two formats, all of it written on an open raw channel. */
    start(id: string): void {
      v.core({ t: 'job.start', id, stream: 1, port: 0, size: ZPL_TWO.length });
      printer.channelOpened('v1.raw.zebra.com', raw);
      v.data(1, 0, ZPL_TWO);
      assert.ok(toCore.some((m) => m.t === 'job.ack' && m.id === id && m.written === ZPL_TWO.length), 'every byte written');
    },
  };
  v.advance(0);
  return v;
}

const ZPL_TWO = Buffer.from('^XA^FDone^FS^XZ^XA^FDtwo^FS^XZ', 'latin1');

describe('Weblink printer logic on a virtual clock', () => {
  const { completedWaitMs, hostStatusRetryMs, hostStatusTries, channelRetryMs, channelAsks } = DEFAULT_WEBLINK_TIMING;

  it('a lost PQ JOB COMPLETED: after completedWaitMs ~HS is asked anyway; done only when the printer says it holds nothing more', () => {
    const v = virtualPrinter();
    v.start('j1');
    v.alert('PQ JOB COMPLETED');
    // The second alert never comes.
    v.advance(completedWaitMs - 1);
    assert.deepEqual(v.rawSent.filter((s) => s === '~HS'), [], 'the alerts are waited for first');
    v.advance(1);
    assert.deepEqual(v.rawSent.filter((s) => s === '~HS'), ['~HS']);
    v.answer(0, 3);
    assert.equal(v.ended('j1'), undefined, 'labels remaining: not done');
    v.advance(DEFAULT_WEBLINK_TIMING.hostStatusPollMs);
    v.answer(0, 0);
    assert.equal(v.ended('j1')?.t, 'job.done');
  });

  it('a lost PQ JOB COMPLETED and a printer that never answers ~HS: the job fails JOB_INTERRUPTED, it is not left printing', () => {
    const v = virtualPrinter();
    v.start('j2');
    v.advance(completedWaitMs);
    v.advance(hostStatusRetryMs * (hostStatusTries - 1));
    assert.equal(v.ended('j2'), undefined, 'asked again while the tries last');
    assert.equal(v.rawSent.filter((s) => s === '~HS').length, hostStatusTries);
    v.advance(hostStatusRetryMs);
    const end = v.ended('j2');
    assert.equal(end?.t, 'job.fail');
    assert.equal(end?.t === 'job.fail' ? end.code : undefined, 'JOB_INTERRUPTED');
    v.advance(60_000);
    assert.equal(v.rawSent.filter((s) => s === '~HS').length, hostStatusTries, 'and nothing more is asked');
  });

  it('a printer held by a known fault is asked until it answers, however long', () => {
    const v = virtualPrinter();
    v.start('j3');
    v.printer.mainMessage({ alert: { unique_id: SERIAL, condition_id: 'HEAD OPEN', condition_state: 'SET' } });
    v.advance(completedWaitMs + hostStatusRetryMs * hostStatusTries * 3);
    assert.equal(v.ended('j3'), undefined);
    v.printer.mainMessage({ alert: { unique_id: SERIAL, condition_id: 'HEAD OPEN', condition_state: 'CLEAR' } });
    v.advance(hostStatusRetryMs);
    v.answer(0, 0);
    assert.equal(v.ended('j3')?.t, 'job.done');
  });

  it('asks for a raw channel channelAsks times, then fails the job PRINTER_UNREACHABLE (nothing went out) and stops asking', () => {
    const v = virtualPrinter();
    const opens = (): number => v.mainSent.filter((s) => s.includes('"open"')).length;
    v.core({ t: 'job.start', id: 'j4', stream: 1, port: 0, size: ZPL_TWO.length });
    v.data(1, 0, ZPL_TWO);
    assert.equal(opens(), 1);
    v.advance(channelRetryMs * (channelAsks - 1));
    assert.equal(opens(), channelAsks);
    assert.equal(v.ended('j4'), undefined);
    v.advance(channelRetryMs);
    const end = v.ended('j4');
    assert.equal(end?.t === 'job.fail' ? end.code : undefined, 'PRINTER_UNREACHABLE');
    v.advance(channelRetryMs * 10);
    assert.equal(opens(), channelAsks, 'no more open requests');
    // The next job asks afresh.
    v.core({ t: 'job.start', id: 'j5', stream: 2, port: 0, size: ZPL_TWO.length });
    assert.equal(opens(), channelAsks + 1);
  });
});
