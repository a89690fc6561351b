// The firmware's WebSocket wire format (device/hosts/moddable/ws-codec.ts)
// against the real `ws` server over a real socket: the upgrade, masked
// frames in every size class, pings answered with masked pongs, close codes,
// and server frames read in pieces cut at random boundaries, down to one
// byte. The same code runs on the SDK runtime in the other firmware tests.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  base64, closePayload, encodeFrame, FrameReader, HeadReader, MAX_HEAD, OPCODE, upgradeRequest, WS_CLOSE, type WsEvent,
} from '../../device/hosts/moddable/ws-codec.js';
import { seeded } from '../helpers/random.js';

const mask = (): Uint8Array => new Uint8Array(randomBytes(4));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Peer {
  readonly socket: Socket;
  readonly events: WsEvent[];
  readonly server: WebSocket;
  /** Feeds what arrives to the reader in pieces of 1..maxPiece bytes. */
  readonly reader: FrameReader;
}

describe('ws-codec against the real ws server', () => {
  let wss: WebSocketServer;
  let port = 0;
  const serverSockets: WebSocket[] = [];
  const serverGot: { data: Buffer; binary: boolean }[] = [];
  const closes: { code: number; reason: string }[] = [];
  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1 << 20 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    port = (wss.address() as { port: number }).port;
    wss.on('connection', (ws) => {
      serverSockets.push(ws);
      ws.on('message', (data: Buffer, binary) => serverGot.push({ data, binary }));
      ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
    });
  });
  after(() => new Promise<void>((r) => { for (const s of serverSockets) s.terminate(); wss.close(() => r()); }));

  async function open(seed: number, maxPiece: number, maxMessage = 1 << 20): Promise<Peer> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const head = new HeadReader();
    const reader = new FrameReader(maxMessage);
    const events: WsEvent[] = [];
    const rand = seeded(seed);
    let upgraded = false;
    const opened = new Promise<void>((resolve, reject) => {
      const feed = (bytes: Uint8Array): void => {
        // Cut what the socket gave us at random points, as a board's reads would.
        let at = 0;
        while (at < bytes.length) {
          const n = 1 + Math.floor(rand() * maxPiece);
          const piece = bytes.subarray(at, at + n);
          at += piece.length;
          if (!upgraded) {
            const r = head.push(piece);
            if (!r.done) continue;
            if (!r.ok) return reject(new Error(r.reason));
            upgraded = true;
            resolve();
            if (r.rest.length > 0) reader.push(r.rest, events);
          } else {
            reader.push(piece, events);
          }
        }
      };
      socket.on('data', (d: Buffer) => feed(new Uint8Array(d)));
    });
    const connected = new Promise<WebSocket>((r) => wss.once('connection', (ws) => r(ws)));
    socket.write(upgradeRequest('127.0.0.1', port, '/v1/device?id=x', base64(new Uint8Array(randomBytes(16))), [['Authorization', 'Bearer t']]));
    await opened;
    return { socket, events, reader, server: await connected };
  }

  async function waitEvents(p: Peer, n: number): Promise<void> {
    for (let i = 0; i < 400 && p.events.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(p.events.length >= n, `expected ${n} events, got ${p.events.length}`);
  }

  test('base64 matches Node for every length class', () => {
    for (let n = 0; n < 40; n++) {
      const b = new Uint8Array(randomBytes(n));
      assert.equal(base64(b), Buffer.from(b).toString('base64'));
    }
  });

  test('masked client frames of every size class reach ws intact (text and binary)', async () => {
    const p = await open(1, 7);
    const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000];
    const before = serverGot.length;
    for (const n of sizes) p.socket.write(encodeFrame(OPCODE.binary, new Uint8Array(randomBytes(n)), mask()));
    p.socket.write(encodeFrame(OPCODE.text, utf8('héllo ✓'), mask()));
    for (let i = 0; i < 400 && serverGot.length < before + sizes.length + 1; i++) await new Promise((r) => setTimeout(r, 10));
    const got = serverGot.slice(before);
    assert.deepEqual(got.map((g) => g.data.length), [...sizes, utf8('héllo ✓').length]);
    assert.equal(got.at(-1)?.binary, false);
    assert.equal(got.at(-1)?.data.toString(), 'héllo ✓');
    p.socket.destroy();
  });

  test('server frames cut into random pieces, down to one byte, come out whole and in order', async () => {
    for (const [seed, piece] of [[2, 1], [3, 3], [4, 100], [5, 5000]] as const) {
      const p = await open(seed, piece);
      const sent: Buffer[] = [];
      for (const n of [0, 5, 125, 126, 1000, 65_536, 100_000]) {
        const b = randomBytes(n);
        sent.push(b);
        p.server.send(b, { binary: true });
      }
      p.server.send('text after binary');
      await waitEvents(p, sent.length + 1);
      const messages = p.events.filter((e): e is Extract<WsEvent, { kind: 'message' }> => e.kind === 'message');
      assert.deepEqual(messages.slice(0, sent.length).map((m) => Buffer.from(m.data).toString('hex')), sent.map((b) => b.toString('hex')));
      assert.equal(messages.at(-1)?.binary, false);
      assert.equal(text(messages.at(-1)?.data ?? new Uint8Array()), 'text after binary');
      p.socket.destroy();
    }
  });

  test('a ping between fragments is reported, and the masked pong is accepted by ws', async () => {
    const p = await open(6, 2);
    const pongs: Buffer[] = [];
    p.server.on('pong', (d) => pongs.push(d));
    // A fragmented message with a ping in its middle (RFC 6455 allows control frames there).
    const raw = (p.server as unknown as { _socket: Socket })._socket;
    raw.write(Buffer.from([0x01, 0x03, 0x61, 0x62, 0x63]));
    raw.write(Buffer.from([0x89, 0x02, 0x68, 0x69]));
    raw.write(Buffer.from([0x80, 0x02, 0x64, 0x65]));
    await waitEvents(p, 2);
    assert.deepEqual(p.events.map((e) => e.kind), ['ping', 'message']);
    const ping = p.events[0];
    assert.ok(ping?.kind === 'ping');
    assert.equal(text((p.events[1] as { data: Uint8Array }).data), 'abcde');
    p.socket.write(encodeFrame(OPCODE.pong, ping.data, mask()));
    p.server.ping(Buffer.from('keepalive'));
    await waitEvents(p, 3);
    const second = p.events[2];
    assert.ok(second?.kind === 'ping');
    p.socket.write(encodeFrame(OPCODE.pong, second.data, mask()));
    for (let i = 0; i < 200 && pongs.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(pongs.map((b) => b.toString()), ['hi', 'keepalive'], 'ws took both pongs and kept the link');
    assert.equal(p.server.readyState, p.server.OPEN);
    p.socket.destroy();
  });

  test('close codes travel both ways', async () => {
    const p = await open(7, 4);
    p.server.close(4006, 'credentials were revoked');
    await waitEvents(p, 1);
    const c = p.events[0];
    assert.ok(c?.kind === 'close');
    assert.equal(c.code, 4006);
    assert.equal(text(c.reason), 'credentials were revoked');
    const q = await open(8, 4);
    const before = closes.length;
    q.socket.write(encodeFrame(OPCODE.close, closePayload(4004, utf8('heartbeat')), mask()));
    for (let i = 0; i < 200 && closes.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(closes.at(-1), { code: 4004, reason: 'heartbeat' });
    p.socket.destroy();
    q.socket.destroy();
  });

  test('a message over the bound ends the link with 1009 before it is buffered', async () => {
    const p = await open(9, 50, 1_000);
    p.server.send(randomBytes(999));
    p.server.send(randomBytes(1_001));
    await waitEvents(p, 2);
    assert.equal(p.events[0]?.kind, 'message');
    assert.deepEqual(p.events[1], { kind: 'fault', code: WS_CLOSE.tooBig, reason: 'message over 1000 bytes' });
    p.socket.destroy();
  });
});

