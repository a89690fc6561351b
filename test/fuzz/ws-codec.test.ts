// Properties of the firmware's WebSocket codec (device/hosts/moddable/ws-codec.ts)
// on hostile bytes from a server: the readers never throw, cut the input
// anywhere and they report the same events, a fault is final, every size
// the peer controls stays within its bound, and what a server writes (frames
// of every size class, fragmented, with control frames between) reads back
// as written. The client side's masked frames unmask to what was sent.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  base64, closePayload, encodeFrame, FrameReader, HeadReader, MAX_HEAD, OPCODE, WS_CLOSE, type HeadResult, type WsEvent,
} from '../../device/hosts/moddable/ws-codec.js';
import { fuzzRuns, fuzzSeed } from './arbitraries.js';

const MAX_MESSAGE = 300;

/** Splits `bytes` at the given cut points (taken modulo its length). */
function pieces(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of at) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Events as plain data, so that views into different buffers compare by content. */
function plain(events: readonly WsEvent[]): unknown[] {
  return events.map((e) => {
    switch (e.kind) {
      case 'message':
        return { kind: e.kind, binary: e.binary, data: [...e.data] };
      case 'ping':
        return { kind: e.kind, data: [...e.data] };
      case 'close':
        return { kind: e.kind, code: e.code, reason: [...e.reason] };
      default:
        return e;
    }
  });
}

function read(chunks: readonly Uint8Array[], max = MAX_MESSAGE): WsEvent[] {
  const reader = new FrameReader(max);
  const events: WsEvent[] = [];
  for (const c of chunks) reader.push(c, events);
  return events;
}

/** A server frame: never masked, the length in its shortest form. */
function serverFrame(fin: boolean, opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? [n] : n < 65536 ? [126, n >> 8, n & 255] : [127, 0, 0, 0, 0, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return Uint8Array.from([(fin ? 0x80 : 0) | opcode, ...head, ...payload]);
}

/** Bytes that often look like frame headers, so that the fuzz gets past the first two bytes. */
const frameish = fc.array(
  fc.oneof(
    fc.uint8Array({ maxLength: 12 }),
    fc.tuple(fc.constantFrom(0x81, 0x82, 0x01, 0x00, 0x80, 0x88, 0x89, 0x8a, 0x8b, 0x09, 0xc1), fc.oneof(fc.nat({ max: 127 }), fc.constantFrom(126, 127)), fc.uint8Array({ maxLength: 10 }))
      .map(([b0, b1, rest]) => Uint8Array.from([b0, b1, ...rest])),
  ),
  { maxLength: 12 },
).map((parts) => Uint8Array.from(parts.flatMap((p) => [...p])));

type Sent = { kind: 'message'; binary: boolean; data: Uint8Array; split: number[] } | { kind: 'ping'; data: Uint8Array } | { kind: 'pong'; data: Uint8Array };

const sent: fc.Arbitrary<Sent> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('message' as const), binary: fc.boolean(), data: fc.uint8Array({ maxLength: MAX_MESSAGE }), split: fc.array(fc.nat(), { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ping' as const), data: fc.uint8Array({ maxLength: 125 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pong' as const), data: fc.uint8Array({ maxLength: 125 }) }) },
);

/** What a server writes for `items` (a message fragmented at its split points, a ping between fragments), and what a reader must report. */
function written(items: readonly Sent[], interleave: Uint8Array): { bytes: Uint8Array; expect: unknown[] } {
  const out: number[] = [];
  const expect: unknown[] = [];
  for (const item of items) {
    if (item.kind !== 'message') {
      out.push(...serverFrame(true, item.kind === 'ping' ? OPCODE.ping : OPCODE.pong, item.data));
      expect.push(item.kind === 'ping' ? { kind: 'ping', data: [...item.data] } : { kind: 'pong' });
      continue;
    }
    const parts = pieces(item.data, item.split);
    parts.forEach((part, i) => {
      const first = i === 0;
      out.push(...serverFrame(i === parts.length - 1, first ? (item.binary ? OPCODE.binary : OPCODE.text) : OPCODE.continuation, part));
      // A control frame may come between the fragments of a message.
      if (i < parts.length - 1) {
        out.push(...serverFrame(true, OPCODE.ping, interleave));
        expect.push({ kind: 'ping', data: [...interleave] });
      }
    });
    expect.push({ kind: 'message', binary: item.binary, data: [...item.data] });
  }
  return { bytes: Uint8Array.from(out), expect };
}

