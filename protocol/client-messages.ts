// Messages between a client (web app, POS page, back-end, CLI) and the server
// on /v1/client. A request is a JSON object with an `op` and an optional `id`;
// the reply echoes the id as `re` and carries either `result` or `error`.
// After `subscribe`, the server also pushes `{event, ...}` objects, which
// never carry `re`, so a client tells replies and events apart by that key.

import { type ErrorCode, type ProtocolError } from './errors.js';
import { arr, bool, decodeWith, isObj, obj, oneOf, optBool, optInt, optObj, optStr, str, type Decoded, type Obj, FieldError } from './fields.js';
import { protocolError } from './errors.js';
import type { Version } from './version.js';
import { MAX_JSON_DEPTH, tooDeepError, valueNestsDeeper, version } from './fields.js';
import type { LedPattern, PortStatus, PortInfo, Temperature } from './device-messages.js';

export type RequestId = string | number | null;

export type Target = { device: string } | { tag: string } | { all: true };

/** How long a coalescing subscriber's device and printer events may wait (subscribe `coalesce`). */
export const COALESCE_MS = 100;

export type ClientRequestBody =
  | { op: 'hello'; v: Version }
  | { op: 'ping' }
  | { op: 'devices.list'; tag?: string | undefined }
  | { op: 'printers.list' }
  /**
   * Exactly one of `data` (base64), `text` or `lines` (since 1.2). `eol` and
   * `encoding` apply to text and lines only; `resume` (since 1.2) lets a
   * G-code print that stalled while the link was down go on. `name` (since
   * 1.5): what people call the job (a file name), 1 to JOB_NAME_MAX
   * characters without control characters; none when absent.
   */
  | {
      op: 'job.submit'; printer: string; data?: string | undefined; text?: string | undefined; lines?: string[] | undefined;
      eol?: Eol | undefined; encoding?: TextEncodingName | undefined; key?: string | undefined; resume?: boolean | undefined;
      name?: string | undefined;
    }
  | { op: 'job.get'; job: string }
  /**
   * Newest first; `state` narrows to one state; `q` (since 1.5) to jobs whose
   * name holds it (any case) or whose id starts with it. A `printer` the
   * server neither knows nor has jobs of is UNKNOWN_PRINTER (since 1.5).
   */
  | { op: 'jobs.list'; printer?: string | undefined; state?: JobState | undefined; q?: string | undefined; limit?: number | undefined }
  /**
   * Since 1.5: the job and its bytes as submitted (after text encoding), for
   * whoever may job.get it; JOB_DATA_GONE once retention dropped them, and
   * REPLY_TOO_LARGE when the answer (base64, 4 bytes per 3) would be more
   * than `limits.maxUnsent` bytes: REST `GET /api/v1/jobs/{id}/data` with
   * `Accept: application/octet-stream` (or `?raw=1`) sends any size.
   */
  | { op: 'job.data'; job: string }
  /**
   * Since 1.5: a new job with the bytes of `job`, submitted as job.submit
   * would (limits, quotas, queue, `key`), to `printer` or the original's,
   * named `name` or as the original. Scope `print`, and the right to see
   * the original; JOB_DATA_GONE once retention dropped its bytes.
   */
  | { op: 'job.reprint'; job: string; printer?: string | undefined; name?: string | undefined; key?: string | undefined }
  | { op: 'job.cancel'; job: string }
  | { op: 'job.pause'; job: string }
  | { op: 'job.resume'; job: string }
  /** Printer queue operations: pause holds every job of the printer, cancel ends all unfinished ones. */
  | { op: 'printer.pause'; printer: string }
  | { op: 'printer.resume'; printer: string }
  | { op: 'printer.cancel'; printer: string }
  | { op: 'control.send'; to: Target; name: string; args: Obj; timeout?: number | undefined }
  /**
   * `compact` (since 1.4): the snapshot carries devices and printers as
   * tables (`Snapshot.tables`) rather than arrays of objects; a server
   * before 1.4 ignores it and answers the full form. `coalesce` (since
   * 1.4): device and printer events may wait up to COALESCE_MS, and a newer
   * one for the same device or printer replaces one still waiting (a
   * reconnect storm sends each subscriber the last state, not every step).
   * No other event or reply overtakes one that waits.
   */
  | { op: 'subscribe'; compact?: boolean | undefined; coalesce?: boolean | undefined }
  | { op: 'unsubscribe' }
  /** Since 1.2: one printer's view. */
  | { op: 'printer.get'; printer: string }
  /** Since 1.2. Exactly one of `data` (text of single-byte characters) or `bytes` (base64); at most 256 bytes. */
  | { op: 'printer.command'; printer: string; data?: string | undefined; bytes?: string | undefined; emergency?: boolean | undefined; timeout?: number | undefined }
  /**
   * Since 1.3. Settings (SGD) of a Link-OS printer on Weblink: exactly one of
   * `get` (names to read) or `set` (name → value). Reading needs `print`,
   * setting `devices:config`. `timeout` in ms, default SGD_TIMEOUT_DEFAULT_MS.
   */
  | { op: 'printer.sgd'; printer: string; get?: string[] | undefined; set?: Record<string, string> | undefined; timeout?: number | undefined }
  /**
   * Since 1.2. `ttl` in seconds, default 300, at most 86400. Scope `tokens`.
   * `scopes` (since 1.3): what the token may do, default DEFAULT_SCOPES;
   * never more than the caller's own.
   */
  | { op: 'token.issue'; ttl?: number | undefined; label?: string | undefined; scopes?: Scope[] | undefined }
  /** Since 1.2. By the token's id or the token itself. Scope `tokens`. */
  | { op: 'token.revoke'; token: string }
  /** Since 1.2. Every client connection, whatever its transport. Scope `tokens`. */
  | { op: 'clients.list' }
  /**
   * Since 1.2. Removes a registered device by its id (`device`: `id` names
   * the request): its token stops working, its connection is closed with
   * 4006 REVOKED and its unfinished jobs fail (DEVICE_REMOVED). Scope `devices`.
   */
  | { op: 'device.remove'; device: string };

