// Text messages between a device (bridge) and the server on /v1/device.
// Every message is a JSON object whose "t" names its type. Job data itself
// travels in binary frames (frames.ts); these messages set up, acknowledge
// and finish jobs around it.
//
// A session: device connects (id + token in the upgrade), sends hello; the
// server answers welcome (or closes VERSION). Then, per printer port, the
// server offers one job at a time with job.start; the device answers
// job.accept telling how many bytes of that job it already holds and how many
// reached the printer, the server streams data frames from there, never more
// than `window` bytes beyond the last job.ack, and the device ends the job
// with job.done or job.fail. Either side may ping; any message counts as
// proof of life.
//
// Since 1.1: a device reports job.state when the printer holds a job (paper
// out, cover open: `paused`) and when it goes on (`printing`); the server can
// hold and release a job on the device with job.pause / job.resume; port
// status may carry temperatures; a port says whether its dialect can confirm
// that a job was printed (`confirms`), as opposed to merely handed over.

import { type ErrorCode, isErrorCode } from './errors.js';
import {
  arr, bool, decodeWith, int, isObj, num, oneOf, optBool, optInt, optObj, optStr, str, strArr, version,
  type Decoded, type Obj, FieldError,
} from './fields.js';
import { protocolError } from './errors.js';
import type { Version } from './version.js';

export const DIALECTS = ['raw', 'escpos', 'tspl', 'zpl', 'gcode'] as const;
export type Dialect = (typeof DIALECTS)[number];

export const PRINTER_STATES = ['online', 'offline', 'busy', 'paper-out', 'paper-low', 'cover-open', 'error', 'unknown'] as const;
export type PrinterState = (typeof PRINTER_STATES)[number];

export const LED_PATTERNS = ['off', 'on', 'no-network', 'no-server', 'refused', 'online', 'printing', 'printer-error', 'identify'] as const;
export type LedPattern = (typeof LED_PATTERNS)[number];

export interface PortInfo {
  readonly port: number;
  readonly dialect: Dialect;
  readonly name?: string | undefined;
  /** True when job.done means the printer confirmed the job, not only that the bytes reached it. */
  readonly confirms?: boolean | undefined;
}

export const DEVICE_JOB_STATES = ['printing', 'paused'] as const;
export type DeviceJobState = (typeof DEVICE_JOB_STATES)[number];

export interface Temperature {
  /** e.g. "T0", "B" (bed), "head". */
  readonly name: string;
  readonly current: number;
  readonly target?: number | undefined;
}

export interface PortStatus {
  readonly port: number;
  readonly state: PrinterState;
  readonly detail?: string | undefined;
  /** Id of the job on this port, if any. */
  readonly job?: string | undefined;
  readonly temps?: Temperature[] | undefined;
}

export interface HeldJob {
  readonly id: string;
  readonly port: number;
  readonly received: number;
  readonly written: number;
}

export type DeviceMessage =
  | {
      t: 'hello';
      v: Version;
      id: string;
      fw: string;
      caps: string[];
      /** Credit window in bytes per job. */
      window: number;
      /** Largest data frame payload the device can take. */
      maxChunk: number;
      ports: PortInfo[];
    }
  | { t: 'ping' }
  | { t: 'pong' }
  | { t: 'job.accept'; id: string; received: number; written: number; fresh: boolean }
  | { t: 'job.ack'; id: string; written: number }
  | { t: 'job.done'; id: string }
  | { t: 'job.state'; id: string; state: DeviceJobState; code?: ErrorCode | undefined; message?: string | undefined }
  | { t: 'job.fail'; id: string; code: ErrorCode; message: string }
  | { t: 'status'; ports: PortStatus[]; led: LedPattern; uptime: number; heap?: number | undefined; rssi?: number | undefined }
  | { t: 'control.result'; ref: string; ok: boolean; code?: ErrorCode | undefined; message?: string | undefined; data?: Obj | undefined }
  | { t: 'error'; code: ErrorCode; message: string };

export type ServerMessage =
  | { t: 'welcome'; v: Version; hb: number; time: number }
  | { t: 'ping' }
  | { t: 'pong' }
  /** `resume` (since 1.1): the job allows continuing a G-code print that stalled while the link was down. */
  | { t: 'job.start'; id: string; stream: number; port: number; size: number; resume?: boolean | undefined }
  | { t: 'job.cancel'; id: string }
  | { t: 'job.pause'; id: string }
  | { t: 'job.resume'; id: string }
  | { t: 'control'; ref: string; name: string; args: Obj }
  | { t: 'error'; code: ErrorCode; message: string };

const ID_MAX = 128;
/** The most printer ports one device may announce in hello (and report status of). */
export const PORTS_MAX = 16;
/** The longest printer name a hello may carry. */
export const PORT_NAME_MAX = 64;

/**
 * Characters of a control.result's `data` as JSON. What devices answer is
 * small (a status is under 1 KiB, a G-code answer at most 16 lines); the
 * bound keeps a broadcast report, which carries every device's data, from
 * growing with whatever one device chooses to send.
 */
export const CONTROL_DATA_MAX = 8 * 1024;

function controlData(o: Obj): Obj | undefined {
  const data = optObj(o, 'data');
  // Depth is already bounded (decodeWith), so this stringify cannot overflow the stack.
  if (data !== undefined && JSON.stringify(data).length > CONTROL_DATA_MAX) {
    throw new FieldError(protocolError('BAD_FIELD', `data must be at most ${CONTROL_DATA_MAX} characters as JSON`));
  }
  return data;
}

