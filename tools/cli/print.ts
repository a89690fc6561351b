// `printbridge print`: send a file to a printer through the server's client
// API and follow the job to its end, so a script learns whether it printed.
// The job outlives our connection: when the server restarts mid-wait we
// connect again and keep following it (tools/client/follow-job.ts), so the
// exit status is the job's own; only a server that stays away gives the
// distinct "outcome unknown" status.

import { readFile } from 'node:fs/promises';
import { EOLS, TEXT_ENCODINGS, type JobView } from '../../protocol/client-messages.js';
import { clientUrl, connectClient, ConnectionLost, type Client } from '../client/client.js';
import { followJob, isFinalJob } from '../client/follow-job.js';
import { EXIT_FAILURE, EXIT_OK, integer, note, parse, required, UsageError, type Command } from './command.js';
import { progressLine, RateMeter, summaryLine } from './progress.js';

const HELP = `Usage: printbridge print --printer DEVICE/PORT [--text] [options] FILE

Submits FILE (or - for stdin) as one job and waits until it is done, failed or
canceled. Prints the job id on stdout (or the final job as JSON with --json).
When stderr is a terminal, a progress line shows the state, percent, bytes
the printer has taken, the rate and the time left, then a summary.
If the connection to the server is lost while waiting (a server restart),
it connects again with backoff and keeps following the job, for up to
--reconnect-timeout seconds per outage.
Exit status: 0 done, 1 failed or canceled, or refused before it was queued
(the error code and message are printed), 2 usage error, 3 the job was
submitted but its outcome is unknown: the server did not come back in time
or refused us when it did (the job id is still printed; ask
'printbridge jobs get ID' later).

Options:
  --server URL          server address, http://H:P (env PRINTBRIDGE_SERVER,
                        default http://127.0.0.1:8080)
  --token T             client token (env PRINTBRIDGE_CLIENT_TOKEN, then
                        PRINTBRIDGE_ADMIN_TOKEN)
  --printer DEV/PORT    the printer, e.g. shop-1/0
  --key K               idempotency key: resubmitting with the same key
                        returns the existing job instead of printing twice
  --text                FILE is UTF-8 text: the server encodes it for the
                        printer (--encoding) with the line ends --eol asks
  --eol E               with --text: lf, crlf, cr or none (default: as is)
  --encoding E          with --text: utf8, latin1, ascii or cp437 (default
                        utf8); a character it lacks fails with UNENCODABLE
  --json                print the final job as JSON on stdout
  --no-wait             return as soon as the job is queued
  --reconnect-timeout S how long to keep trying to reach the server again
                        after the connection was lost while waiting
                        (default 60; 0: give up at once)
  -h, --help            show this help`;

/** The job was submitted and may still print, but we could not learn how it ended. */
export const EXIT_UNKNOWN = 3;
const DEFAULT_RECONNECT_S = 60;