export type ClientRequest = ClientRequestBody & { id: RequestId };

export const EOLS = ['lf', 'crlf', 'cr', 'none'] as const;
export type Eol = (typeof EOLS)[number];
export const TEXT_ENCODINGS = ['utf8', 'latin1', 'ascii', 'cp437'] as const;
export type TextEncodingName = (typeof TEXT_ENCODINGS)[number];

/**
 * Since 1.3: what a token may do. Each op needs one scope (protocol/scopes.ts
 * says which); the admin token has them all.
 * - `print`: list devices and printers and their status, subscribe, submit
 *   jobs, and follow, cancel, pause and resume the token's own jobs;
 * - `jobs:any`: the same on any job, and the printer queue ops
 *   (printer.pause/resume/cancel), which touch everyone's jobs;
 * - `control`: control.send of names that change nothing on a device
 *   (CONTROL_HARMLESS);
 * - `devices:config`: control.send of every other name: `config`
 *   (settings, even the server a device connects to), `restart`, and names
 *   this server does not know;
 * - `printer:command`: printer.command, and control.send `printer.command`;
 * - `devices`: device.remove;
 * - `tokens`: token.issue, token.revoke, clients.list, and the clients in a
 *   subscribe snapshot and the client.* events.
 */
export const SCOPES = ['print', 'jobs:any', 'control', 'devices:config', 'printer:command', 'devices', 'tokens'] as const;
export type Scope = (typeof SCOPES)[number];
/** What token.issue grants when it is not told: printing only. */
export const DEFAULT_SCOPES: readonly Scope[] = ['print'];
/** control.send names that only read a device or blink it: scope `control`. Any other name needs `devices:config`. */
export const CONTROL_HARMLESS: readonly string[] = ['identify', 'led', 'status', 'printers.scan'];

