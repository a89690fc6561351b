// The server's own WebSocket end for devices (server/transports/ws-server-socket.ts),
// driven byte by byte over raw TCP: what it must accept (fragments, frames
// cut anywhere, several in one read, pings, the closing handshake, a
// subprotocol) and what it must refuse with the close code RFC 6455 gives
// (1002, 1007, 1009), as `ws` does. The raw client is the firmware's own
// codec (device/hosts/moddable/ws-codec.ts), so each side is checked
// against code written from the RFC apart from it.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encodeFrame, FrameReader, HeadReader, upgradeRequest, type WsEvent } from '../../device/hosts/moddable/ws-codec.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, registerDevice } from './peers.js';

const MASK = new Uint8Array([0x12, 0x34, 0x56, 0x78]);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const helloText = (id: string): string =>
  JSON.stringify({ t: 'hello', v: PROTOCOL_VERSION, id, fw: 'raw', caps: [], window: 1024, maxChunk: 256, ports: [{ port: 0, dialect: 'escpos' }] });

/** A device on a bare TCP socket: every byte it sends is chosen by the test. */
class RawDevice {
  private readonly events: WsEvent[] = [];
  private readonly reader = new FrameReader(1 << 20);
  private waiters: (() => void)[] = [];
  ended = false;
  status: number | undefined;

  private constructor(readonly socket: Socket) {}

  static async open(t: TestServer, id: string, token: string, headers: [string, string][] = []): Promise<{ dev: RawDevice; head: string }> {
    const socket = connect(t.server.port, '127.0.0.1');
    await once(socket, 'connect');
    const dev = new RawDevice(socket);
    const path = `/v1/device?id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}`;
    socket.write(upgradeRequest('127.0.0.1', t.server.port, path, 'dGhlIHNhbXBsZSBub25jZQ==', headers));
    const headReader = new HeadReader();
    let headText = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        headText += chunk.toString('latin1');
        const r = headReader.push(chunk);
        if (!r.done) return;
        socket.off('data', onData);
        if (!r.ok) return reject(new Error(`upgrade failed: ${r.reason}`));
        socket.on('data', (c: Buffer) => dev.push(c));
        dev.push(Buffer.from(r.rest));
        resolve();
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
    socket.on('end', () => {
      dev.ended = true;
      dev.wake();
    });
    socket.on('error', () => undefined);
    return { dev, head: headText.slice(0, headText.indexOf('\r\n\r\n')) };
  }