async function readInput(file: string): Promise<Buffer> {
  if (file !== '-') return readFile(file);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function isJobView(v: unknown): v is JobView {
  return typeof v === 'object' && v !== null && typeof (v as JobView).id === 'string' && typeof (v as JobView).state === 'string';
}

/** The server answers job.submit with the job, bare or as {job}. */
function submittedJob(result: unknown): JobView {
  if (isJobView(result)) return result;
  const inner = (result as { job?: unknown } | null)?.job;
  if (isJobView(inner)) return inner;
  throw new Error(`unexpected job.submit reply: ${JSON.stringify(result).slice(0, 200)}`);
}

function oneOfOption<const T extends string>(value: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`);
  return value as T;
}

/** A redrawn line on stderr while stderr is a terminal; nothing otherwise. */
class Progress {
  private readonly live = process.stderr.isTTY === true;
  private readonly meter = new RateMeter();
  private readonly began = Date.now();
  private shown = false;

  show(job: JobView): void {
    if (!this.live) return;
    const now = Date.now();
    this.meter.sample(now, job.written);
    process.stderr.write(`\r\x1b[2K${progressLine(job, this.meter.rate(), process.stderr.columns || 80)}`);
    this.shown = true;
  }

  /** Ends the line; with the final job, replaces it with a summary. */
  end(job?: JobView): void {
    if (!this.shown) return;
    process.stderr.write(job === undefined ? '\n' : `\r\x1b[2K${summaryLine(job, Date.now() - this.began)}\n`);
    this.shown = false;
  }
}

export const print: Command = {
  name: 'print',
  summary: 'print a file on a printer and wait for the outcome',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, {
      server: { type: 'string' },
      token: { type: 'string' },
      printer: { type: 'string' },
      key: { type: 'string' },
      text: { type: 'boolean' },
      eol: { type: 'string' },
      encoding: { type: 'string' },
      json: { type: 'boolean' },
      'no-wait': { type: 'boolean' },
      'reconnect-timeout': { type: 'string' },
    }, true);
    const env = process.env;
    const printer = required(values.printer, '--printer DEVICE/PORT');
    if (!/^[^/]+\/\d+$/.test(printer)) throw new UsageError(`--printer must be DEVICE/PORT, e.g. shop-1/0, not ${JSON.stringify(printer)}`);
    const token = required(values.token ?? (env['PRINTBRIDGE_CLIENT_TOKEN'] || env['PRINTBRIDGE_ADMIN_TOKEN']), '--token (or PRINTBRIDGE_CLIENT_TOKEN)');
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'FILE is required (- for stdin)' : 'give exactly one FILE');
    let url: string;
    try {
      url = clientUrl(values.server ?? env['PRINTBRIDGE_SERVER'] ?? 'http://127.0.0.1:8080');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const wait = !values['no-wait'];
    if (!values.text && (values.eol !== undefined || values.encoding !== undefined)) throw new UsageError('--eol and --encoding apply to --text');
    const eol = oneOfOption(values.eol, '--eol', EOLS);
    const encoding = oneOfOption(values.encoding, '--encoding', TEXT_ENCODINGS);
    const reconnectFor = (integer(values['reconnect-timeout'], '--reconnect-timeout', 0, 86_400) ?? DEFAULT_RECONNECT_S) * 1000;

    const data = await readInput(positionals[0]!);
    const client = await connectClient(url, token);
    const progress = new Progress();
    let current: Client | undefined;
    try {
      const early: JobView[] = [];
      let collecting = true;
      client.on('event', (e) => {
        if (collecting && e.event === 'job.updated') early.push(e.job);
      });

      // Subscribe before submitting so no update of our job can slip by.
      if (wait) await client.request('subscribe');
      const body = values.text
        ? { text: new TextDecoder('utf-8', { fatal: false }).decode(data), eol, encoding }
        : { data: data.toString('base64') };
      let job: JobView;
      try {
        job = submittedJob(await client.request('job.submit', { printer, ...body, key: values.key }));
      } catch (e) {
        if (!(e instanceof ConnectionLost)) throw e;
        // The server may have queued it before it went: we cannot tell.
        const retry = values.key === undefined ? 'see printbridge jobs list' : `print again with --key ${values.key}, which cannot print it twice`;
        note(`printbridge print: ${e.code}: connection lost before the server answered; the job may have been queued (${retry})`);
        return EXIT_UNKNOWN;
      }
      if (!wait) {
        process.stdout.write(values.json ? `${JSON.stringify(job)}\n` : `${job.id}\n`);
        return EXIT_OK;
      }
      collecting = false;
      // Updates that came with the reply may be older or newer than it: a final one wins, else the newest.
      let latest = job;
      for (const e of early.splice(0)) {
        if (e.id !== job.id || isFinalJob(latest)) continue;
        if (isFinalJob(e) || e.updated >= latest.updated) latest = e;
      }
      progress.show(latest);

      const followed = await followJob(client, latest, {
        url, token, reconnectFor,
        onUpdate: (j) => progress.show(j),
        onLost: (e) => {
          progress.end();
          if (reconnectFor > 0) note(`printbridge print: ${e.message}; reconnecting for up to ${reconnectFor / 1000} s to follow job ${job.id}`);
        },
        onBack: (j) => note(`printbridge print: reconnected; job ${j.id} is ${j.state}`),
      });
      current = followed.current === client ? undefined : followed.current;
      const end = followed.job;
      progress.end(followed.final ? end : undefined);
      process.stdout.write(values.json ? `${JSON.stringify(end)}\n` : `${end.id}\n`);
      if (!followed.final) {
        note(`printbridge print: ${followed.error.code}: ${followed.error.message}; job ${end.id} was ${end.state} when we lost it and its outcome is unknown (printbridge jobs get ${end.id})`);
        return EXIT_UNKNOWN;
      }
      if (end.state === 'done') return EXIT_OK;
      const why = end.error ? `${end.error.code}: ${end.error.message}` : 'no reason given';
      note(`printbridge print: job ${end.id} ${end.state}: ${why}`);
      return EXIT_FAILURE;
    } finally {
      progress.end();
      await current?.close();
      await client.close();
    }
  },
};