function errorCode(o: Obj, key: string): ErrorCode {
  const v = str(o, key, 64);
  if (!isErrorCode(v)) throw new FieldError(protocolError('BAD_FIELD', `${key} is not a known error code`));
  return v;
}

function portInfo(item: unknown): PortInfo {
  if (!isObj(item)) throw new FieldError(protocolError('BAD_FIELD', 'ports must hold objects'));
  return {
    port: int(item, 'port', 0, 255), dialect: oneOf(item, 'dialect', DIALECTS), name: optStr(item, 'name', PORT_NAME_MAX),
    confirms: optBool(item, 'confirms'),
  };
}

function temperature(item: unknown): Temperature {
  if (!isObj(item)) throw new FieldError(protocolError('BAD_FIELD', 'temps must hold objects'));
  return { name: str(item, 'name', 16), current: num(item, 'current'), target: item['target'] === undefined ? undefined : num(item, 'target') };
}

function portStatus(item: unknown): PortStatus {
  if (!isObj(item)) throw new FieldError(protocolError('BAD_FIELD', 'ports must hold objects'));
  return {
    port: int(item, 'port', 0, 255),
    state: oneOf(item, 'state', PRINTER_STATES),
    detail: optStr(item, 'detail', 256),
    job: optStr(item, 'job', ID_MAX),
    temps: item['temps'] === undefined ? undefined : arr(item, 'temps', 8).map(temperature),
  };
}

export function decodeDeviceMessage(text: string): Decoded<DeviceMessage> {
  return decodeWith<DeviceMessage>(text, 't', (t, o) => {
    switch (t) {
      case 'hello':
        return {
          t, v: version(o, 'v'), id: str(o, 'id', ID_MAX), fw: str(o, 'fw', 64), caps: strArr(o, 'caps', 32, 32),
          window: int(o, 'window', 64, 1 << 24), maxChunk: int(o, 'maxChunk', 16, 1 << 20),
          ports: arr(o, 'ports', PORTS_MAX).map(portInfo),
        };
      case 'ping':
        return { t };
      case 'pong':
        return { t };
      case 'job.accept':
        return { t, id: str(o, 'id', ID_MAX), received: int(o, 'received'), written: int(o, 'written'), fresh: bool(o, 'fresh') };
      case 'job.ack':
        return { t, id: str(o, 'id', ID_MAX), written: int(o, 'written') };
      case 'job.done':
        return { t, id: str(o, 'id', ID_MAX) };
      case 'job.fail':
        return { t, id: str(o, 'id', ID_MAX), code: errorCode(o, 'code'), message: str(o, 'message', 512) };
      case 'job.state':
        return {
          t, id: str(o, 'id', ID_MAX), state: oneOf(o, 'state', DEVICE_JOB_STATES),
          code: o['code'] === undefined ? undefined : errorCode(o, 'code'), message: optStr(o, 'message', 512),
        };
      case 'status':
        return {
          t, ports: arr(o, 'ports', PORTS_MAX).map(portStatus), led: oneOf(o, 'led', LED_PATTERNS), uptime: int(o, 'uptime'),
          heap: optInt(o, 'heap'), rssi: optInt(o, 'rssi', -200, 0),
        };
      case 'control.result': {
        const ok = bool(o, 'ok');
        return {
          t, ref: str(o, 'ref', ID_MAX), ok, code: ok ? undefined : errorCode(o, 'code'),
          message: optStr(o, 'message', 512), data: controlData(o),
        };
      }
      case 'error':
        return { t, code: errorCode(o, 'code'), message: str(o, 'message', 512) };
      default:
        return undefined;
    }
  });
}

export function decodeServerMessage(text: string): Decoded<ServerMessage> {
  return decodeWith<ServerMessage>(text, 't', (t, o) => {
    switch (t) {
      case 'welcome':
        return { t, v: version(o, 'v'), hb: int(o, 'hb', 0), time: int(o, 'time') };
      case 'ping':
        return { t };
      case 'pong':
        return { t };
      case 'job.start':
        return {
          t, id: str(o, 'id', ID_MAX), stream: int(o, 'stream', 0, 0xffff), port: int(o, 'port', 0, 255), size: int(o, 'size', 0, 0xffffffff),
          resume: optBool(o, 'resume'),
        };
      case 'job.cancel':
        return { t, id: str(o, 'id', ID_MAX) };
      case 'job.pause':
        return { t, id: str(o, 'id', ID_MAX) };
      case 'job.resume':
        return { t, id: str(o, 'id', ID_MAX) };
      case 'control':
        return { t, ref: str(o, 'ref', ID_MAX), name: str(o, 'name', 64), args: optObj(o, 'args') ?? {} };
      case 'error':
        return { t, code: errorCode(o, 'code'), message: str(o, 'message', 512) };
      default:
        return undefined;
    }
  });
}

/**
 * The ref of a control.result that failed to decode (data too deep or too
 * large, a bad field), read with two linear searches instead of a parse,
 * which such a message may not survive. The receiver answers that control
 * as failed at once instead of letting it wait for its timeout; a wrong
 * guess can only name a control this same device was asked to answer.
 */
export function controlResultRef(text: string): string | undefined {
  // Made per call: a preloaded module may not keep a RegExp (see test/architecture.test.ts).
  if (!/"t"\s*:\s*"control\.result"/.test(text)) return undefined;
  return /"ref"\s*:\s*"([^"\\]{1,128})"/.exec(text)?.[1];
}

/** Encoding is plain JSON; the function exists so the type checker sees every message we send. */
export function encodeDeviceMessage(m: DeviceMessage): string {
  return JSON.stringify(m);
}

export function encodeServerMessage(m: ServerMessage): string {
  return JSON.stringify(m);
}