export const TOKEN_TTL_DEFAULT_S = 300;
export const TOKEN_TTL_MAX_S = 86_400;
/** printer.command: the device takes at most this many bytes per command. */
export const PRINTER_COMMAND_MAX = 256;
/** printer.command: how long the server waits for the device's answer unless told (G-code moves take a while). */
export const PRINTER_COMMAND_TIMEOUT_DEFAULT_MS = 30_000;
export const PRINTER_COMMAND_TIMEOUT_MAX_MS = 600_000;
/** printer.sgd: how long the server waits for the printer's answer unless told. */
export const SGD_TIMEOUT_DEFAULT_MS = 10_000;
export const SGD_TIMEOUT_MAX_MS = 60_000;
/** printer.sgd: names (get) or entries (set) in one request. */
export const SGD_NAMES_MAX = 64;
export const SGD_NAME_MAX = 128;
export const SGD_VALUE_MAX = 1024;

/** What printer.sgd answers: each value as the printer answered it (null: a name it does not know; an object: a branch). */
export interface SgdResult {
  printer: string;
  values: Obj;
}
/** Most lines one job.submit may carry. */
export const JOB_LINES_MAX = 1_000_000;
/** Longest job name (job.submit and job.reprint `name`), and longest jobs.list `q`. */
export const JOB_NAME_MAX = 200;

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
  /** Submitted with resume: true (since 1.2). */
  resume?: boolean | undefined;
  /** What the submitter called it (since 1.5). */
  name?: string | undefined;
  /**
   * G-code jobs, while the server holds the bytes and the job is on its
   * device (since 1.5): the lines the printer confirmed (newline-terminated
   * lines within the first `written` bytes), and the layer they reached,
   * counted from 1 (Cura's `;LAYER:n` is layer n + 1; PrusaSlicer's
   * `;LAYER_CHANGE` lines are counted). `layer` is absent before the first
   * marker or in a file without them.
   */
  line?: number | undefined;
  layer?: number | undefined;
  /** Milliseconds since the epoch: submitted, first byte sent, final state reached, last change. */
  created: number;
  started?: number | undefined;
  finished?: number | undefined;
  updated: number;
}

/** The tag a device registered as a Zebra Weblink printer carries (`devices add --weblink`). */
export const WEBLINK_TAG = 'weblink';

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
  /**
   * Since 1.6: what an online device announced it can do (its hello's
   * `caps`): a Node bridge `printers.scan` and `printers.add`, a Zebra
   * printer on Weblink `weblink`. Absent while it is offline.
   */
  caps?: string[] | undefined;
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

/** A connected client, as clients.list and the client.* events show it. */
export interface ClientView {
  id: string;
  address?: string | undefined;
  userAgent?: string | undefined;
  /** Milliseconds since the epoch. */
  since: number;
  subscribed: boolean;
  /**
   * `admin`: the server's admin token; `client`: a token from token.issue
   * (its id in `tokenId`); `listener` (since 1.3): let in by the compat
   * listener's own rules (loopback, or its `--compat-token`).
   */
  token: 'admin' | 'client' | 'listener';
  tokenId?: string | undefined;
  /** What the connection may do (since 1.3). */
  scopes?: Scope[] | undefined;
  /** Which endpoint: `ws` for /v1/client, `printerlynx` for /api/v1/ws, `compat` for the PrinterWebSocket listener. */
  transport: string;
}

/** What token.issue answers; the token itself is shown only here. */
export interface IssuedToken {
  id: string;
  token: string;
  /** Milliseconds since the epoch. */
  expires: number;
  label?: string | undefined;
  /** Since 1.3. */
  scopes: Scope[];
}

export type DeliveryStatus = 'ok' | 'error' | 'offline' | 'timeout';

export interface DeliveryReport {
  device: string;
  status: DeliveryStatus;
  code?: ErrorCode | undefined;
  message?: string | undefined;
  data?: Obj | undefined;
}

// --- what each op answers ----------------------------------------------------

/** What hello answers. */
export interface ServerInfo {
  server: string;
  version: string;
  v: Version;
  /** Since 1.5: the bounds a client must stay within (a server before it leaves them out). */
  limits?: ClientLimits | undefined;
}