  private push(chunk: Uint8Array): void {
    this.reader.push(chunk, this.events);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(opcode: number, payload: Uint8Array, fin = true, rsv = 0): void {
    const frame = encodeFrame(opcode, payload, MASK);
    if (!fin) frame[0] = (frame[0] as number) & 0x7f;
    frame[0] = (frame[0] as number) | rsv;
    this.socket.write(frame);
  }

  sendText(text: string): void {
    this.send(1, utf8(text));
  }

  /** The next event that `match` accepts (earlier ones are dropped); undefined if the server ended the connection first. */
  async next(match: (e: WsEvent) => boolean, what: string): Promise<WsEvent | undefined> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = this.events.findIndex(match);
      if (i >= 0) return this.events.splice(0, i + 1)[i];
      if (this.ended) return undefined;
      if (Date.now() > deadline) throw new Error(`no ${what}; got ${JSON.stringify(this.events.map((e) => e.kind))}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  async message(what: string): Promise<Record<string, unknown>> {
    const e = await this.next((x) => x.kind === 'message', what);
    assert.ok(e?.kind === 'message', `${what}: connection ended`);
    return JSON.parse(new TextDecoder().decode(e.data)) as Record<string, unknown>;
  }

  /** The server's close frame's code, and that it then ended the TCP connection. */
  async closedWith(): Promise<number | undefined> {
    const e = await this.next((x) => x.kind === 'close', 'close frame');
    assert.ok(e?.kind === 'close', 'a close frame before the end');
    await this.next(() => false, 'end').catch(() => undefined);
    assert.ok(this.ended, 'the server ended the connection after its close frame');
    return e.code;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

describe('the device WebSocket, byte by byte', () => {
  let t: TestServer;
  const tokens = new Map<string, string>();
  let seq = 0;
  const fresh = (): [string, string] => {
    const id = `raw-${++seq}`;
    const token = registerDevice(t, id);
    tokens.set(id, token);
    return [id, token];
  };
  let healthy: FakeDevice;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxDeviceFrame: 2048 } });
    healthy = await FakeDevice.connect(t, 'healthy', registerDevice(t, 'healthy'));
  });
  after(() => t.close());

  /** Every refusal leaves the others served. */
  async function stillServed(): Promise<void> {
    healthy.sendJson({ t: 'ping' });
    assert.deepEqual(await healthy.json((m) => m['t'] === 'pong', 'pong'), { t: 'pong' });
  }

  it('answers the handshake with the accept key of RFC 6455 §1.3', async () => {
    const [id, token] = fresh();
    const { dev, head } = await RawDevice.open(t, id, token);
    assert.match(head, /^HTTP\/1\.1 101 /);
    // The RFC's own example: key dGhlIHNhbXBsZSBub25jZQ== gives this value.
    assert.match(head, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=(\r\n|$)/i);
    assert.doesNotMatch(head, /Sec-WebSocket-Protocol/i);
    dev.destroy();
  });

  it('takes the first subprotocol a client asks for, as ws does', async () => {
    const [id, token] = fresh();
    const { dev, head } = await RawDevice.open(t, id, token, [['Sec-WebSocket-Protocol', 'printbridge.v1, other']]);
    assert.match(head, /\r\nSec-WebSocket-Protocol: printbridge\.v1(\r\n|$)/i);
    dev.destroy();
  });

  it('refuses a handshake of another WebSocket version with 400', async () => {
    const [id, token] = fresh();
    const socket = connect(t.server.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(upgradeRequest('127.0.0.1', t.server.port, `/v1/device?id=${id}&token=${token}`, 'dGhlIHNhbXBsZSBub25jZQ==', []).replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 7'));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    await once(socket, 'close');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /Sec-WebSocket-Version/);
  });

  it('reads frames cut into single bytes, several frames in one write, and a fragmented message', async () => {
    const [id, token] = fresh();
    const { dev } = await RawDevice.open(t, id, token);
    // The hello in three fragments, each written one byte at a time.
    const text = utf8(helloText(id));
    const cuts = [0, 10, 40, text.length];
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) {
      const f = encodeFrame(i === 0 ? 1 : 0, text.subarray(cuts[i], cuts[i + 1]), MASK);
      if (i < 2) f[0] = (f[0] as number) & 0x7f;
      frames.push(f);
    }
    // A ping between fragments is answered, and does not break the message.
    frames.splice(2, 0, encodeFrame(9, utf8('between'), MASK));
    for (const f of frames) for (const byte of f) dev.socket.write(Uint8Array.of(byte));
    // The ping is answered when it is read, before the message it interrupts is whole.
    const pong = await dev.next((e) => e.kind !== 'ping', 'pong');
    assert.equal(pong?.kind, 'pong');
    assert.equal((await dev.message('welcome'))['t'], 'welcome');
    // Two pings and a message in one write: all three answered.
    dev.socket.write(Buffer.concat([encodeFrame(1, utf8('{"t":"ping"}'), MASK), encodeFrame(1, utf8('{"t":"ping"}'), MASK)]));
    assert.equal((await dev.message('pong 1'))['t'], 'pong');
    assert.equal((await dev.message('pong 2'))['t'], 'pong');
    dev.destroy();
  });

  it('answers a ping with a pong that carries the same payload', async () => {
    const [id, token] = fresh();
    const { dev } = await RawDevice.open(t, id, token);
    dev.sendText(helloText(id));
    await dev.message('welcome');
    // FrameReader reports pongs without payload; the payload is checked on the raw bytes.
    const raw: Buffer[] = [];
    dev.socket.on('data', (c: Buffer) => raw.push(c));
    dev.send(9, utf8('abc✓'));
    await dev.next((e) => e.kind === 'pong', 'pong');
    const all = Buffer.concat(raw);
    const payload = Buffer.from(utf8('abc✓'));
    assert.ok(all.includes(Buffer.concat([Buffer.of(0x8a, payload.length), payload])), 'pong frame echoes the ping payload');
    dev.destroy();
  });

  it('echoes the peer\'s close code and ends the connection', async () => {
    const [id, token] = fresh();
    const { dev } = await RawDevice.open(t, id, token);
    dev.sendText(helloText(id));
    await dev.message('welcome');
    dev.send(8, Uint8Array.of(0x0f, 0xa0, ...utf8('bye'))); // 4000
    assert.equal(await dev.closedWith(), 4000);
    await stillServed();
  });

  const faults: [string, (dev: RawDevice) => void, number][] = [
    ['an unmasked frame', (dev) => dev.socket.write(Buffer.from([0x81, 0x02, 0x7b, 0x7d])), 1002],
    ['reserved bits', (dev) => dev.send(1, utf8('{}'), true, 0x40), 1002],
    ['an unknown opcode', (dev) => dev.send(3, utf8('x')), 1002],
    ['a fragmented ping', (dev) => dev.send(9, utf8('x'), false), 1002],
    ['a ping over 125 bytes', (dev) => dev.send(9, new Uint8Array(126)), 1002],
    ['a continuation with nothing to continue', (dev) => dev.send(0, utf8('x')), 1002],
    ['a new message inside a fragmented one', (dev) => {
      dev.send(1, utf8('{"t":'), false);
      dev.send(1, utf8('"ping"}'));
    }, 1002],
    ['text that is not UTF-8', (dev) => dev.send(1, Uint8Array.of(0x7b, 0xc3, 0x28, 0x7d)), 1007],
    ['a close frame of one byte', (dev) => dev.send(8, Uint8Array.of(3)), 1002],
    ['a close code the RFC reserves (1005)', (dev) => dev.send(8, Uint8Array.of(0x03, 0xed)), 1002],
    ['a close reason that is not UTF-8', (dev) => dev.send(8, Uint8Array.of(0x03, 0xe8, 0xff)), 1007],
    ['a message over maxDeviceFrame in fragments', (dev) => {
      dev.send(1, new Uint8Array(1500).fill(0x20), false);
      dev.send(0, new Uint8Array(1500).fill(0x20));
    }, 1009],
    ['a length over 2^32', (dev) => dev.socket.write(Buffer.from([0x81, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4])), 1009],
  ];
  for (const [what, act, code] of faults) {
    it(`closes ${code} on ${what}, and serves the others`, async () => {
      const [id, token] = fresh();
      const { dev } = await RawDevice.open(t, id, token);
      dev.sendText(helloText(id));
      await dev.message('welcome');
      act(dev);
      assert.equal(await dev.closedWith(), code);
      await stillServed();
    });
  }

  it('a device that vanishes without a close frame is offline, and may come back', async () => {
    const [id, token] = fresh();
    const { dev } = await RawDevice.open(t, id, token);
    dev.sendText(helloText(id));
    await dev.message('welcome');
    dev.destroy();
    const again = await RawDevice.open(t, id, token);
    again.dev.sendText(helloText(id));
    assert.equal((await again.dev.message('welcome again'))['t'], 'welcome');
    again.dev.destroy();
  });
});
