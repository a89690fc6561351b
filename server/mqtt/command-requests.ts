// A command message (topic, payload, MQTT 5 properties) as the request the
// client API's dispatcher takes: the same decoder and the same bounds as
// every other transport, so nothing an MQTT publisher sends reaches the core
// unchecked.
//
// print: the payload is a job request in JSON when the message says so
// (content type application/json, parameters allowed) or, with no content
// type at all (MQTT 3.1.1), when its first byte other than white space is
// `{`: then it must be a JSON object of job.submit's fields (data, text or
// lines; eol, encoding, name, key, resume), and bad JSON is BAD_JSON rather
// than printed. Any other payload is the job's bytes as they are (no printer
// language begins with `{`), and any other content type declares bytes.
//
// The job's idempotency key: the JSON `key` field, else the MQTT 5 user
// property `key`, else the correlation data (as `corr:<base64url>`, hashed
// when long), else none. A message delivered twice with the same key prints
// once; a keyless one prints once per delivery, unless keys are required.

import { createHash } from 'node:crypto';
import type { ClientRequest, Target } from '../../protocol/client-messages.js';
import { decodeClientValue } from '../../protocol/client-messages.js';
import { protocolError, type ErrorCode, type ProtocolError } from '../../protocol/errors.js';
import { isObj, MAX_JSON_DEPTH, nestsDeeper, tooDeepError, type Obj } from '../../protocol/fields.js';
import { clientFrameLimit, type Limits } from '../limits.js';
import type { CommandTopic } from './command-topics.js';

/** Largest payload of a command other than print: JSON of a few fields or a device's settings. */
export const COMMAND_PAYLOAD_MAX = 64 * 1024;
/** Correlation data longer than this many bytes becomes a key by its SHA-256 (a key is at most 128 characters). */
const CORRELATION_KEY_BYTES = 90;

/** What of an MQTT message a command needs. */
export interface CommandMessage {
  readonly payload: Uint8Array;
  readonly contentType?: string | undefined;
  readonly correlationData?: Uint8Array | undefined;
  readonly userProperties?: Readonly<Record<string, string | string[]>> | undefined;
}

export interface RequestBounds {
  readonly limits: Limits;
  /** Refuse a print that has no key (MISSING_FIELD) instead of printing it at least once. */
  readonly requireKey: boolean;
}

export type BuiltRequest =
  | { ok: true; request: ClientRequest; job?: undefined }
  /** A job action on a port topic: the job must be that printer's, which only the dispatcher can tell (job.get first). */
  | { ok: true; request: ClientRequest; job: { id: string; printer: string } }
  | { ok: false; error: ProtocolError };

class Refusal {
  constructor(readonly error: ProtocolError) {}
}

export function commandRequest(command: CommandTopic, msg: CommandMessage, bounds: RequestBounds): BuiltRequest {
  try {
    switch (command.kind) {
      case 'print':
        return decoded({ ...printFields(msg, bounds), op: 'job.submit', printer: command.printer }, bounds);
      case 'printer': {
        const body = optionalObject(msg.payload);
        const job = body?.['job'];
        if (job === undefined || job === null) return decoded({ op: `printer.${command.action}`, printer: command.printer }, bounds);
        const built = decoded({ op: `job.${command.action}`, job }, bounds);
        if (!built.ok) return built;
        const r = built.request;
        return r.op === 'job.pause' || r.op === 'job.resume' || r.op === 'job.cancel' ? { ok: true, request: r, job: { id: r.job, printer: command.printer } } : built;
      }
      case 'control':
        return decoded({ op: 'control.send', to: command.to satisfies Target, name: command.name, args: optionalObject(msg.payload) ?? {} }, bounds);
    }
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, error: e.error };
    throw e;
  }
}

function decoded(value: Obj, bounds: RequestBounds): BuiltRequest {
  const result = decodeClientValue({ ...value, id: null }, clientFrameLimit(bounds.limits));
  return result.ok ? { ok: true, request: result.value } : { ok: false, error: result.error };
}

/** job.submit's fields from a print message, the key among them. */
function printFields(msg: CommandMessage, bounds: RequestBounds): Obj {
  const { maxJobBytes } = bounds.limits;
  let fields: Obj;
  if (isJsonRequest(msg)) {
    // A JSON job carries its bytes as base64 (4 for 3) or text: within what a job of the largest size takes.
    const body = jsonObject(msg.payload, clientFrameLimit(bounds.limits), 'JOB_TOO_LARGE');
    const { op: _op, id: _id, printer: _printer, ...rest } = body;
    fields = rest;
  } else {
    // Refused before encoding: an oversized payload costs no base64 copy.
    if (msg.payload.length > maxJobBytes) throw new Refusal(protocolError('JOB_TOO_LARGE', `${msg.payload.length} > ${maxJobBytes} bytes`));
    fields = { data: Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength).toString('base64'), name: userProperty(msg, 'name') };
  }
  const key = fields['key'] ?? userProperty(msg, 'key') ?? correlationKey(msg.correlationData);
  if (key === undefined && bounds.requireKey) {
    throw new Refusal(protocolError('MISSING_FIELD', 'key: this server prints only what carries an idempotency key (a `key` field or user property, or correlation data)'));
  }
  return { ...fields, key };
}

function isJsonRequest(msg: CommandMessage): boolean {
  if (msg.contentType !== undefined) return msg.contentType.split(';')[0]?.trim().toLowerCase() === 'application/json';
  for (const byte of msg.payload) {
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x7b; // {
  }
  return false;
}

/** An MQTT 5 user property given once; BAD_FIELD when given several times. */
function userProperty(msg: CommandMessage, name: string): string | undefined {
  const v = msg.userProperties?.[name];
  if (Array.isArray(v)) throw new Refusal(protocolError('BAD_FIELD', `user property ${name} is given ${v.length} times`));
  return v;
}

/** The key correlation data stands for; `corr:` keeps it apart from keys clients choose. */
export function correlationKey(data: Uint8Array | undefined): string | undefined {
  if (data === undefined || data.length === 0) return undefined;
  if (data.length <= CORRELATION_KEY_BYTES) return `corr:${Buffer.from(data).toString('base64url')}`;
  return `corr:sha256:${createHash('sha256').update(data).digest('base64url')}`;
}

/** An empty payload (white space only) is no body; anything else must be a JSON object of at most COMMAND_PAYLOAD_MAX bytes. */
function optionalObject(payload: Uint8Array): Obj | undefined {
  if (payload.every((b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)) return undefined;
  return jsonObject(payload, COMMAND_PAYLOAD_MAX, 'FRAME_TOO_LARGE');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function jsonObject(payload: Uint8Array, max: number, tooLarge: ErrorCode): Obj {
  if (payload.length > max) throw new Refusal(protocolError(tooLarge, `a JSON payload of ${payload.length} bytes, over ${max}`));
  let text: string;
  try {
    text = UTF8.decode(payload);
  } catch {
    throw new Refusal(protocolError('BAD_JSON', 'the payload is not UTF-8'));
  }
  if (nestsDeeper(text, MAX_JSON_DEPTH)) throw new Refusal(tooDeepError());
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Refusal(protocolError('BAD_JSON'));
  }
  if (!isObj(value)) throw new Refusal(protocolError('BAD_MESSAGE', 'the payload must be a JSON object'));
  return value;
}