/**
 * The server's bounds on what one client sends and receives, so that a page
 * refuses a file it cannot send instead of having its connection closed.
 */
export interface ClientLimits {
  /** The largest job, in bytes (after text encoding): more is JOB_TOO_LARGE. */
  maxJobBytes: number;
  /** The largest request, in bytes of UTF-8 JSON (a WebSocket message, a REST JSON body): more closes the WebSocket with 1009. */
  maxFrame: number;
  /**
   * Bytes the server lets wait unsent towards one client before closing it
   * with SLOW_CONSUMER; an answer larger than this (job.data of a large job)
   * is refused with REPLY_TOO_LARGE instead of sent.
   */
  maxUnsent: number;
}

/** What subscribe answers: the state of everything, before the events that follow it. */
export interface Snapshot {
  devices: DeviceView[];
  printers: PrinterView[];
  /** The unfinished jobs and the latest finished ones, newest first. */
  jobs: JobView[];
  /** The clients connected (since 1.2; a 1.1 server leaves it out). */
  clients?: ClientView[] | undefined;
  /**
   * Since 1.4, when subscribe asked for `compact`: the devices and printers,
   * each kind as one table; `devices` and `printers` are then empty.
   */
  tables?: SnapshotTables | undefined;
}

/**
 * Views of one kind with their field names said once: each row holds the
 * values in the order of `keys`, null where a view has no such field, and
 * trailing nulls left out. At 10,000 devices the names were most of the
 * snapshot's bytes.
 */
export interface Table {
  keys: string[];
  rows: unknown[][];
}

export interface SnapshotTables {
  devices: Table;
  printers: Table;
}

/** Fields every view has come first, so that the optional ones trail and are left out. */
export const DEVICE_TABLE_KEYS = ['id', 'online', 'tags', 'ports', 'lastSeen', 'fw', 'address', 'led', 'heap', 'rssi', 'uptime', 'caps'] as const satisfies readonly (keyof DeviceView)[];
export const PRINTER_TABLE_KEYS = [
  'id', 'device', 'port', 'dialect', 'online', 'status', 'queued', 'paused', 'name', 'detail', 'temps', 'confirms', 'job',
] as const satisfies readonly (keyof PrinterView)[];

/** Checked when compiled: the tables carry every field of their views. */
export type TablesCoverViews = [
  Holds<SameKeys<keyof DeviceView, (typeof DEVICE_TABLE_KEYS)[number]>>,
  Holds<SameKeys<keyof PrinterView, (typeof PRINTER_TABLE_KEYS)[number]>>,
];

export function toTable<T extends object>(items: readonly T[], keys: readonly (keyof T & string)[]): Table {
  const rows = items.map((item) => {
    const row = keys.map((k) => item[k] ?? null);
    let end = row.length;
    while (end > 0 && row[end - 1] === null) end--;
    row.length = end;
    return row;
  });
  return { keys: [...keys], rows };
}

/**
 * The views of a table, by the keys it names (so fields a newer server adds
 * come through as JSON objects would). Null and missing values are left out.
 */
export function fromTable<T>(table: Table): T[] {
  if (!Array.isArray(table.keys) || !Array.isArray(table.rows)) throw new TypeError('a table has keys and rows');
  const { keys } = table;
  return table.rows.map((row) => {
    const item: Record<string, unknown> = {};
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      const k = keys[i];
      if (v !== null && v !== undefined && k !== undefined) item[k] = v;
    }
    return item as T;
  });
}

/** What job.data answers (since 1.5): the job, and its bytes as base64 (within ClientLimits.maxUnsent). */
export interface JobData {
  job: JobView;
  data: string;
}

/** What control.send answers, and what control.delivered carries. */
export interface ControlResult {
  ref: string;
  reports: DeliveryReport[];
}

/**
 * What printer.command answers: for G-code the printer's reply lines up to
 * its `ok` (`lines`); for the byte dialects how many bytes were written.
 */
export interface PrinterCommandResult {
  printer: string;
  /** The control message that carried the command. */
  ref: string;
  lines?: string[] | undefined;
  written?: number | undefined;
}

