// REST at /api/v1: the client API for back-ends that would rather not hold
// a WebSocket ("a back-end with no browser open can print"). A thin
// transport: each route turns the method, the path, the query and the body
// into the same request object a WebSocket client sends, decodes it with the
// same decoder and hands it to the same dispatcher (hub.api). Nothing about
// what an op does is decided here.
//
// Every request carries `Authorization: Bearer <admin or client token>`.
// Answers are JSON: the op's result as it is (2xx), or {error: {code,
// message}} with an HTTP status chosen from the code (httpStatus below).
// Bodies are bounded: JSON by the client frame limit, raw job bytes by
// maxJobBytes (413 JOB_TOO_LARGE).
//
// GET /jobs/{id}/data answers job.data's JSON, or with `Accept:
// application/octet-stream` (or `?raw=1`) the job's bytes themselves, of any
// size: JSON carries at most maxClientBuffer (REPLY_TOO_LARGE beyond).
//
// POST /jobs and POST /jobs/{id}/reprint may wait for the job to end
// (`?wait=done`, `?wait=N` or `Prefer: wait=N`, N in seconds, at most
// MAX_WAIT_S): 200 with the final job, or 202 with the job as it stands
// when the wait runs out.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeClientValue, type ClientEvent, type JobView } from '../../protocol/client-messages.js';
import { ERRORS, protocolError, type ErrorCode, type ProtocolError } from '../../protocol/errors.js';
import type { Obj } from '../../protocol/fields.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import type { Caller } from '../core/client-api.js';
import type { Listener } from '../core/events.js';
import type { Hub } from '../core/hub.js';
import { isFinal } from '../core/jobs.js';
import { jobView } from '../core/views.js';
import { PrintbridgeError } from '../errors.js';
import { clientFrameLimit } from '../limits.js';
import { bearer, header, type Authenticate } from './auth.js';
import { peerAddress, type TrustedProxies } from './peer-address.js';

export const API_PREFIX = '/api/v1';
/** `?wait=done` waits this long at most. */
export const DEFAULT_WAIT_S = 60;
export const MAX_WAIT_S = 300;

type Method = 'GET' | 'POST' | 'DELETE';
type Body = 'none' | 'json' | 'job';

interface Route {
  method: Method;
  /** Matched against the path after /api/v1; groups are the path parameters, URI-decoded. */
  path: RegExp;
  /** The request object for the dispatcher, from the path parameters, the query and the JSON body. */
  request(params: string[], query: URLSearchParams, body: Obj): Obj;
  body: Body;
  /** Status of a successful answer (default 200). */
  created?: boolean;
}

const SEG = '([^/]+)';
const PRINTER = `${SEG}/(\\d{1,3})`;

