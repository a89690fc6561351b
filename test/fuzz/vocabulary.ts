// The protocol's vocabulary for the fuzz: each decoder's type names and
// field names (what hostile input is built from), and every valid message,
// field by field within its documented bounds (what round trips and
// mutations start from).

import fc from 'fast-check';
import { EOLS, JOB_STATES, SCOPES, TEXT_ENCODINGS, type ClientRequest, type RequestId } from '../../protocol/client-messages.js';
import {
  DEVICE_JOB_STATES, DIALECTS, LED_PATTERNS, PRINTER_STATES, type DeviceMessage, type ServerMessage,
} from '../../protocol/device-messages.js';
import { ERRORS, type ErrorCode } from '../../protocol/errors.js';

export const DEVICE_TYPES = ['hello', 'ping', 'pong', 'job.accept', 'job.ack', 'job.done', 'job.state', 'job.fail', 'status', 'control.result', 'error'];
export const DEVICE_FIELDS = [
  'v', 'id', 'fw', 'caps', 'window', 'maxChunk', 'ports', 'received', 'written', 'fresh', 'state', 'code', 'message', 'led', 'uptime',
  'heap', 'rssi', 'ref', 'ok', 'data',
];
export const SERVER_TYPES = ['welcome', 'ping', 'pong', 'job.start', 'job.cancel', 'job.pause', 'job.resume', 'control', 'error'];
export const SERVER_FIELDS = ['v', 'hb', 'time', 'id', 'stream', 'port', 'size', 'resume', 'ref', 'name', 'args', 'code', 'message'];

export const CLIENT_OPS = [
  'hello', 'ping', 'devices.list', 'printers.list', 'job.submit', 'job.get', 'jobs.list', 'job.cancel', 'job.pause', 'job.resume',
  'job.data', 'job.reprint', 'printer.pause', 'printer.resume', 'printer.cancel', 'control.send', 'subscribe', 'unsubscribe', 'printer.get', 'printer.command',
  'token.issue', 'token.revoke', 'clients.list', 'device.remove',
];
export const CLIENT_FIELDS = [
  'id', 'v', 'tag', 'printer', 'data', 'text', 'lines', 'eol', 'encoding', 'key', 'resume', 'job', 'state', 'limit', 'to', 'name', 'args',
  'timeout', 'bytes', 'emergency', 'ttl', 'label', 'scopes', 'token', 'device', 'q',
];

const CODES = Object.keys(ERRORS) as ErrorCode[];

/** A string of at most `max` UTF-16 code units, any code point (lone surrogates too). */
export const text = (max: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength: max }).filter((s) => s.length <= max);
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

const id = fc.string({ minLength: 0, maxLength: 128 });
const count = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const code = fc.constantFrom(...CODES);
const plainObject = fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });

const portInfo = fc.record({ port: fc.integer({ min: 0, max: 255 }), dialect: fc.constantFrom(...DIALECTS), name: opt(text(64)), confirms: opt(fc.boolean()) });
const temp = fc.record({ name: text(16), current: fc.double({ noNaN: true, noDefaultInfinity: true }), target: opt(fc.double({ noNaN: true, noDefaultInfinity: true })) });
const portStatus = fc.record({
  port: fc.integer({ min: 0, max: 255 }), state: fc.constantFrom(...PRINTER_STATES), detail: opt(text(256)), job: opt(text(128)),
  temps: opt(fc.array(temp, { maxLength: 8 })),
});

/** Every device message, field by field within its documented bounds. */
export const deviceMessage: fc.Arbitrary<DeviceMessage> = fc.oneof(
  fc.record({
    t: fc.constant('hello' as const), v: fc.tuple(fc.nat(), fc.nat()), id, fw: text(64), caps: fc.array(text(32), { maxLength: 32 }),
    window: fc.integer({ min: 64, max: 1 << 24 }), maxChunk: fc.integer({ min: 16, max: 1 << 20 }), ports: fc.array(portInfo, { maxLength: 16 }),
  }),
  fc.constant({ t: 'ping' as const }),
  fc.constant({ t: 'pong' as const }),
  fc.record({ t: fc.constant('job.accept' as const), id, received: count, written: count, fresh: fc.boolean() }),
  fc.record({ t: fc.constant('job.ack' as const), id, written: count }),
  fc.record({ t: fc.constant('job.done' as const), id }),
  fc.record({ t: fc.constant('job.state' as const), id, state: fc.constantFrom(...DEVICE_JOB_STATES), code: opt(code), message: opt(text(512)) }),
  fc.record({ t: fc.constant('job.fail' as const), id, code, message: text(512) }),
  fc.record({
    t: fc.constant('status' as const), ports: fc.array(portStatus, { maxLength: 16 }), led: fc.constantFrom(...LED_PATTERNS), uptime: count,
    heap: opt(count), rssi: opt(fc.integer({ min: -200, max: 0 })),
  }),
  fc.oneof(
    fc.record({ t: fc.constant('control.result' as const), ref: id, ok: fc.constant(true), message: opt(text(512)), data: opt(plainObject) }),
    fc.record({ t: fc.constant('control.result' as const), ref: id, ok: fc.constant(false), code, message: opt(text(512)), data: opt(plainObject) }),
  ),
  fc.record({ t: fc.constant('error' as const), code, message: text(512) }),
);

