// The four things the bridge asks CUPS, as IPP operations (../ipp.ts): hand
// over a raw document, read a job's state, read a queue's state, list the
// queues. A raw document is sent as application/vnd.cups-raw, so CUPS runs
// no filter and the printer gets the bytes as they are.

import { attr, attrs, encodeRequest, IppError, ippRequest, IppStatusError, OP, STATUS_NOT_FOUND, printerUri, statusName, statusOk, TAG, type IppResponse, type IppServer } from '../ipp.js';

/** The requesting-user-name of every request: CUPS shows it as the jobs' owner. */
export const USER = 'printbridge';

export interface QueueState {
  /** 3 idle, 4 processing, 5 stopped (PRINTER_STATE). */
  readonly state: number;
  readonly reasons: readonly string[];
  readonly message: string | undefined;
  readonly accepting: boolean;
}

export interface JobState {
  /** 3 pending … 9 completed (JOB_STATE). */
  readonly state: number;
  readonly reasons: readonly string[];
  readonly message: string | undefined;
}

export interface QueueInfo extends QueueState {
  readonly name: string;
  /** Where CUPS sends the queue's jobs (socket://…, usb://…, ipp://…); absent when CUPS does not tell. */
  readonly deviceUri: string | undefined;
  readonly info: string | undefined;
  readonly makeModel: string | undefined;
}

/** `res` when CUPS answered success; otherwise an IppStatusError naming `what` and CUPS's status and message. */
export function checked(res: IppResponse, what: string): IppResponse {
  if (!statusOk(res.status)) {
    const message = attr(res, TAG.operation, 'status-message');
    throw new IppStatusError(res.status, `${what}: ${statusName(res.status)}${typeof message === 'string' && message !== '' ? ` (${message})` : ''}`);
  }
  return res;
}

const strings = (values: readonly unknown[]): string[] => values.filter((v): v is string => typeof v === 'string');
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Hands `data` to queue `queue` as one raw job; resolves with the CUPS job id. */
export async function printRaw(server: IppServer, queue: string, data: Uint8Array, jobName: string): Promise<number> {
  const body = encodeRequest(OP.printJob, [
    { tag: TAG.uri, name: 'printer-uri', values: [printerUri(server, queue)] },
    { tag: TAG.name, name: 'requesting-user-name', values: [USER] },
    { tag: TAG.name, name: 'job-name', values: [jobName] },
    { tag: TAG.mimeType, name: 'document-format', values: ['application/vnd.cups-raw'] },
  ], data);
  const res = checked(await ippRequest(server, `/printers/${encodeURIComponent(queue)}`, body), `CUPS queue ${queue} refused the job`);
  const id = attr(res, TAG.job, 'job-id');
  if (typeof id !== 'number') throw new IppError(`CUPS queue ${queue} took the job but gave no job-id`);
  return id;
}

export async function jobState(server: IppServer, queue: string, jobId: number): Promise<JobState> {
  const body = encodeRequest(OP.getJobAttributes, [
    { tag: TAG.uri, name: 'printer-uri', values: [printerUri(server, queue)] },
    { tag: TAG.integer, name: 'job-id', values: [jobId] },
    { tag: TAG.name, name: 'requesting-user-name', values: [USER] },
    { tag: TAG.keyword, name: 'requested-attributes', values: ['job-state', 'job-state-reasons', 'job-printer-state-message'] },
  ]);
  const res = checked(await ippRequest(server, '/jobs', body), `CUPS job ${jobId}`);
  const state = attr(res, TAG.job, 'job-state');
  if (typeof state !== 'number') throw new IppError(`CUPS job ${jobId}: no job-state in the answer`);
  return { state, reasons: strings(attrs(res, TAG.job, 'job-state-reasons')), message: text(attr(res, TAG.job, 'job-printer-state-message')) };
}

/** Asks CUPS to cancel a job it holds (a job the server canceled after the hand-over); errors are the caller's to log. */
export async function cancelJob(server: IppServer, queue: string, jobId: number): Promise<void> {
  const body = encodeRequest(OP.cancelJob, [
    { tag: TAG.uri, name: 'printer-uri', values: [printerUri(server, queue)] },
    { tag: TAG.integer, name: 'job-id', values: [jobId] },
    { tag: TAG.name, name: 'requesting-user-name', values: [USER] },
  ]);
  checked(await ippRequest(server, '/jobs', body), `cancel CUPS job ${jobId}`);
}

const QUEUE_ATTRS = ['printer-name', 'printer-state', 'printer-state-reasons', 'printer-state-message', 'printer-is-accepting-jobs', 'device-uri', 'printer-info', 'printer-make-and-model'];

function queueState(g: Map<string, unknown[]>): QueueState {
  const state = g.get('printer-state')?.[0];
  return {
    state: typeof state === 'number' ? state : 0,
    reasons: strings(g.get('printer-state-reasons') ?? []),
    message: text(g.get('printer-state-message')?.[0]),
    accepting: g.get('printer-is-accepting-jobs')?.[0] !== false,
  };
}

/** The queue's state; rejects with an IppError when CUPS cannot be reached or has no such queue. */
export async function getQueue(server: IppServer, queue: string): Promise<QueueState> {
  const body = encodeRequest(OP.getPrinterAttributes, [
    { tag: TAG.uri, name: 'printer-uri', values: [printerUri(server, queue)] },
    { tag: TAG.name, name: 'requesting-user-name', values: [USER] },
    { tag: TAG.keyword, name: 'requested-attributes', values: QUEUE_ATTRS },
  ]);
  const res = checked(await ippRequest(server, `/printers/${encodeURIComponent(queue)}`, body), `CUPS queue ${queue}`);
  const g = res.groups.find((x) => x.tag === TAG.printer);
  if (g === undefined) throw new IppError(`CUPS queue ${queue}: no printer attributes in the answer`);
  return queueState(g.attrs);
}

/** Every queue the CUPS server has (CUPS-Get-Printers), network printers it found included. */
export async function listQueues(server: IppServer): Promise<QueueInfo[]> {
  const body = encodeRequest(OP.cupsGetPrinters, [
    { tag: TAG.name, name: 'requesting-user-name', values: [USER] },
    { tag: TAG.keyword, name: 'requested-attributes', values: QUEUE_ATTRS },
  ]);
  const res = await ippRequest(server, '/', body);
  // CUPS answers client-error-not-found when it has no queue at all.
  if (res.status === STATUS_NOT_FOUND) return [];
  checked(res, 'CUPS-Get-Printers');
  return res.groups
    .filter((g) => g.tag === TAG.printer)
    .flatMap((g) => {
      const name = text(g.attrs.get('printer-name')?.[0]);
      if (name === undefined) return [];
      return [{
        name,
        ...queueState(g.attrs),
        deviceUri: text(g.attrs.get('device-uri')?.[0]),
        info: text(g.attrs.get('printer-info')?.[0]),
        makeModel: text(g.attrs.get('printer-make-and-model')?.[0]),
      }];
    });
}