const ROUTES: readonly Route[] = [
  { method: 'GET', path: /^$/, body: 'none', request: () => ({ op: 'hello', v: [...PROTOCOL_VERSION] }) },
  { method: 'GET', path: /^\/devices$/, body: 'none', request: (_p, q) => ({ op: 'devices.list', tag: q.get('tag') ?? undefined }) },
  { method: 'DELETE', path: re(`/devices/${SEG}`), body: 'none', request: ([id]) => ({ op: 'device.remove', device: id }) },
  { method: 'GET', path: /^\/printers$/, body: 'none', request: () => ({ op: 'printers.list' }) },
  { method: 'GET', path: re(`/printers/${PRINTER}`), body: 'none', request: ([d, p]) => ({ op: 'printer.get', printer: `${d}/${p}` }) },
  ...(['pause', 'resume', 'cancel'] as const).map((action): Route => ({
    method: 'POST', path: re(`/printers/${PRINTER}/${action}`), body: 'json', request: ([d, p]) => ({ op: `printer.${action}`, printer: `${d}/${p}` }),
  })),
  {
    method: 'POST', path: re(`/printers/${PRINTER}/command`), body: 'json',
    request: ([d, p], _q, body) => ({ ...body, op: 'printer.command', printer: `${d}/${p}` }),
  },
  {
    method: 'POST', path: re(`/printers/${PRINTER}/sgd`), body: 'json',
    request: ([d, p], _q, body) => ({ ...body, op: 'printer.sgd', printer: `${d}/${p}` }),
  },
  {
    method: 'GET', path: /^\/jobs$/, body: 'none',
    request: (_p, q) => ({
      op: 'jobs.list', printer: q.get('printer') ?? undefined, state: q.get('state') ?? undefined, q: q.get('q') ?? undefined, limit: queryNumber(q, 'limit'),
    }),
  },
  { method: 'POST', path: /^\/jobs$/, body: 'job', created: true, request: (_p, _q, body) => ({ ...body, op: 'job.submit' }) },
  { method: 'GET', path: re(`/jobs/${SEG}`), body: 'none', request: ([id]) => ({ op: 'job.get', job: id }) },
  { method: 'GET', path: re(`/jobs/${SEG}/data`), body: 'none', request: ([id]) => ({ op: 'job.data', job: id }) },
  { method: 'POST', path: re(`/jobs/${SEG}/reprint`), body: 'json', created: true, request: ([id], _q, body) => ({ ...body, op: 'job.reprint', job: id }) },
  ...(['cancel', 'pause', 'resume'] as const).map((action): Route => ({
    method: 'POST', path: re(`/jobs/${SEG}/${action}`), body: 'json', request: ([id]) => ({ op: `job.${action}`, job: id }),
  })),
  { method: 'POST', path: /^\/control$/, body: 'json', request: (_p, _q, body) => ({ ...body, op: 'control.send' }) },
  { method: 'POST', path: /^\/tokens$/, body: 'json', created: true, request: (_p, _q, body) => ({ ...body, op: 'token.issue' }) },
  { method: 'DELETE', path: re(`/tokens/${SEG}`), body: 'none', request: ([id]) => ({ op: 'token.revoke', token: id }) },
  { method: 'GET', path: /^\/clients$/, body: 'none', request: () => ({ op: 'clients.list' }) },
];

function re(path: string): RegExp {
  return new RegExp(`^${path}$`);
}

/** The HTTP status for an error code: by the code where HTTP has a word for it, else by blame. */
export function httpStatus(code: ErrorCode): number {
  switch (code) {
    case 'UNAUTHORIZED':
    case 'TOKEN_EXPIRED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
    case 'UNKNOWN_DEVICE':
    case 'UNKNOWN_PRINTER':
    case 'UNKNOWN_JOB':
    case 'UNKNOWN_TOKEN':
    case 'UNKNOWN_TAG':
      return 404;
    case 'JOB_DATA_GONE':
      return 410;
    case 'REPLY_TOO_LARGE':
      return 406; // not as JSON: the bytes come with Accept: application/octet-stream
    case 'METHOD_NOT_ALLOWED':
      return 405;
    case 'FRAME_TOO_LARGE':
    case 'JOB_TOO_LARGE':
      return 413;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 415;
    case 'RATE_LIMITED':
      return 429;
    case 'DEVICE_OFFLINE':
    case 'QUEUE_FULL':
    case 'STORE_UNAVAILABLE':
      return 503;
    case 'TIMEOUT':
      return 504;
    default:
      break;
  }
  switch (ERRORS[code].blame) {
    case 'peer':
      return 400;
    case 'state':
      return 409;
    case 'printer':
    case 'device':
      return 502;
    case 'server':
      return 500;
  }
}

class HttpError {
  constructor(readonly error: ProtocolError, readonly headers: Record<string, string> = {}) {}
}