/** What token.revoke answers; `closed` counts the connections it ended (4006 REVOKED). */
export interface RevokedToken {
  id: string;
  revoked: true;
  closed: number;
}

/** What device.remove answers; `closed` counts the device's connections it ended (4006 REVOKED). */
export interface RemovedDevice {
  id: string;
  removed: true;
  closed: number;
}

/** The result of every op, by op: a typed client is `request<O>(op: O, …): Promise<ClientResults[O]>`. */
export interface ClientResults {
  hello: ServerInfo;
  ping: 'pong';
  'devices.list': DeviceView[];
  'printers.list': PrinterView[];
  'printer.get': PrinterView;
  'job.submit': JobView;
  'job.get': JobView;
  'jobs.list': JobView[];
  'job.cancel': JobView;
  'job.pause': JobView;
  'job.resume': JobView;
  'job.data': JobData;
  'job.reprint': JobView;
  'printer.pause': { printer: string; paused: true; jobs: JobView[] };
  'printer.resume': { printer: string; paused: false; jobs: JobView[] };
  'printer.cancel': { printer: string; canceled: JobView[] };
  'printer.command': PrinterCommandResult;
  'printer.sgd': SgdResult;
  'control.send': ControlResult;
  'token.issue': IssuedToken;
  'token.revoke': RevokedToken;
  'clients.list': ClientView[];
  'device.remove': RemovedDevice;
  subscribe: Snapshot;
  unsubscribe: { subscribed: false };
}

type SameKeys<A, B> = [Exclude<A, B>, Exclude<B, A>] extends [never, never] ? true : false;
type Holds<T extends true> = T;
/** Checked when compiled: every op has a result type in ClientResults, and every result type an op. */
export type ResultsCoverOps = Holds<SameKeys<keyof ClientResults, ClientRequestBody['op']>>;

export type ClientEvent =
  | { event: 'job.updated'; job: JobView }
  | { event: 'device.online'; device: DeviceView }
  | { event: 'device.offline'; device: DeviceView }
  | { event: 'device.status'; device: DeviceView }
  /** Since 1.6: the device was removed (device.remove), online or not; `device` is its last view. Its printers go with it. */
  | { event: 'device.removed'; device: DeviceView }
  | { event: 'printer.status'; printer: PrinterView }
  | { event: 'control.delivered'; ref: string; reports: DeliveryReport[] }
  | { event: 'client.connected'; client: ClientView }
  | { event: 'client.disconnected'; client: ClientView };

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
    id = requestId(o); // a bad id throws here, and id stays null
    const body = requestBody(op, o, maxData);
    return body === undefined ? undefined : ({ ...body, id } as ClientRequest);
  });
  return { ...result, id };
}

/**
 * Decodes a request that is already a parsed value (the REST transport builds
 * one from the path, the query and the body). Same checks as the text form.
 */
export function decodeClientValue(value: unknown, maxData: number): Decoded<ClientRequest> & { id: RequestId } {
  if (!isObj(value) || typeof value['op'] !== 'string') {
    return { ok: false, error: protocolError('BAD_MESSAGE', 'expected an object with a string "op"'), id: null };
  }
  const o = value;
  const id = safeId(o);
  if (valueNestsDeeper(o, MAX_JSON_DEPTH)) return { ok: false, error: tooDeepError(), id };
  try {
    const body = requestBody(o['op'] as string, o, maxData);
    if (body === undefined) return { ok: false, error: protocolError('UNKNOWN_TYPE', (o['op'] as string).slice(0, 64)), id };
    return { ok: true, value: { ...body, id: requestId(o) } as ClientRequest, id };
  } catch (e) {
    if (e instanceof FieldError) return { ok: false, error: e.error, id };
    throw e;
  }
}

function safeId(o: Obj): RequestId {
  try {
    return requestId(o);
  } catch {
    return null;
  }
}

