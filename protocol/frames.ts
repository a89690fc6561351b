// Binary job-data frames, server → device. JSON would cost the ESP32 a parse
// and a copy per chunk, so data travels as a fixed 8-byte header plus bytes:
//
//   0      kind     u8   (1 = job data)
//   1      flags    u8   (reserved, 0)
//   2..3   stream   u16  big-endian; names the job, set by job.start
//   4..7   offset   u32  big-endian; byte offset of the payload in the job
//   8..    payload       at most the device's maxChunk bytes
//
// The offset makes every frame self-describing, so a device can drop a
// duplicate after a reconnect and detect a gap instead of printing garbage.

import { protocolError, type ProtocolError } from './errors.js';

export const FRAME_HEADER = 8;
export const FRAME_KIND_DATA = 1;

export interface DataFrame {
  readonly stream: number;
  readonly offset: number;
  readonly payload: Uint8Array;
}

export function encodeDataFrame(stream: number, offset: number, payload: Uint8Array): Uint8Array {
  if (!Number.isInteger(stream) || stream < 0 || stream > 0xffff) throw new RangeError(`stream out of range: ${stream}`);
  if (!Number.isInteger(offset) || offset < 0 || offset > 0xffffffff) throw new RangeError(`offset out of range: ${offset}`);
  const out = new Uint8Array(FRAME_HEADER + payload.length);
  out[0] = FRAME_KIND_DATA;
  out[1] = 0;
  out[2] = stream >>> 8;
  out[3] = stream & 0xff;
  out[4] = (offset >>> 24) & 0xff;
  out[5] = (offset >>> 16) & 0xff;
  out[6] = (offset >>> 8) & 0xff;
  out[7] = offset & 0xff;
  out.set(payload, FRAME_HEADER);
  return out;
}

export type FrameResult = { ok: true; frame: DataFrame } | { ok: false; error: ProtocolError };

/** The payload is a view into `bytes`, not a copy: callers that keep it must copy. */
export function decodeDataFrame(bytes: Uint8Array, maxPayload: number): FrameResult {
  if (bytes.length < FRAME_HEADER) return { ok: false, error: protocolError('BAD_FRAME', `${bytes.length} bytes is shorter than the header`) };
  if (bytes[0] !== FRAME_KIND_DATA) return { ok: false, error: protocolError('BAD_FRAME', `unknown frame kind ${bytes[0]}`) };
  const payloadLength = bytes.length - FRAME_HEADER;
  if (payloadLength > maxPayload) return { ok: false, error: protocolError('FRAME_TOO_LARGE', `${payloadLength} > ${maxPayload}`) };
  const b = (i: number): number => bytes[i] ?? 0;
  const stream = (b(2) << 8) | b(3);
  const offset = ((b(4) << 24) >>> 0) + (b(5) << 16) + (b(6) << 8) + b(7);
  return { ok: true, frame: { stream, offset, payload: bytes.subarray(FRAME_HEADER) } };
}