describe('firmware WebSocket codec under fuzz', () => {
  test('FrameReader never throws on any bytes, reports the same events however they are cut, and stays within its bounds', () => {
    fc.assert(fc.property(fc.oneof(frameish, fc.uint8Array({ maxLength: 200 })), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
      const whole = read([bytes]);
      const cut = read(pieces(bytes, cuts));
      const oneByOne = read([...bytes].map((b) => Uint8Array.of(b)));
      assert.deepEqual(plain(cut), plain(whole));
      assert.deepEqual(plain(oneByOne), plain(whole));
      const faults = whole.filter((e) => e.kind === 'fault');
      assert.ok(faults.length <= 1, 'more than one fault');
      if (faults.length === 1) assert.equal(whole.at(-1)?.kind, 'fault', 'events after a fault');
      for (const e of whole) {
        if (e.kind === 'message') assert.ok(e.data.length <= MAX_MESSAGE, `message of ${e.data.length}`);
        if (e.kind === 'ping' || e.kind === 'close') assert.ok((e.kind === 'ping' ? e.data : e.reason).length <= 125);
        if (e.kind === 'fault') assert.ok(e.code === WS_CLOSE.protocol || e.code === WS_CLOSE.tooBig, `fault code ${e.code}`);
      }
    }), { seed: fuzzSeed(0x5c1), numRuns: fuzzRuns(3000) });
  });

  test('after a fault the reader takes nothing more', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (more, tail) => {
      // A masked frame from a server is a protocol fault at its second byte.
      const reader = new FrameReader(MAX_MESSAGE);
      const events: WsEvent[] = [];
      reader.push(Uint8Array.of(0x81, 0x80 | tail.length, ...more), events);
      assert.deepEqual(events.map((e) => e.kind), ['fault']);
      reader.push(tail, events);
      reader.push(serverFrame(true, OPCODE.text, tail), events);
      assert.equal(events.length, 1);
    }), { seed: fuzzSeed(0x5c2), numRuns: fuzzRuns(300) });
  });

  test('what a server writes, fragmented and with pings between fragments, reads back as written in any pieces', () => {
    fc.assert(fc.property(fc.array(sent, { maxLength: 6 }), fc.uint8Array({ maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (items, ping, cuts) => {
      const { bytes, expect } = written(items, ping);
      assert.deepEqual(plain(read(pieces(bytes, cuts))), expect);
    }), { seed: fuzzSeed(0x5c3), numRuns: fuzzRuns(1000) });
  });

  test('a message one byte over the bound is a 1009 fault, whatever its fragments', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 200 }), fc.array(fc.nat(), { maxLength: 3 }), (max, split) => {
      const { bytes } = written([{ kind: 'message', binary: true, data: new Uint8Array(max + 1), split }], new Uint8Array(0));
      const events = read([bytes], max);
      assert.equal(events.at(-1)?.kind, 'fault');
      assert.equal((events.at(-1) as Extract<WsEvent, { kind: 'fault' }>).code, WS_CLOSE.tooBig);
      assert.equal(events.filter((e) => e.kind === 'message').length, 0);
    }), { seed: fuzzSeed(0x5c4), numRuns: fuzzRuns(300) });
  });

  test('a length field of 2^32 or more is refused without allocating it', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 0xffffffff }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (high, low) => {
      const head = Uint8Array.of(0x82, 127, (high >>> 24) & 255, (high >>> 16) & 255, (high >>> 8) & 255, high & 255, ...low);
      const events = read([head], 1 << 30);
      assert.deepEqual(plain(events), [{ kind: 'fault', code: WS_CLOSE.tooBig, reason: 'frame too large' }]);
    }), { seed: fuzzSeed(0x5c5), numRuns: fuzzRuns(300) });
  });

  test('a client frame unmasks to its opcode and payload', () => {
    fc.assert(fc.property(fc.constantFrom(...Object.values(OPCODE)), fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 65530, maxLength: 65540 })), fc.uint8Array({ minLength: 4, maxLength: 4 }), (opcode, payload, mask) => {
      const f = encodeFrame(opcode, payload, mask);
      assert.equal(f[0], 0x80 | opcode);
      const b1 = f[1] ?? 0;
      assert.ok((b1 & 0x80) !== 0, 'client frames are masked');
      const short = b1 & 0x7f;
      let at = 2;
      let n = short;
      if (short === 126) {
        n = ((f[2] ?? 0) << 8) | (f[3] ?? 0);
        at = 4;
      } else if (short === 127) {
        n = Number(Buffer.from(f.subarray(2, 10)).readBigUInt64BE());
        at = 10;
      }
      assert.equal(n, payload.length);
      assert.ok(short < 126 ? n < 126 : short === 126 ? n >= 126 && n < 65536 : n >= 65536, 'the shortest length form');
      const m = f.subarray(at, at + 4);
      const body = f.subarray(at + 4).map((b, i) => b ^ (m[i & 3] ?? 0));
      assert.deepEqual(Buffer.from(body), Buffer.from(payload));
    }), { seed: fuzzSeed(0x5c6), numRuns: fuzzRuns(200) });
  });

  test('closePayload keeps the code and fits a control frame', () => {
    fc.assert(fc.property(fc.integer({ min: 1000, max: 4999 }), fc.uint8Array({ maxLength: 300 }), (code, reason) => {
      const p = closePayload(code, reason);
      assert.ok(p.length <= 125);
      assert.equal(((p[0] ?? 0) << 8) | (p[1] ?? 0), code);
      assert.deepEqual([...p.subarray(2)], [...reason.subarray(0, 123)]);
      const events = read([serverFrame(true, OPCODE.close, p)]);
      assert.deepEqual(plain(events), [{ kind: 'close', code, reason: [...reason.subarray(0, 123)] }]);
    }), { seed: fuzzSeed(0x5c7), numRuns: fuzzRuns(300) });
  });

  test('base64 agrees with Node', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      assert.equal(base64(b), Buffer.from(b).toString('base64'));
    }), { seed: fuzzSeed(0x5c8), numRuns: fuzzRuns(500) });
  });

  test('HeadReader never throws, answers the same however the bytes are cut, and gives up at its bound', () => {
    const line = fc.oneof(
      fc.constantFrom('HTTP/1.1 101 Switching Protocols', 'HTTP/1.1 401 Unauthorized', 'HTTP/1.0 101 x', 'Upgrade: websocket', 'Connection: Upgrade',
        'connection: keep-alive, upgrade', 'Sec-WebSocket-Accept: abc', 'Sec-WebSocket-Accept:', ':', '', 'X: \u00ff\u0000'),
      fc.string({ unit: 'binary-ascii', maxLength: 40 }),
    );
    const input = fc.oneof(
      fc.tuple(fc.array(line, { maxLength: 8 }), fc.uint8Array({ maxLength: 20 })).map(([lines, rest]) => Uint8Array.from([...Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), ...rest])),
      fc.uint8Array({ maxLength: 200 }),
      fc.nat({ max: MAX_HEAD * 2 }).map((n) => new Uint8Array(n).fill(0x61)),
    );
    const run = (chunks: readonly Uint8Array[]): unknown => {
      const reader = new HeadReader();
      for (const c of chunks) {
        const r: HeadResult = reader.push(c);
        if (r.done) return r.ok ? { ok: true, rest: [...r.rest] } : r;
      }
      return { done: false };
    };
    fc.assert(fc.property(input, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
      const whole = run([bytes]) as { done?: boolean; ok?: boolean };
      // The rest after the head is what followed it in the same read, so only the verdict must match across cuts.
      const cut = run(pieces(bytes, cuts)) as { done?: boolean; ok?: boolean };
      assert.equal(cut.ok, whole.ok);
      if (bytes.length >= MAX_HEAD && !bytes.subarray(0, MAX_HEAD).some((b, i) => b === 10 && bytes[i - 1] === 13)) {
        assert.equal(whole.ok, false, 'a head over the bound was taken');
      }
    }), { seed: fuzzSeed(0x5c9), numRuns: fuzzRuns(1500) });
  });
});
