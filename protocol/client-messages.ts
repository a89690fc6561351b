// Messages between a client (web app, POS page, back-end, CLI) and the server
// on /v1/client. A request is a JSON object with an `op` and an optional `id`;
// the reply echoes the id as `re` and carries either `result` or `error`.
// After `subscribe`, the server also pushes `{event, ...}` objects, which
// never carry `re`, so a client tells replies and events apart by that key.

import { type ErrorCode, type ProtocolError } from './errors.js';
import { bool, decodeWith, obj, oneOf, optInt, optObj, optStr, str, type Decoded, type Obj, FieldError } from './fields.js';
import { protocolError } from './errors.js';
import type { Version } from './version.js';
import { version } from './fields.js';
import type { LedPattern, PortStatus, PortInfo, Temperature } from './device-messages.js';

export type RequestId = string | number | null;

export type Target = { device: string } | { tag: string } | { all: true };

export type ClientRequestBody =
  | { op: 'hello'; v: Version }
  | { op: 'ping' }
  | { op: 'devices.list'; tag?: string | undefined }
  | { op: 'printers.list' }
  | { op: 'job.submit'; printer: string; data: string; key?: string | undefined }
  | { op: 'job.get'; job: string }
  /** Newest first; `state` narrows to one state. */
  | { op: 'jobs.list'; printer?: string | undefined; state?: JobState | undefined; limit?: number | undefined }
  | { op: 'job.cancel'; job: string }
  | { op: 'job.pause'; job: string }
  | { op: 'job.resume'; job: string }
  /** Printer queue operations: pause holds every job of the printer, cancel ends all unfinished ones. */
  | { op: 'printer.pause'; printer: string }
  | { op: 'printer.resume'; printer: string }
  | { op: 'printer.cancel'; printer: string }
  | { op: 'control.send'; to: Target; name: string; args: Obj; timeout?: number | undefined }
  | { op: 'subscribe' }
  | { op: 'unsubscribe' };

export type ClientRequest = ClientRequestBody & { id: RequestId };

