// The Weblink printer emulator (printbridge emulate --weblink) as a real
// process against a small scripted Weblink server written here: an HTTPS
// server with a private CA whose upgrade demands HTTP Basic, a `ws` server
// that echoes v1.weblink.zebra.com and adds Content-Length: 0, and a record
// of every connection and message, so each test scripts the server side of
// WEBLINK.md A.12 and checks what the printer does.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { createTestPki, type IssuedCert, type TestPki } from '../helpers/tls-certs.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { spawnWeblinkEmulator } from '../helpers/weblink-emulator.js';
import { crc16Xmodem, discoveryValue, DISCOVERY_LENGTH } from '../../tools/emulator/weblink/discovery.js';

const PROTOCOL = 'v1.weblink.zebra.com';
const SERIAL = '50J000000001';
const PASSWORD = 'label-secret';
/** The manufactured ZD420 discovery value in WEBLINK.md A.13 (serial 50J000000001, odometer 1234). */
const A13_DISCOVERY =
  'OiwuBAQBAAFaQlIAADUwSjAwMDAwMDAwMQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' +
  'AFpUQyBaRDQyMC0yMDNkcGkgWlBMAAAAAAAAAAAAAAAAVjg0LjIwLjIzWgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' +
  'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1MEowMDAwMDAwMDEAAAAAAAAAAAAAAAAAAAAAAAAAAGxvY2Fs' +
  'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' +
  'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAdNAAABAAB/AAAB/wAAAH8AAAEjjAAAAAAAAAAAAAAAAAAAAAgAAATCA0AAZAAAAAAA' +
  'AAAABNIAAAAAAAAAAAAAAAAAAAAAA0Aj8AYEMC4xMwAAAAAAAAAAAAAjtyQbAAA=:5596';
const STX = '\x02';
const ETX = '\x03';

type Kind = 'main' | 'raw' | 'config';

/** One connection the printer made, seen from the server. */
class Conn {
  kind: Kind | undefined;
  readonly messages: Buffer[] = [];
  readonly textFrames: number[] = [];
  first: Record<string, unknown> | undefined;
  closed: { code: number } | undefined;
  private taken = 0;
  private wake: (() => void) | undefined;

