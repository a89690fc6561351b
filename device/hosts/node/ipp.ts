// A small IPP/1.1 client (RFC 8010 encoding, RFC 8011 operations, the CUPS
// extensions CUPS-Get-Printers and CUPS-Get-Devices) over HTTP, enough for
// the bridge's CUPS ports: print a raw document, follow its job, read a
// queue's state, list the queues and the network printers CUPS finds.
// Requests and answers are bounded; a peer that sends more, or nothing in
// time, is an IppError, never a hang.

import http from 'node:http';

export const OP = {
  printJob: 0x0002,
  cancelJob: 0x0008,
  getJobAttributes: 0x0009,
  getPrinterAttributes: 0x000b,
  cupsGetPrinters: 0x4002,
  cupsGetDevices: 0x400b,
} as const;

/** Job states (RFC 8011 §5.3.7). */
export const JOB_STATE = { pending: 3, held: 4, processing: 5, stopped: 6, canceled: 7, aborted: 8, completed: 9 } as const;
/** Printer states (RFC 8011 §5.4.12). */
export const PRINTER_STATE = { idle: 3, processing: 4, stopped: 5 } as const;

export const TAG = {
  operation: 0x01,
  job: 0x02,
  end: 0x03,
  printer: 0x04,
  integer: 0x21,
  boolean: 0x22,
  enum: 0x23,
  begCollection: 0x34,
  endCollection: 0x37,
  memberAttrName: 0x4a,
  name: 0x42,
  keyword: 0x44,
  uri: 0x45,
  charset: 0x47,
  language: 0x48,
  mimeType: 0x49,
} as const;

export type IppValue = number | boolean | string;

/** One attribute group of an answer: the job's, the printer's (one per printer for CUPS-Get-Printers). */
export interface IppGroup {
  readonly tag: number;
  readonly attrs: Map<string, IppValue[]>;
}

export interface IppResponse {
  /** 0x0000–0x00ff successful; 0x0400… client errors; 0x0500… server errors. */
  readonly status: number;
  readonly groups: readonly IppGroup[];
}

/** Where CUPS listens: a host and port (IPP over TCP) or a Unix socket path. */
export type IppServer = { readonly host: string; readonly port: number } | { readonly socketPath: string };

export interface IppAttr {
  readonly tag: number;
  readonly name: string;
  readonly values: readonly (string | number | boolean)[];
}

export class IppError extends Error {}

