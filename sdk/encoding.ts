// Bytes for job data without Node's Buffer or the DOM: UTF-8 for text and
// base64 for the wire (job.submit carries its data as base64). Written out
// so that the SDK runs the same in browsers, workers, Node and Deno.

import type { Eol, TextEncodingName } from '../protocol/client-messages.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** UTF-8 bytes of a string; lone surrogates become U+FFFD as TextEncoder does. */
export function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else c = 0xfffd;
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** How many bytes utf8(text) would be, without making them (a request is measured against the server's limit). */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 2 units, 4 bytes
      i++;
    } else n += 2; // 3 bytes, and so is the U+FFFD a lone surrogate becomes
  }
  return n;
}

/** Canonical base64 with "=" padding, as the server requires. */
export function base64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    chunk += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
    if (chunk.length >= 8192) {
      parts.push(chunk);
      chunk = '';
    }
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    chunk += `${ALPHABET[n >> 18]!}${ALPHABET[(n >> 12) & 63]!}==`;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    chunk += `${ALPHABET[n >> 18]!}${ALPHABET[(n >> 12) & 63]!}${ALPHABET[(n >> 6) & 63]!}=`;
  }
  parts.push(chunk);
  return parts.join('');
}

/** Bytes of canonical base64 (what job.data answers); TypeError on anything else. */
export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new TypeError('base64 text must come in groups of four characters');
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const c = text[i + k] as string;
      const v = c === '=' && i + 4 === text.length && k >= 4 - pad ? 0 : ALPHABET.indexOf(c);
      if (v < 0) throw new TypeError(`not base64: ${JSON.stringify(c)} at ${i + k}`);
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

export type PrintData = Uint8Array | ArrayBuffer | string;

/** Job bytes from what a caller has: bytes as they are, text as UTF-8. */
export function toBytes(data: PrintData): Uint8Array {
  if (typeof data === 'string') return utf8(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError('print data must be a Uint8Array, an ArrayBuffer or a string');
}

/**
 * What a job carries: bytes (a string is sent as UTF-8), or `{text}` or
 * `{lines}` that the server turns into bytes with the `eol` and `encoding`
 * asked for (cp437 and latin1 for receipt printers, CRLF line ends…).
 */
export type PrintContent = PrintData | { text: string } | { lines: readonly string[] };

export interface TextOptions {
  /** Line ends: `lines` each get one (default lf); `text` keeps its own unless this is given. */
  eol?: Eol;
  /** How the server encodes text and lines (default utf8); a character it cannot encode fails the submit with UNENCODABLE. */
  encoding?: TextEncodingName;
}

/** The content part of a job.submit: exactly one of data (base64), text or lines. */
export type JobContent =
  | { data: string }
  | { text: string; eol: Eol | undefined; encoding: TextEncodingName | undefined }
  | { lines: string[]; eol: Eol | undefined; encoding: TextEncodingName | undefined };

/**
 * The job.submit fields for `content`. A plain string goes as UTF-8 bytes
 * unless `eol` or `encoding` is given, then as text; bytes take neither.
 */
export function jobContent(content: PrintContent, opts: TextOptions = {}): JobContent {
  const { eol, encoding } = opts;
  const textual = eol !== undefined || encoding !== undefined;
  if (typeof content === 'string') return textual ? { text: content, eol, encoding } : { data: base64(utf8(content)) };
  if (content instanceof Uint8Array || content instanceof ArrayBuffer) {
    if (textual) throw new TypeError('eol and encoding apply to text and lines, not to bytes');
    return { data: base64(toBytes(content)) };
  }
  if (typeof content === 'object' && content !== null) {
    if ('text' in content && typeof content.text === 'string') return { text: content.text, eol, encoding };
    // A copy: a resubmission after a reconnect sends what was asked for, whatever the caller did since.
    if ('lines' in content && Array.isArray(content.lines)) return { lines: [...content.lines], eol, encoding };
  }
  throw new TypeError('print data must be a Uint8Array, an ArrayBuffer, a string, {text} or {lines}');
}