/** Every server message, field by field within its documented bounds. */
export const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
  fc.record({ t: fc.constant('welcome' as const), v: fc.tuple(fc.nat(), fc.nat()), hb: count, time: count }),
  fc.constant({ t: 'ping' as const }),
  fc.record({
    t: fc.constant('job.start' as const), id, stream: fc.integer({ min: 0, max: 0xffff }), port: fc.integer({ min: 0, max: 255 }),
    size: fc.integer({ min: 0, max: 0xffffffff }), resume: opt(fc.boolean()),
  }),
  fc.record({ t: fc.constantFrom('job.cancel' as const, 'job.pause' as const, 'job.resume' as const), id }),
  fc.record({ t: fc.constant('control' as const), ref: id, name: text(64), args: plainObject }),
  fc.record({ t: fc.constant('error' as const), code, message: text(512) }),
);


const reqId: fc.Arbitrary<RequestId> = fc.oneof(text(128), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null));
const base64 = (maxChars: number): fc.Arbitrary<string> => fc.uint8Array({ maxLength: Math.floor((maxChars / 4) * 3) }).map((b) => Buffer.from(b).toString('base64'));
/** A job name as job.submit takes it: 1 to 200 characters, none a control character. */
const jobName = fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }).filter((s) => s.length >= 1 && s.length <= 200 && !/\p{Cc}/u.test(s));
const target = fc.oneof(fc.record({ device: text(128) }), fc.record({ tag: text(64) }), fc.constant({ all: true as const }));

/**
 * Every client request, field by field within its documented bounds;
 * `printer` names the printers it acts on (any string by default) and
 * `maxData` bounds job.submit's data.
 */
export function clientRequest(maxData: number, printer: fc.Arbitrary<string> = text(200)): fc.Arbitrary<ClientRequest> {
  const body = fc.oneof(
    fc.record({ op: fc.constant('hello'), v: fc.tuple(fc.nat(), fc.nat()) }),
    fc.record({ op: fc.constantFrom('ping', 'printers.list', 'subscribe', 'unsubscribe', 'clients.list') }),
    fc.record({ op: fc.constant('devices.list'), tag: opt(text(64)) }),
    fc.record({ op: fc.constant('job.submit'), printer, data: base64(maxData), key: opt(text(128)), resume: opt(fc.boolean()), name: opt(jobName) }),
    fc.record({
      op: fc.constant('job.submit'), printer, text: text(maxData), eol: opt(fc.constantFrom(...EOLS)), encoding: opt(fc.constantFrom(...TEXT_ENCODINGS)),
    }),
    fc.record({ op: fc.constant('job.submit'), printer, lines: fc.array(text(20), { maxLength: 5 }), eol: opt(fc.constantFrom(...EOLS)) }),
    fc.record({ op: fc.constantFrom('job.get', 'job.cancel', 'job.pause', 'job.resume', 'job.data'), job: text(128) }),
    fc.record({ op: fc.constant('job.reprint'), job: text(128), printer: opt(printer), name: opt(jobName), key: opt(text(128)) }),
    fc.record({ op: fc.constantFrom('printer.pause', 'printer.resume', 'printer.cancel', 'printer.get'), printer }),
    fc.record({
      op: fc.constant('jobs.list'), printer: opt(text(200)), state: opt(fc.constantFrom(...JOB_STATES)), q: opt(text(200)), limit: opt(fc.integer({ min: 1, max: 1000 })),
    }),
    fc.record({
      op: fc.constant('control.send'), to: target, name: text(64),
      args: fc.dictionary(fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
      timeout: opt(fc.integer({ min: 1, max: 60_000 })),
    }),
    fc.record({ op: fc.constant('printer.command'), printer, data: text(256), emergency: opt(fc.boolean()), timeout: opt(fc.integer({ min: 1, max: 600_000 })) }),
    fc.record({ op: fc.constant('printer.command'), printer, bytes: base64(344) }),
    fc.record({ op: fc.constant('token.issue'), ttl: opt(fc.integer({ min: 1, max: 86_400 })), label: opt(text(64)), scopes: opt(fc.uniqueArray(fc.constantFrom(...SCOPES), { minLength: 1 })) }),
    fc.record({ op: fc.constant('token.revoke'), token: text(256) }),
    fc.record({ op: fc.constant('device.remove'), device: text(128) }),
  );
  return fc.tuple(body, reqId).map(([b, rid]) => ({ ...b, id: rid }) as ClientRequest);
}