export const JOB_STATES = ['queued', 'sending', 'printing', 'paused', 'done', 'failed', 'canceled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_JOB_STATES: readonly JobState[] = ['done', 'failed', 'canceled'];

export interface JobView {
  id: string;
  printer: string;
  state: JobState;
  size: number;
  /** Bytes the device confirmed handing to the printer. */
  written: number;
  progress: number;
  key?: string | undefined;
  /** Why it failed, or while paused by its printer, why the printer holds it (paper out…). */
  error?: ProtocolError | undefined;
  /** A client paused this job (job.pause); only job.resume releases it. */
  held?: boolean | undefined;
  /** Milliseconds since the epoch: submitted, first byte sent, final state reached, last change. */
  created: number;
  started?: number | undefined;
  finished?: number | undefined;
  updated: number;
}

export interface DeviceView {
  id: string;
  online: boolean;
  tags: string[];
  fw?: string | undefined;
  address?: string | undefined;
  led?: LedPattern | undefined;
  heap?: number | undefined;
  rssi?: number | undefined;
  uptime?: number | undefined;
  ports: PortInfo[];
  lastSeen?: number | undefined;
}

export interface PrinterView {
  id: string;
  device: string;
  port: number;
  dialect: string;
  online: boolean;
  name?: string | undefined;
  status: PortStatus['state'];
  detail?: string | undefined;
  temps?: Temperature[] | undefined;
  /** The dialect can confirm that a job was printed, so `done` means printed, not only handed over. */
  confirms?: boolean | undefined;
  job?: string | undefined;
  queued: number;
  /** A client paused the printer's queue (printer.pause): no job is offered until printer.resume. */
  paused: boolean;
}

export type DeliveryStatus = 'ok' | 'error' | 'offline' | 'timeout';

export interface DeliveryReport {
  device: string;
  status: DeliveryStatus;
  code?: ErrorCode | undefined;
  message?: string | undefined;
  data?: Obj | undefined;
}

export type ClientEvent =
  | { event: 'job.updated'; job: JobView }
  | { event: 'device.online'; device: DeviceView }
  | { event: 'device.offline'; device: DeviceView }
  | { event: 'device.status'; device: DeviceView }
  | { event: 'printer.status'; printer: PrinterView }
  | { event: 'control.delivered'; ref: string; reports: DeliveryReport[] };

export type ClientReply =
  | { re: RequestId; ok: true; result: unknown }
  | { re: RequestId; ok: false; error: ProtocolError };

function target(o: Obj): Target {
  const t = obj(o, 'to');
  const device = optStr(t, 'device', 128);
  const tag = optStr(t, 'tag', 64);
  const all = t['all'] === undefined ? undefined : bool(t, 'all');
  const given = (device !== undefined ? 1 : 0) + (tag !== undefined ? 1 : 0) + (all === true ? 1 : 0);
  if (given !== 1) throw new FieldError(protocolError('BAD_FIELD', 'to must name exactly one of device, tag or all:true'));
  if (device !== undefined) return { device };
  if (tag !== undefined) return { tag };
  return { all: true };
}

function requestId(o: Obj): RequestId {
  const v = o['id'];
  if (v === undefined || v === null) return null;
  if ((typeof v === 'string' && v.length <= 128) || (typeof v === 'number' && Number.isFinite(v))) return v;
  throw new FieldError(protocolError('BAD_FIELD', 'id must be a string or a number'));
}

/**
 * Decodes a client request. `maxData` bounds the base64 text of job.submit;
 * the transport's frame limit bounds everything else.
 */
export function decodeClientRequest(text: string, maxData: number): Decoded<ClientRequest> & { id: RequestId } {
  // The id is read first and kept even when the rest fails, so that the
  // error reply still correlates with the request that caused it.
  let id: RequestId = null;
  const result = decodeWith<ClientRequest>(text, 'op', (op, o) => {
    id = safeId(o);
    const rid = requestId(o);
    const body = requestBody(op, o, maxData);
    return body === undefined ? undefined : ({ ...body, id: rid } as ClientRequest);
  });
  return { ...result, id };
}

function safeId(o: Obj): RequestId {
  try {
    return requestId(o);
  } catch {
    return null;
  }
}

function requestBody(op: string, o: Obj, maxData: number): ClientRequestBody | undefined {
  switch (op) {
    case 'hello':
      return { op, v: version(o, 'v') };
    case 'ping':
      return { op };
    case 'printers.list':
      return { op };
    case 'subscribe':
      return { op };
    case 'unsubscribe':
      return { op };
    case 'devices.list':
      return { op, tag: optStr(o, 'tag', 64) };
    case 'job.submit':
      return { op, printer: str(o, 'printer', 200), data: str(o, 'data', maxData), key: optStr(o, 'key', 128) };
    case 'job.get':
      return { op, job: str(o, 'job', 128) };
    case 'job.cancel':
      return { op, job: str(o, 'job', 128) };
    case 'job.pause':
      return { op, job: str(o, 'job', 128) };
    case 'job.resume':
      return { op, job: str(o, 'job', 128) };
    case 'printer.pause':
      return { op, printer: str(o, 'printer', 200) };
    case 'printer.resume':
      return { op, printer: str(o, 'printer', 200) };
    case 'printer.cancel':
      return { op, printer: str(o, 'printer', 200) };
    case 'jobs.list':
      return {
        op, printer: optStr(o, 'printer', 200), state: o['state'] === undefined || o['state'] === null ? undefined : oneOf(o, 'state', JOB_STATES),
        limit: optInt(o, 'limit', 1, 1000),
      };
    case 'control.send':
      return { op, to: target(o), name: str(o, 'name', 64), args: optObj(o, 'args') ?? {}, timeout: optInt(o, 'timeout', 1, 60_000) };
    default:
      return undefined;
  }
}

export function okReply(re: RequestId, result: unknown): string {
  return JSON.stringify({ re, ok: true, result } satisfies ClientReply);
}

export function errorReply(re: RequestId, error: ProtocolError): string {
  return JSON.stringify({ re, ok: false, error } satisfies ClientReply);
}

export function encodeEvent(e: ClientEvent): string {
  return JSON.stringify(e);
}