export function createRestApi(hub: Hub, authenticate: Authenticate, trustedProxies?: TrustedProxies): (req: IncomingMessage, res: ServerResponse, path: string) => void {
  const maxJson = clientFrameLimit(hub.limits);
  let waiting = 0;

  async function handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const who = authenticate(bearer(req));
    if (!who.ok) throw new HttpError({ code: who.code, message: who.message }, { 'www-authenticate': 'Bearer realm="printbridge"' });
    const caller: Caller = { auth: who.auth };

    const rest = path.slice(API_PREFIX.length);
    const matching = ROUTES.filter((r) => r.path.test(rest));
    if (matching.length === 0) throw new HttpError(protocolError('NOT_FOUND', `${API_PREFIX}${rest}`));
    const route = matching.find((r) => r.method === req.method);
    if (route === undefined) {
      const allow = matching.map((r) => r.method).join(', ');
      throw new HttpError(protocolError('METHOD_NOT_ALLOWED', `${req.method ?? '?'} ${path}; allowed: ${allow}`), { allow });
    }
    const params = (route.path.exec(rest) ?? []).slice(1).map(decodeSegment);
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const body = await readBody(req, route.body, query, maxJson, hub.limits.maxJobBytes);

    const decoded = decodeClientValue(route.request(params, query, body), maxJson);
    if (!decoded.ok) throw new HttpError(decoded.error);
    if (decoded.value.op === 'job.data' && wantsRaw(req, query)) {
      const { job, bytes } = await hub.api.jobBytes(decoded.value, caller);
      return sendBytes(res, job, bytes);
    }
    const result = await hub.api.perform(decoded.value, caller);

    if (decoded.value.op === 'job.submit' || decoded.value.op === 'job.reprint') {
      const job = result as JobView;
      const waitS = waitSeconds(req, query);
      res.setHeader('location', `${API_PREFIX}/jobs/${encodeURIComponent(job.id)}`);
      if (waitS === undefined) return send(res, 201, job);
      if (waiting >= hub.limits.maxClients) return send(res, 202, job); // bounded: too many waiting already
      waiting += 1;
      try {
        const final = await waitForJob(hub, job, waitS * 1000, res);
        res.setHeader('preference-applied', `wait=${waitS}`);
        return send(res, isFinal(final.state) ? 200 : 202, final);
      } finally {
        waiting -= 1;
      }
    }
    send(res, route.created === true ? 201 : 200, result);
  }

  return (req, res, path) => {
    handle(req, res, path).catch((e: unknown) => {
      let error: ProtocolError;
      let headers: Record<string, string> = {};
      if (e instanceof HttpError) {
        error = e.error;
        headers = e.headers;
      } else if (e instanceof PrintbridgeError) {
        error = e.toProtocol();
      } else {
        hub.log('error', 'REST request failed', { path, address: peerAddress(req, trustedProxies), error: e instanceof Error ? e.stack : String(e) });
        error = protocolError('INTERNAL');
      }
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      send(res, httpStatus(error.code), { error });
    });
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** The job's bytes as a file named after the job. */
function sendBytes(res: ServerResponse, job: JobView, bytes: Uint8Array): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(200, {
    'content-type': 'application/octet-stream', 'content-length': bytes.byteLength, 'cache-control': 'no-store',
    'content-disposition': contentDisposition(job.name ?? job.id),
  });
  // The bytes are in memory already; the socket takes them as the client reads.
  res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/**
 * `attachment` with the name twice (RFC 6266): `filename*` exactly, in UTF-8,
 * and `filename` for clients that read only that, with what is not plain
 * printable ASCII (and quotes, backslashes, path separators) as `_`.
 */
function contentDisposition(name: string): string {
  const plain = name.replace(/[^\x20-\x7e]|["\\/]/g, '_');
  const exact = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${plain}"; filename*=UTF-8''${exact}`;
}

/** `?raw=1|true` (or 0|false), else the Accept header: the bytes when it names application/octet-stream before any JSON. */
function wantsRaw(req: IncomingMessage, query: URLSearchParams): boolean {
  const raw = queryBool(query, 'raw');
  if (typeof raw === 'boolean') return raw;
  if (raw !== undefined) throw new HttpError(protocolError('BAD_FIELD', 'raw must be 1, true, 0 or false'));
  const types = (header(req, 'accept') ?? '').split(',').map((t) => t.split(';')[0]?.trim().toLowerCase());
  const bytes = types.indexOf('application/octet-stream');
  const json = types.indexOf('application/json');
  return bytes >= 0 && (json < 0 || bytes < json);
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(protocolError('BAD_FIELD', 'path has a malformed %-escape'));
  }
}

function queryNumber(q: URLSearchParams, key: string): number | string | undefined {
  const v = q.get(key);
  if (v === null) return undefined;
  return /^\d{1,15}$/.test(v) ? Number(v) : v; // anything else is refused by the decoder, naming the field
}

function queryBool(q: URLSearchParams, key: string): boolean | string | undefined {
  const v = q.get(key);
  if (v === null) return undefined;
  return v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v;
}

/** Seconds to hold a job submission, from `?wait=done|N` or `Prefer: wait=N`; undefined: do not wait. */
export function waitSeconds(req: IncomingMessage, query: URLSearchParams): number | undefined {
  const q = query.get('wait');
  const prefer = /(?:^|[,;\s])wait=(\d{1,6})\b/i.exec(header(req, 'prefer') ?? '')?.[1];
  const given = q === 'done' ? DEFAULT_WAIT_S : q !== null && /^\d{1,6}$/.test(q) ? Number(q) : prefer !== undefined ? Number(prefer) : undefined;
  if (q !== null && q !== 'done' && !/^\d{1,6}$/.test(q)) throw new HttpError(protocolError('BAD_FIELD', 'wait must be "done" or a number of seconds'));
  return given === undefined || given === 0 ? undefined : Math.min(given, MAX_WAIT_S);
}

/** Resolves with the job once it is final, or as it stands after `ms`, or when the caller hangs up. */
function waitForJob(hub: Hub, job: JobView, ms: number, res: ServerResponse): Promise<JobView> {
  if (isFinal(job.state)) return Promise.resolve(job);
  return new Promise((resolve) => {
    let last = job;
    const finish = (): void => {
      hub.events.remove(listener);
      cancelTimer();
      res.off('close', finish);
      resolve(last);
    };
    // A listener that only looks: it takes the job's updates from `wants` and never asks for the encoded text.
    const listener: Listener = {
      hears: (kind) => kind === 'job.updated',
      wants(e: ClientEvent): boolean {
        if (e.event === 'job.updated' && e.job.id === job.id) {
          last = e.job;
          if (isFinal(e.job.state)) finish();
        }
        return false;
      },
      send(): void {},
    };
    hub.events.add(listener);
    const cancelTimer = hub.clock.after(ms, finish);
    res.once('close', finish);
    // The job may have ended between the submit and now.
    const now = jobView(hub.jobs.get(job.id));
    if (isFinal(now.state)) {
      last = now;
      finish();
    }
  });
}

async function readBody(req: IncomingMessage, kind: Body, query: URLSearchParams, maxJson: number, maxJob: number): Promise<Obj> {
  const type = (header(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const declared = Number(header(req, 'content-length') ?? 'NaN');
  const empty = declared === 0 || (Number.isNaN(declared) && header(req, 'transfer-encoding') === undefined);
  if (kind === 'none' || empty) {
    if (!empty) req.resume(); // a body where none is expected is read and ignored, within the JSON bound
    if (kind === 'job' && empty) throw new HttpError(protocolError('MISSING_FIELD', 'a job needs a body: JSON (application/json) or bytes (application/octet-stream)'));
    return {};
  }
  if (kind === 'job' && type === 'application/octet-stream') {
    const bytes = await readBounded(req, maxJob, 'JOB_TOO_LARGE');
    return {
      printer: query.get('printer') ?? undefined, key: query.get('key') ?? undefined, resume: queryBool(query, 'resume'), name: query.get('name') ?? undefined,
      data: bytes.toString('base64'),
    };
  }
  if (type !== 'application/json') {
    const accepted = kind === 'job' ? 'application/json or application/octet-stream' : 'application/json';
    throw new HttpError(protocolError('UNSUPPORTED_MEDIA_TYPE', `${type || 'none'}; send ${accepted}`), { accept: accepted });
  }
  const text = (await readBounded(req, maxJson, 'FRAME_TOO_LARGE')).toString('utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(protocolError('BAD_JSON'));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(protocolError('BAD_MESSAGE', 'the body must be a JSON object'));
  const o = { ...(value as Obj) };
  delete o['op']; // the route names the op
  delete o['id'];
  return o;
}

/** Reads the whole body, refusing it (without reading on) once it passes `max` bytes. */
function readBounded(req: IncomingMessage, max: number, code: 'JOB_TOO_LARGE' | 'FRAME_TOO_LARGE'): Promise<Buffer> {
  const declared = Number(header(req, 'content-length') ?? 'NaN');
  const tooLarge = (): HttpError => new HttpError(protocolError(code, `the body exceeds ${max} bytes`), { connection: 'close' });
  if (declared > max) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