describe('ws-codec: what a server must not send', () => {
  const run = (bytes: number[], max = 1_000): WsEvent[] => {
    const out: WsEvent[] = [];
    new FrameReader(max).push(Uint8Array.from(bytes), out);
    return out;
  };
  const fault = (events: WsEvent[]): string => {
    const e = events.at(-1);
    return e?.kind === 'fault' ? `${e.code} ${e.reason}` : 'no fault';
  };

  test('masked, reserved bits, unknown opcodes, bad control frames, stray continuations', () => {
    assert.match(fault(run([0x81, 0x81, 1, 2, 3, 4, 0x61])), /^1002 masked/);
    assert.match(fault(run([0xc1, 0x00])), /^1002 reserved/);
    assert.match(fault(run([0x83, 0x00])), /^1002 unknown opcode 3/);
    assert.match(fault(run([0x09, 0x00])), /^1002 bad control/);
    assert.match(fault(run([0x89, 126, 0, 126])), /^1002 bad control/);
    assert.match(fault(run([0x80, 0x00])), /^1002 continuation/);
    assert.match(fault(run([0x01, 0x01, 0x61, 0x81, 0x00])), /^1002 new message/);
    assert.match(fault(run([0x88, 0x01, 0x03])), /^1002 close frame of one byte/);
    assert.match(fault(run([0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0])), /^1009 frame too large/);
  });

  test('nothing more is read after a fault', () => {
    const events = run([0x81, 0x81, 1, 2, 3, 4, 0x61, 0x81, 0x01, 0x62]);
    assert.equal(events.length, 1);
  });

  test('a refused upgrade reports its status; an endless head is cut at the bound', () => {
    const refuse = new HeadReader().push(utf8('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
    assert.deepEqual(refuse, { done: true, ok: false, status: 401, reason: 'upgrade refused: HTTP 401' });
    const h = new HeadReader();
    const line = utf8(`X-Filler: ${'a'.repeat(100)}\r\n`);
    let r = h.push(utf8('HTTP/1.1 101 Switching Protocols\r\n'));
    for (let i = 0; i < 100 && !r.done; i++) r = h.push(line);
    assert.ok(r.done && !r.ok && /over 4096/.test(r.reason), JSON.stringify(r));
    assert.equal(MAX_HEAD, 4096);
    const partial = new HeadReader().push(utf8('HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n'));
    assert.ok(partial.done && !partial.ok && partial.reason === 'incomplete upgrade response');
  });
});