function exactlyOne(o: Obj, keys: readonly string[]): string {
  const given = keys.filter((k) => o[k] !== undefined && o[k] !== null);
  if (given.length !== 1) throw new FieldError(protocolError(given.length === 0 ? 'MISSING_FIELD' : 'BAD_FIELD', `exactly one of ${keys.join(', ')}`));
  return given[0] as string;
}

function jobSubmit(o: Obj, maxData: number): Extract<ClientRequestBody, { op: 'job.submit' }> {
  const kind = exactlyOne(o, ['data', 'text', 'lines']);
  const eol = o['eol'] === undefined || o['eol'] === null ? undefined : oneOf(o, 'eol', EOLS);
  const encoding = o['encoding'] === undefined || o['encoding'] === null ? undefined : oneOf(o, 'encoding', TEXT_ENCODINGS);
  if (kind === 'data' && (eol !== undefined || encoding !== undefined)) {
    throw new FieldError(protocolError('BAD_FIELD', 'eol and encoding apply to text and lines, not to base64 data'));
  }
  let lines: string[] | undefined;
  if (kind === 'lines') {
    lines = arr(o, 'lines', JOB_LINES_MAX) as string[];
    if (!lines.every((l) => typeof l === 'string')) throw new FieldError(protocolError('BAD_FIELD', 'lines must be an array of strings'));
  }
  return {
    op: 'job.submit', printer: str(o, 'printer', 200),
    data: kind === 'data' ? str(o, 'data', maxData) : undefined,
    text: kind === 'text' ? str(o, 'text', maxData) : undefined,
    lines, eol, encoding, key: optStr(o, 'key', 128), resume: optBool(o, 'resume'), name: optJobName(o),
  };
}

/** A job's name: 1 to JOB_NAME_MAX characters, none of them a control character (it is shown on one line). */
function optJobName(o: Obj): string | undefined {
  const name = optStr(o, 'name', JOB_NAME_MAX);
  if (name !== undefined && (name.length === 0 || /\p{Cc}/u.test(name))) {
    throw new FieldError(protocolError('BAD_FIELD', `name must be 1 to ${JOB_NAME_MAX} characters without control characters`));
  }
  return name;
}

function printerCommand(o: Obj): Extract<ClientRequestBody, { op: 'printer.command' }> {
  const kind = exactlyOne(o, ['data', 'bytes']);
  return {
    op: 'printer.command', printer: str(o, 'printer', 200),
    data: kind === 'data' ? str(o, 'data', PRINTER_COMMAND_MAX) : undefined,
    // base64 of at most PRINTER_COMMAND_MAX bytes
    bytes: kind === 'bytes' ? str(o, 'bytes', Math.ceil(PRINTER_COMMAND_MAX / 3) * 4) : undefined,
    emergency: optBool(o, 'emergency'), timeout: optInt(o, 'timeout', 1, PRINTER_COMMAND_TIMEOUT_MAX_MS),
  };
}

function printerSgd(o: Obj): Extract<ClientRequestBody, { op: 'printer.sgd' }> {
  const kind = exactlyOne(o, ['get', 'set']);
  const printer = str(o, 'printer', 200);
  const timeout = optInt(o, 'timeout', 1, SGD_TIMEOUT_MAX_MS);
  const name = (n: unknown): string => {
    if (typeof n !== 'string' || n.length === 0 || n.length > SGD_NAME_MAX || !/^[\x21-\x7e]+$/.test(n) || n.includes('"')) {
      throw new FieldError(protocolError('BAD_FIELD', `SGD names are 1 to ${SGD_NAME_MAX} printable characters without spaces or quotes`));
    }
    return n;
  };
  if (kind === 'get') {
    const names = arr(o, 'get', SGD_NAMES_MAX);
    if (names.length === 0) throw new FieldError(protocolError('BAD_FIELD', 'get must name at least one setting'));
    return { op: 'printer.sgd', printer, get: names.map(name), timeout };
  }
  const set = optObj(o, 'set') ?? {};
  const entries = Object.entries(set);
  if (entries.length === 0 || entries.length > SGD_NAMES_MAX) throw new FieldError(protocolError('BAD_FIELD', `set must hold 1 to ${SGD_NAMES_MAX} settings`));
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || v.length > SGD_VALUE_MAX) throw new FieldError(protocolError('BAD_FIELD', `set values are strings of at most ${SGD_VALUE_MAX} characters`));
    out[name(k)] = v;
  }
  return { op: 'printer.sgd', printer, set: out, timeout };
}