  constructor(readonly ws: WebSocket, readonly auth: string | undefined, readonly tlsVersion: string | null, readonly clientCn: string) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.textFrames.push(this.messages.length);
      this.messages.push(data as Buffer);
      this.wake?.();
    });
    ws.on('close', (code) => {
      this.closed = { code };
      this.wake?.();
    });
  }

  send(data: string | Buffer): void {
    this.ws.send(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, { binary: true });
  }

  /** The next message, after those already taken. */
  async next(timeout = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeout;
    while (this.messages.length <= this.taken) {
      if (this.closed) throw new Error(`${this.kind} closed (${this.closed.code}) while waiting for a message`);
      if (Date.now() > deadline) throw new Error(`no message on ${this.kind} within ${timeout} ms`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.messages[this.taken++]!;
  }

  /** Reads messages until they parse as one JSON text (a server must glue split messages, A.5). */
  async nextJson(): Promise<{ value: Record<string, unknown>; parts: number; text: string }> {
    let text = '';
    for (let parts = 1; ; parts++) {
      text += (await this.next()).toString('utf8');
      try {
        return { value: JSON.parse(text) as Record<string, unknown>, parts, text };
      } catch {
        // not complete yet
      }
    }
  }

  /** Raw-channel bytes until `done` says the answer is complete. */
  async bytesUntil(done: (s: string) => boolean): Promise<string> {
    let s = '';
    while (!done(s)) s += (await this.next()).toString('latin1');
    return s;
  }

  async closedWith(timeout = 5000): Promise<number> {
    const deadline = Date.now() + timeout;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`${this.kind} still open after ${timeout} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closed.code;
  }
}

/** A scripted Weblink endpoint: Basic auth on the upgrade, every connection classified by its first message. */
class ScriptedServer {
  readonly conns: Conn[] = [];
  unauthorized = 0;
  port = 0;
  private readonly server: Server;
  private readonly wss: WebSocketServer;

  /** Faulty variants: a 101 without the subprotocol or without Content-Length: 0, a server that never pongs. */
  constructor(tls: IssuedCert, faulty: { echo?: boolean; contentLength?: boolean; autoPong?: boolean; clientCa?: string } = {}) {
    const { cert, key } = tls;
    const mutual = faulty.clientCa === undefined ? {} : { requestCert: true, rejectUnauthorized: true, ca: readFileSync(faulty.clientCa) };
    this.server = createServer({ cert: readFileSync(cert), key: readFileSync(key), ...mutual });
    this.wss = new WebSocketServer({
      noServer: true,
      autoPong: faulty.autoPong ?? true,
      handleProtocols: (set) => (faulty.echo !== false && set.has(PROTOCOL) ? PROTOCOL : false),
    });
    if (faulty.contentLength !== false) this.wss.on('headers', (headers) => headers.push('Content-Length: 0'));
    this.server.on('upgrade', (req, socket, head) => {
      const expected = `Basic ${Buffer.from(`${SERIAL}:${PASSWORD}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        this.unauthorized++;
        socket.end('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="weblink"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const socket = req.socket as TLSSocket;
        const conn = new Conn(ws, req.headers.authorization, socket.getProtocol(), String(socket.getPeerCertificate().subject?.CN ?? ''));
        this.conns.push(conn);
        void conn.nextJson().then(({ value }) => {
          conn.first = value;
          conn.kind = 'discovery_b64' in value ? 'main' : value['channel_name'] === 'v1.raw.zebra.com' ? 'raw' : 'config';
        }, () => undefined);
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `https://localhost:${this.port}/weblink`;
  }

  /** The n-th connection of a kind (0-based), once it has sent its first message. */
  async conn(kind: Kind, n = 0, timeout = 8000): Promise<Conn> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const found = this.conns.filter((c) => c.kind === kind)[n];
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${kind} connection #${n} within ${timeout} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  count(kind: Kind): number {
    return this.conns.filter((c) => c.kind === kind).length;
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'pb-weblink-emu-'));
const procs = new Processes();
let pki: TestPki;
let tls: IssuedCert;
let server: ScriptedServer;
after(async () => {
  await procs.killAll();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});
before(async () => {
  pki = createTestPki(dir);
  tls = pki.issue('weblink', 11);
  server = new ScriptedServer(tls);
  await server.listen();
});

let printers = 0;
/** A printer on the shared server; each test's printer gets its own record file. */
function startPrinter(extra: string[] = [], on = server, password = PASSWORD): { proc: Proc; record: string; first: number } {
  const record = join(dir, `printed-${++printers}.zpl`);
  const first = on.conns.length;
  const proc = spawnWeblinkEmulator(procs, { url: on.url, serial: SERIAL, password, ca: pki.caCert, record, printMs: 20, extra });
  return { proc, record, first };
}

/** Main for a printer started after `first` connections: a session sees only its own. */
async function mainOf(first: number, n = 0): Promise<Conn> {
  const deadline = Date.now() + 8000;
  for (;;) {
    const found = server.conns.slice(first).filter((c) => c.kind === 'main')[n];
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no main connection #${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function channel(first: number, kind: Kind, n = 0): Promise<Conn> {
  const deadline = Date.now() + 8000;
  for (;;) {
    const found = server.conns.slice(first).filter((c) => c.kind === kind)[n];
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no ${kind} connection #${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function hostStatus(answer: string): { formats: number; labels: number; paperOut: boolean; headOpen: boolean } {
  const strings = answer.split(`${ETX}\r\n`).filter((s) => s.startsWith(STX)).map((s) => s.slice(1).split(','));
  assert.equal(strings.length, 3, `three ~HS strings in ${JSON.stringify(answer)}`);
  return { formats: Number(strings[0]![4]), labels: Number(strings[1]![8]), paperOut: strings[0]![1] === '1', headOpen: strings[1]![2] === '1' };
}

test('the discovery value is A.13\'s for serial 50J000000001 and carries a CRC-16/XMODEM of the base64', () => {
  const value = discoveryValue({ serial: SERIAL, product: 'ZTC ZD420-203dpi ZPL', firmware: 'V84.20.23Z', friendlyName: SERIAL, odometer: 1234, labelsRemaining: 0, labelsQueued: 0 });
  assert.equal(value, A13_DISCOVERY);
  assert.equal(crc16Xmodem(Buffer.from('123456789')), 0x31c3, 'the CRC-16/XMODEM check value');
});

test('dials in: 401 answered with Basic serial:password, discovery first on main, channels opened on request, ZPL recorded, one PQ JOB COMPLETED per format', async () => {
  const before401 = server.unauthorized;
  const { proc, record, first } = startPrinter();
  const main = await mainOf(first);
  await proc.waitForEvent({ event: 'auth', channel: 'main' });
  assert.ok(server.unauthorized > before401, 'the first upgrade was refused with 401');
  assert.equal(main.auth, `Basic ${Buffer.from(`${SERIAL}:${PASSWORD}`).toString('base64')}`);
  assert.equal(main.ws.protocol, PROTOCOL);
  assert.equal(main.tlsVersion, 'TLSv1.2', 'a ZD420 speaks TLS 1.2');

  // The discovery message, printer-style, with a CRC over the base64 text.
  const text = main.messages[0]!.toString('utf8');
  assert.match(text, /^\{\r\n {2}"discovery_b64" : "[A-Za-z0-9+/=]+:[0-9a-f]{4}"\r\n\}$/);
  const [b64, crc] = String(main.first!['discovery_b64']).split(':');
  assert.equal(crc, crc16Xmodem(Buffer.from(b64!, 'latin1')).toString(16).padStart(4, '0'));
  const packet = Buffer.from(b64!, 'base64');
  assert.equal(packet.length, DISCOVERY_LENGTH);
  assert.equal(packet.subarray(0, 3).toString('latin1'), ':,.');
  assert.equal(packet.subarray(188, 188 + SERIAL.length).toString('latin1'), SERIAL);
  assert.equal(packet.subarray(76, 96).toString('latin1'), 'ZTC ZD420-203dpi ZPL');

  main.send('{ "configure_alert" : "ALL MESSAGES,SDK,Y,Y,,,N,|SGD SET,SDK,Y,Y,,,N,capture.channel1.data.raw" }');
  await proc.waitForEvent({ event: 'configure-alert', entries: 2 });
  main.send('{ "open" : "v1.raw.zebra.com" }');
  const raw = await channel(first, 'raw');
  assert.deepEqual(Object.keys(raw.first!), ['channel_name', 'unique_id', 'channel_id']);
  assert.equal(raw.first!['unique_id'], SERIAL);
  assert.equal(raw.auth !== undefined, true, 'channels authenticate too');

  // Two formats, the second printing 3 labels, sent in pieces that split ^XZ and the ^PQ count.
  const job = Buffer.from('^XA^FX job 42^FO50,50^A0N,40^FDHello^FS^XZ\r\n^XA^FO50,50^FDx\xe9y^FS^PQ3^X', 'latin1');
  const tail = Buffer.from('Z\r\n', 'latin1');
  raw.send(job.subarray(0, 20));
  raw.send(job.subarray(20));
  raw.send(tail);
  const alerts: Record<string, unknown>[] = [];
  while (alerts.length < 2) {
    const { value } = await main.nextJson();
    const alert = value['alert'] as Record<string, unknown>;
    assert.equal(alert['condition_id'], 'PQ JOB COMPLETED');
    assert.equal(alert['condition_state'], 'SET');
    assert.equal(alert['unique_id'], SERIAL);
    assert.match(String(alert['time_stamp']), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    alerts.push(alert);
  }
  await proc.waitForEvent({ event: 'format-printed', formats: 2, labels: 3 });
  assert.deepEqual(readFileSync(record), Buffer.concat([job, tail]), 'recorded byte for byte');

  // ~HS and getvar are answered on the raw channel and left out of the record.
  raw.send('~HS');
  const hs = hostStatus(await raw.bytesUntil((s) => s.split(ETX).length > 3));
  assert.deepEqual(hs, { formats: 0, labels: 0, paperOut: false, headOpen: false });
  raw.send('! U1 getvar "device.unique_id"\r\n');
  assert.equal(await raw.bytesUntil((s) => s.endsWith('\r\n')), `"${SERIAL}"\r\n`);
  raw.send('! U1 getvar "odometer.total_label_count"\r\n');
  assert.equal(await raw.bytesUntil((s) => s.endsWith('\r\n')), '"4"\r\n');
  assert.deepEqual(readFileSync(record), Buffer.concat([job, tail]), 'queries are not printed');

  for (const c of server.conns.slice(first)) assert.deepEqual(c.textFrames, [], `${c.kind} sent only binary frames`);
  await proc.kill();
});

test('config channel: JSON SGD get, set, failed set answers the old value, then the channel closes with 1000', async () => {
  const { proc, first } = startPrinter();
  const main = await mainOf(first);
  main.send('{"open":"v1.config.zebra.com"}');
  const config = await channel(first, 'config');
  assert.equal(config.first!['channel_name'], 'v1.config.zebra.com');
  config.send('{}{"device.friendly_name":null,"weblink.ip.conn1.retry_interval":null}');
  assert.deepEqual((await config.nextJson()).value, { 'device.friendly_name': SERIAL, 'weblink.ip.conn1.retry_interval': '0.2' });
  assert.equal(await config.closedWith(), 1000);

  main.send('{"open":"v1.config.zebra.com"}');
  const second = await channel(first, 'config', 1);
  second.send('{}{"device.location":"my desk","device.unique_id":"forged"}');
  assert.deepEqual((await second.nextJson()).value, { 'device.location': 'my desk', 'device.unique_id': SERIAL });
  assert.equal(await second.closedWith(), 1000);

  main.send('{"open":"v1.config.zebra.com"}');
  const third = await channel(first, 'config', 2);
  third.send('{}{"weblink":null}');
  const branch = (await third.nextJson()).value;
  assert.equal(branch['weblink.ip.conn1.location'], server.url);
  assert.equal(branch['weblink.ip.conn1.num_connections'], '2');

  // alerts.add over config subscribes this printer's SDK alerts; an SGD SET alert names its setting.
  main.send('{"open":"v1.config.zebra.com"}');
  const fourth = await channel(first, 'config', 3);
  fourth.send('{}{"alerts.add":"SGD SET,SDK,Y,Y,WEBLINK.IP.CONN1,0,N,capture.channel1.data.raw"}');
  await fourth.nextJson();
  proc.send('scan 4006381333931');
  const scanned = (await main.nextJson()).value['alert'] as Record<string, unknown>;
  assert.deepEqual(
    [scanned['condition_id'], scanned['setting_name'], scanned['setting_value']],
    ['SGD SET', 'capture.channel1.data.raw', '4006381333931'],
  );
  proc.send('head open');
  await proc.waitForEvent({ event: 'alert', condition: 'HEAD OPEN', sent: false });

  // A command without the `{}` prefix is not JSON SGD; device.reset answers, then the printer restarts.
  main.send('{"open":"v1.config.zebra.com"}');
  const fifth = await channel(first, 'config', 4);
  fifth.send('{"device.reset":""}');
  await proc.waitForEvent({ event: 'bad-json', reason: 'no {} prefix' });
  fifth.send('{}{"device.reset":""}');
  assert.deepEqual((await fifth.nextJson()).value, { 'device.reset': '' });
  await proc.waitForEvent('power-off');
  await main.closedWith();
  await proc.kill();
});

test('head open: alert SET on main, ~HS unanswered, printing held (and past --buffer reading stops) until head close (alert CLEAR), then PQ JOB COMPLETED', async () => {
  const { proc, record, first } = startPrinter(['--buffer', '1000']);
  const main = await mainOf(first);
  main.send('{ "configure_alert" : "ALL MESSAGES,SDK,Y,Y,,,N," }');
  await proc.waitForEvent('configure-alert');
  main.send('{ "open" : "v1.raw.zebra.com" }');
  const raw = await channel(first, 'raw');
  proc.send('head open');
  const set = (await main.nextJson()).value['alert'] as Record<string, unknown>;
  assert.deepEqual([set['condition_id'], set['condition_state']], ['HEAD OPEN', 'SET']);

  raw.send('^XA^FDheld^FS^XZ');
  await proc.waitForEvent({ event: 'received', bytes: 16 });
  raw.send('~HS');
  await proc.waitForEvent({ event: 'unanswered', query: '~HS' });
  assert.equal(readFileSync(record, 'utf8'), '', 'nothing printed with the head open');

  // Past the 1000-byte receive buffer the raw channel is no longer read.
  const big = `^XA^FD${'b'.repeat(1200)}^FS^XZ`;
  raw.send(big);
  await proc.waitForEvent({ event: 'buffer-full', received: 19 + big.length });
  raw.send('^XA^FDlast^FS^XZ');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(proc.events().filter((e) => e['event'] === 'received').at(-1)?.['bytes'], 19 + big.length, 'not read while full');

  proc.send('head close');
  const clear = (await main.nextJson()).value['alert'] as Record<string, unknown>;
  assert.deepEqual([clear['condition_id'], clear['condition_state']], ['HEAD OPEN', 'CLEAR']);
  await proc.waitForEvent('buffer-free');
  for (let i = 0; i < 3; i++) {
    const done = (await main.nextJson()).value['alert'] as Record<string, unknown>;
    assert.equal(done['condition_id'], 'PQ JOB COMPLETED');
  }
  assert.equal(readFileSync(record, 'utf8'), `^XA^FDheld^FS^XZ${big}^XA^FDlast^FS^XZ`);
  assert.equal(raw.messages.length, 1, 'the ~HS sent with the head open was never answered');
  await proc.kill();
});

test('split: the next JSON message comes in several WebSocket messages, and so does any JSON over --split-above', async () => {
  const { proc, first } = startPrinter(['--split-above', '500']);
  const main = await mainOf(first);
  main.send('{"open":"v1.config.zebra.com"}');
  const config = await channel(first, 'config');
  proc.send('split 1 4');
  config.send('{}{"appl.name":null}');
  const answer = await config.nextJson();
  assert.deepEqual(answer.value, { 'appl.name': 'V84.20.23Z' });
  assert.equal(answer.parts, 4);

  main.send('{"open":"v1.config.zebra.com"}');
  const again = await channel(first, 'config', 1);
  again.send('{}{"allconfig":null}');
  const all = await again.nextJson();
  assert.equal(all.parts, Math.ceil(Buffer.byteLength(all.text) / 500));
  assert.ok(all.parts > 1);
  assert.equal((all.value['allconfig'] as Record<string, { value: string }>)['device.unique_id']?.value, SERIAL);
  await proc.kill();
});

test('reconnects after a lost main, and a power cycle loses unprinted data, cuts every connection and comes back reset', async () => {
  const { proc, record, first } = startPrinter();
  const main = await mainOf(first);
  main.send('{"open":"v1.raw.zebra.com"}');
  await channel(first, 'raw');
  main.ws.terminate();
  await proc.waitForEvent({ event: 'reconnect', inMs: 200 });
  const main2 = await mainOf(first, 1);
  assert.ok(main2.first!['discovery_b64'], 'discovery again on the new main');
  assert.equal(await (await channel(first, 'raw')).closedWith(), 1001, 'the raw channel went down with main');

  main2.send('{"open":"v1.raw.zebra.com"}');
  const raw = await channel(first, 'raw', 1);
  proc.send('paper out');
  await proc.waitForEvent({ event: 'condition', name: 'paper-out' });
  raw.send('^XA^FDlost^FS^XZ');
  await proc.waitForEvent({ event: 'received', bytes: 16 });
  proc.send('power-cycle 300');
  const off = await proc.waitForEvent({ event: 'power-off' });
  assert.equal(off['lost'], 16);
  await main2.closedWith();
  await raw.closedWith();
  const main3 = await mainOf(first, 2);
  await proc.waitForEvent('power-on');
  main3.send('{"open":"v1.raw.zebra.com"}');
  const raw2 = await channel(first, 'raw', 2);
  raw2.send('~HS');
  const hs = hostStatus(await raw2.bytesUntil((s) => s.split(ETX).length > 3));
  assert.deepEqual(hs, { formats: 0, labels: 0, paperOut: false, headOpen: false }, 'paper out cleared, nothing buffered');
  raw2.send('^XA^FDafter^FS^XZ');
  await proc.waitForEvent({ event: 'format-printed', formats: 1 });
  assert.equal(readFileSync(record, 'utf8'), '^XA^FDafter^FS^XZ', 'what was lost was never printed');
  await proc.kill();
});

test('a 101 without the echoed subprotocol, or without Content-Length: 0, fails the connection; so does a wrong password; each is retried', async () => {
  const noEcho = new ScriptedServer(tls, { echo: false });
  const noLength = new ScriptedServer(tls, { contentLength: false });
  await noEcho.listen();
  await noLength.listen();
  try {
    const a = startPrinter([], noEcho);
    const b = startPrinter([], noLength);
    const c = startPrinter([], server, 'wrong');
    const failed = await a.proc.waitForEvent({ event: 'connect-failed', channel: 'main' });
    assert.deepEqual(failed['flags'], { SP: 1, CU: 1, UW: 1, AC: 1, PC: 0 });
    assert.match(String(failed['message']), /^Failed to connect \(SP = 1, CU = 1, UW = 1, AC = 1, PC = 0\)$/);
    await a.proc.waitForEvent('reconnect');
    assert.match(String((await b.proc.waitForEvent('connect-failed'))['message']), /Content-Length: 0/);
    const refused = await c.proc.waitForEvent('connect-failed');
    assert.equal(refused['status'], 401);
    await c.proc.waitForEvent('reconnect');
    await Promise.all([a.proc.kill(), b.proc.kill(), c.proc.kill()]);
  } finally {
    await noEcho.close();
    await noLength.close();
  }
});

test('three missed pongs drop the connection and the printer dials again', async () => {
  const deaf = new ScriptedServer(tls, { autoPong: false });
  await deaf.listen();
  try {
    const { proc, first } = startPrinter(['--ping-interval', '0.05'], deaf);
    await proc.waitForEvent({ event: 'pong-timeout', channel: 'main', missed: 3 });
    await proc.waitForEvent('reconnect');
    const deadline = Date.now() + 5000;
    while (deaf.conns.slice(first).filter((c) => c.kind === 'main').length < 2) {
      assert.ok(Date.now() < deadline, 'a second main connection');
      await new Promise((r) => setTimeout(r, 20));
    }
    await proc.kill();
  } finally {
    await deaf.close();
  }
});

test('maximum_simultaneous_connections counts main; new-main keeps the old one; drop raw cuts only raw; text frames are refused; stall stops reading', async () => {
  const { proc, first } = startPrinter(['--max-connections', '3']);
  const main = await mainOf(first);
  main.send('{"configure_alert":"PQ JOB COMPLETED,SDK,Y,N,,,N,"}');
  main.send('{"open":"v1.raw.zebra.com"}');
  const raw = await channel(first, 'raw');
  proc.send('new-main');
  const main2 = await mainOf(first, 1);
  assert.equal(main.closed, undefined, 'the old main stays open');
  main2.send('{"open":"v1.config.zebra.com"}');
  await proc.waitForEvent({ event: 'open-refused', channel: 'config', cap: 3 });

  // Alerts go to the newest main; the subscription made on the old one holds.
  raw.send('^XA^FDone^FS^XZ');
  const done = (await main2.nextJson()).value['alert'] as Record<string, unknown>;
  assert.equal(done['condition_id'], 'PQ JOB COMPLETED');

  main.ws.send('{"open":"v1.raw.zebra.com"}');
  await proc.waitForEvent({ event: 'text-frame', channel: 'main' });

  proc.send('stall');
  await proc.waitForEvent('stalled');
  raw.send('^XA^FDlater^FS^XZ');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(proc.events().filter((e) => e['event'] === 'received').at(-1)?.['bytes'], 15, 'nothing read while stalled');
  proc.send('resume');
  await proc.waitForEvent({ event: 'received', bytes: 32 });

  proc.send('drop raw');
  assert.equal(await raw.closedWith(), 1006);
  await proc.waitForEvent({ event: 'closed', channel: 'raw' });
  assert.equal(main2.closed, undefined, 'main survives a dropped raw channel');
  main2.send('{"open":"v1.raw.zebra.com"}');
  await channel(first, 'raw', 1);
  proc.send('bogus');
  await proc.waitForEvent({ event: 'error', message: 'unknown command "bogus"' });
  await proc.kill();
});

test('bad command lines are usage errors (exit 2) with a clear message', async () => {
  const [http, noSerial] = await Promise.all([
    procs.run(['emulate', '--weblink', 'http://localhost:1/weblink', '--serial', SERIAL, '--password', PASSWORD]),
    procs.run(['emulate', '--weblink', 'https://localhost:1/weblink', '--password', PASSWORD]),
  ]);
  assert.equal(http.code, 2);
  assert.match(http.stderr, /--weblink must be an https:\/\/ URL/);
  assert.equal(noSerial.code, 2);
  assert.match(noSerial.stderr, /--serial is required/);
});

test('mutual TLS: without a client certificate the handshake fails; with --cert/--key the printer is known by it', async () => {
  // A client certificate for the printer, signed by the test CA (what WEBLINK1_CERT/KEY.NRD hold).
  const key = join(dir, 'printer.key');
  const csr = join(dir, 'printer.csr');
  const cert = join(dir, 'printer.pem');
  const ext = join(dir, 'printer-ext.cnf');
  writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const openssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', `/CN=${SERIAL}`, '-keyout', key, '-out', csr]);
  openssl(['x509', '-req', '-in', csr, '-CA', pki.caCert, '-CAkey', join(dir, 'ca.key'), '-set_serial', '21', '-days', '2', '-sha256', '-extfile', ext, '-out', cert]);
  const strict = new ScriptedServer(tls, { clientCa: pki.caCert });
  await strict.listen();
  try {
    const without = startPrinter([], strict);
    const withCert = startPrinter(['--cert', cert, '--key', key], strict);
    await without.proc.waitForEvent({ event: 'connect-failed', channel: 'main' });
    const deadline = Date.now() + 8000;
    while (!strict.conns.some((c) => c.kind === 'main')) {
      assert.ok(Date.now() < deadline, 'a main connection with the client certificate');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(strict.conns.find((c) => c.kind === 'main')!.clientCn, SERIAL);
    await Promise.all([without.proc.kill(), withCert.proc.kill()]);
  } finally {
    await strict.close();
  }
});