/** CUPS answered, with an IPP status that is not success (see statusName). */
export class IppStatusError extends IppError {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** CUPS answered at the HTTP level with something other than 200: 401 or 403 when its policy keeps the operation from this user. */
export class IppHttpError extends IppError {
  constructor(readonly httpStatus: number, message: string) {
    super(message);
  }
}

export const STATUS_NOT_FOUND = 0x0406;

const MAX_RESPONSE = 1 << 20;
const REQUEST_TIMEOUT_MS = 10_000;

/** CUPS_SERVER as lp reads it (HOST[:PORT] or /path/to/socket); localhost:631 when unset. */
export function cupsServer(value = process.env['CUPS_SERVER']): IppServer {
  if (value === undefined || value === '') return { host: 'localhost', port: 631 };
  if (value.startsWith('/')) return { socketPath: value };
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(value);
  const port = m?.[2] === undefined ? 631 : Number(m[2]);
  if (!m || port < 1 || port > 65535) throw new TypeError(`CUPS_SERVER ${JSON.stringify(value)}: expected HOST[:PORT] or /path/to/socket`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

export function describeServer(s: IppServer): string {
  return 'socketPath' in s ? s.socketPath : `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
}

/** The ipp:// URI CUPS knows a queue by. */
export function printerUri(s: IppServer, queue: string): string {
  const authority = 'socketPath' in s ? 'localhost' : describeServer(s);
  return `ipp://${authority}/printers/${encodeURIComponent(queue)}`;
}

let nextRequestId = 1;

export function encodeRequest(op: number, attrs: readonly IppAttr[], data?: Uint8Array): Uint8Array {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x0101, 0);
  head.writeUInt16BE(op, 2);
  head.writeUInt32BE(nextRequestId++ & 0x7fffffff || 1, 4);
  parts.push(head, Buffer.from([TAG.operation]));
  const all: IppAttr[] = [
    { tag: TAG.charset, name: 'attributes-charset', values: ['utf-8'] },
    { tag: TAG.language, name: 'attributes-natural-language', values: ['en'] },
    ...attrs,
  ];
  for (const a of all) {
    a.values.forEach((v, i) => parts.push(encodeValue(a.tag, i === 0 ? a.name : '', v)));
  }
  parts.push(Buffer.from([TAG.end]));
  if (data !== undefined) parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return Buffer.concat(parts);
}

function encodeValue(tag: number, name: string, v: string | number | boolean): Buffer {
  let value: Buffer;
  if (typeof v === 'number') {
    value = Buffer.alloc(4);
    value.writeInt32BE(v);
  } else if (typeof v === 'boolean') value = Buffer.from([v ? 1 : 0]);
  else value = Buffer.from(v, 'utf8');
  const nameBytes = Buffer.from(name, 'utf8');
  if (value.length > 0xffff || nameBytes.length > 0xffff) throw new RangeError(`IPP attribute ${name} too long`);
  const b = Buffer.alloc(5 + nameBytes.length + value.length);
  b[0] = tag;
  b.writeUInt16BE(nameBytes.length, 1);
  nameBytes.copy(b, 3);
  b.writeUInt16BE(value.length, 3 + nameBytes.length);
  value.copy(b, 5 + nameBytes.length);
  return b;
}

/** Throws an IppError naming what is wrong when `bytes` is not an IPP answer. */
export function decodeResponse(bytes: Uint8Array): IppResponse {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 9) throw new IppError(`IPP answer of ${b.length} bytes is too short`);
  const status = b.readUInt16BE(2);
  const groups: IppGroup[] = [];
  let group: IppGroup | undefined;
  let last: IppValue[] | undefined;
  let depth = 0;
  let at = 8;
  const need = (n: number): void => {
    if (at + n > b.length) throw new IppError('IPP answer ends in the middle of an attribute');
  };
  for (;;) {
    need(1);
    const tag = b[at]!;
    at++;
    if (tag === TAG.end) break;
    if (tag < 0x10) {
      group = { tag, attrs: new Map() };
      groups.push(group);
      last = undefined;
      continue;
    }
    need(2);
    const nameLen = b.readUInt16BE(at);
    need(2 + nameLen + 2);
    const name = b.toString('utf8', at + 2, at + 2 + nameLen);
    const valueLen = b.readUInt16BE(at + 2 + nameLen);
    at += 4 + nameLen;
    need(valueLen);
    const raw = b.subarray(at, at + valueLen);
    at += valueLen;
    // Collections (media-col and the like) are skipped whole: the bridge reads none.
    if (tag === TAG.begCollection) depth++;
    if (depth > 0) {
      if (tag === TAG.endCollection) depth--;
      continue;
    }
    if (group === undefined) throw new IppError('IPP attribute outside any group');
    const value = decodeValue(tag, raw);
    if (nameLen === 0) {
      if (last !== undefined && value !== undefined) last.push(value);
      continue;
    }
    last = value === undefined ? [] : [value];
    group.attrs.set(name, last);
  }
  return { status, groups };
}

function decodeValue(tag: number, raw: Buffer): IppValue | undefined {
  if ((tag === TAG.integer || tag === TAG.enum) && raw.length === 4) return raw.readInt32BE(0);
  if (tag === TAG.boolean && raw.length === 1) return raw[0] !== 0;
  if (tag >= 0x41 && tag <= 0x49) return raw.toString('utf8');
  // Out-of-band values (no-value, unknown) and the types the bridge does not read.
  return undefined;
}

export function statusOk(status: number): boolean {
  return status < 0x0100;
}

const STATUS_NAMES: Record<number, string> = {
  0x0400: 'client-error-bad-request',
  0x0401: 'client-error-forbidden',
  0x0402: 'client-error-not-authenticated',
  0x0403: 'client-error-not-authorized',
  0x0404: 'client-error-not-possible',
  0x0406: 'client-error-not-found',
  0x040a: 'client-error-document-format-not-supported',
  0x0500: 'server-error-internal-error',
  0x0501: 'server-error-operation-not-supported',
  0x0506: 'server-error-not-accepting-jobs',
  0x0507: 'server-error-busy',
};

export function statusName(status: number): string {
  return STATUS_NAMES[status] ?? `IPP status 0x${status.toString(16).padStart(4, '0')}`;
}

/**
 * Sends one IPP request to `path` (/printers/NAME, /jobs, /); rejects with an
 * IppError on a transport or format failure. `timeoutMs` is how long the
 * connection may stay silent (default 10 s): longer for an operation CUPS
 * is known to take its time over.
 */
export function ippRequest(server: IppServer, path: string, body: Uint8Array, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<IppResponse> {
  const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = http.request({
      ...('socketPath' in server ? { socketPath: server.socketPath } : { host: server.host, port: server.port }),
      method: 'POST',
      path,
      headers: { 'content-type': 'application/ipp', 'content-length': body.byteLength },
      timeout: timeoutMs,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    const fail = (why: string): void => reject(new IppError(`CUPS at ${describeServer(server)}: ${why}`));
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (e) => fail(e.message));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new IppHttpError(res.statusCode ?? 0, `CUPS at ${describeServer(server)}: HTTP ${res.statusCode ?? '?'} for ${path}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE) res.destroy(new Error(`answer larger than ${MAX_RESPONSE} bytes`));
        else chunks.push(c);
      });
      res.on('error', (e) => fail(e.message));
      res.on('end', () => {
        try {
          resolve(decodeResponse(Buffer.concat(chunks)));
        } catch (e) {
          fail((e as Error).message);
        }
      });
    });
    req.end(body);
  });
}


/** The first value of an attribute in the first group with tag `groupTag`. */
export function attr(res: IppResponse, groupTag: number, name: string): IppValue | undefined {
  return res.groups.find((g) => g.tag === groupTag)?.attrs.get(name)?.[0];
}

export function attrs(res: IppResponse, groupTag: number, name: string): IppValue[] {
  return res.groups.find((g) => g.tag === groupTag)?.attrs.get(name) ?? [];
}