function scopeList(o: Obj): Scope[] | undefined {
  if (o['scopes'] === undefined || o['scopes'] === null) return undefined;
  const list = arr(o, 'scopes', SCOPES.length * 2);
  if (list.length === 0) throw new FieldError(protocolError('BAD_FIELD', 'scopes must name at least one scope'));
  for (const s of list) {
    if (typeof s !== 'string' || !(SCOPES as readonly string[]).includes(s)) {
      // Never String(s): an object with a hostile toString would throw here.
      const named = typeof s === 'string' ? JSON.stringify(s.slice(0, 32)) : `a ${s === null ? 'null' : typeof s}`;
      throw new FieldError(protocolError('BAD_FIELD', `scopes: ${named} is not one of ${SCOPES.join(', ')}`));
    }
  }
  return [...new Set(list as Scope[])];
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
      return { op, compact: optBool(o, 'compact'), coalesce: optBool(o, 'coalesce') };
    case 'unsubscribe':
      return { op };
    case 'devices.list':
      return { op, tag: optStr(o, 'tag', 64) };
    case 'job.submit':
      return jobSubmit(o, maxData);
    case 'job.get':
      return { op, job: str(o, 'job', 128) };
    case 'job.cancel':
      return { op, job: str(o, 'job', 128) };
    case 'job.pause':
      return { op, job: str(o, 'job', 128) };
    case 'job.resume':
      return { op, job: str(o, 'job', 128) };
    case 'job.data':
      return { op, job: str(o, 'job', 128) };
    case 'job.reprint':
      return { op, job: str(o, 'job', 128), printer: optStr(o, 'printer', 200), name: optJobName(o), key: optStr(o, 'key', 128) };
    case 'printer.pause':
      return { op, printer: str(o, 'printer', 200) };
    case 'printer.resume':
      return { op, printer: str(o, 'printer', 200) };
    case 'printer.cancel':
      return { op, printer: str(o, 'printer', 200) };
    case 'jobs.list':
      return {
        op, printer: optStr(o, 'printer', 200), state: o['state'] === undefined || o['state'] === null ? undefined : oneOf(o, 'state', JOB_STATES),
        q: optStr(o, 'q', JOB_NAME_MAX), limit: optInt(o, 'limit', 1, 1000),
      };
    case 'control.send':
      return { op, to: target(o), name: str(o, 'name', 64), args: optObj(o, 'args') ?? {}, timeout: optInt(o, 'timeout', 1, 60_000) };
    case 'printer.get':
      return { op, printer: str(o, 'printer', 200) };
    case 'printer.command':
      return printerCommand(o);
    case 'printer.sgd':
      return printerSgd(o);
    case 'token.issue':
      return { op, ttl: optInt(o, 'ttl', 1, TOKEN_TTL_MAX_S), label: optStr(o, 'label', 64), scopes: scopeList(o) };
    case 'token.revoke':
      return { op, token: str(o, 'token', 256) };
    case 'clients.list':
      return { op };
    case 'device.remove':
      return { op, device: str(o, 'device', 128) };
    default:
      return undefined;
  }
}

export function okReply(re: RequestId, result: unknown): string {
  return JSON.stringify({ re, ok: true, result } satisfies ClientReply);
}

/** okReply for a result already encoded: several replies that share one result (a snapshot) encode it once. */
export function okReplyEncoded(re: RequestId, resultJson: string): string {
  return `{"re":${JSON.stringify(re)},"ok":true,"result":${resultJson}}`;
}

export function errorReply(re: RequestId, error: ProtocolError): string {
  return JSON.stringify({ re, ok: false, error } satisfies ClientReply);
}

export function encodeEvent(e: ClientEvent): string {
  return JSON.stringify(e);
}

