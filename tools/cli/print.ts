// `printbridge print`: send a file to a printer through the server's client
// API and follow the job to its end, so a script learns whether it printed.
// The job outlives our connection: when the server restarts mid-wait we
// connect again and keep following it (tools/client/follow-job.ts), so the
// exit status is the job's own; only a server that stays away gives the
// distinct "outcome unknown" status.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { EOLS, JOB_NAME_MAX, TEXT_ENCODINGS, type JobView } from '../../protocol/client-messages.js';
import { RateMeter } from '../../protocol/units.js';
import { connectClient, ConnectionLost, type Client } from '../client/client.js';
import { followJob, isFinalJob, type FollowOutcome } from '../client/follow-job.js';
import { EXIT_FAILURE, EXIT_OK, integer, note, parse, untilSignal, UsageError, type Command } from './command.js';
import { progressLine, summaryLine } from './progress.js';
import { clientToken, printerId, SERVER_HELP, SERVER_OPTIONS, serverUrl } from './server-options.js';
import { didYouMean } from './suggest.js';

const HELP = `Usage: printbridge print --printer DEVICE/PORT [--text] [options] FILE

Submits FILE (or - for stdin) as one job and waits until it is done, failed or
canceled. Prints the job id on stdout (or the final job as JSON with --json).
When stderr is a terminal, a progress line shows the state, percent, bytes
the printer has taken, the rate and the time left, then a summary.
If the connection to the server is lost while waiting (a server restart),
it connects again with backoff and keeps following the job, for up to
--reconnect-timeout seconds per outage. Ctrl-C stops following (exit 0);
the job goes on printing ('printbridge cancel ID' cancels it).
Exit status: 0 done (or no longer followed after Ctrl-C), 1 failed or
canceled, or refused before it was queued (the error code and message are
printed), 2 usage error, 3 the job was submitted but its outcome is
unknown: the server did not come back in time or refused us when it did
(the job id is still printed; ask 'printbridge jobs get ID' later).

Options:
${SERVER_HELP}
  --printer DEV/PORT    the printer, e.g. shop-1/0
  --name N              what the job is called in lists and on the dashboard
                        (default: FILE's name; none for stdin)
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
  if (file !== '-') {
    try {
      return await readFile(file);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as NodeJS.ErrnoException).code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
      throw new UsageError(`cannot read FILE ${JSON.stringify(file)}: ${why} (- reads stdin)`);
    }
  }
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
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}${didYouMean(value, allowed)}`);
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

  /** Ctrl-C: the line becomes where the job was left, and how to reach it later. */
  leave(job: JobView): void {
    if (!this.shown) return;
    process.stderr.write(`\r\x1b[2Kjob ${job.id} ${job.state}: no longer followed, it goes on ('printbridge cancel ${job.id}' cancels it)\n`);
    this.shown = false;
  }
}

/** The file's name as a job name: what people recognise it by, within what the server takes. */
function defaultName(file: string): string | undefined {
  if (file === '-') return undefined;
  const name = basename(file).replace(/\p{Cc}/gu, '').slice(0, JOB_NAME_MAX);
  return name === '' ? undefined : name;
}

export const print: Command = {
  name: 'print',
  summary: 'print a file on a printer and wait for the outcome',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...SERVER_OPTIONS,
      printer: { type: 'string' },
      name: { type: 'string' },
      key: { type: 'string' },
      text: { type: 'boolean' },
      eol: { type: 'string' },
      encoding: { type: 'string' },
      json: { type: 'boolean' },
      'no-wait': { type: 'boolean' },
      'reconnect-timeout': { type: 'string' },
    }, true);
    const printer = printerId(values.printer, '--printer');
    const token = clientToken(values);
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'FILE is required (- for stdin)' : `give exactly one FILE, not ${positionals.length}`);
    const url = serverUrl(values);
    if (values.name === '') throw new UsageError('--name needs some text');
    const file = positionals[0]!;
    const name = values.name ?? defaultName(file);
    const wait = !values['no-wait'];
    if (!values.text && (values.eol !== undefined || values.encoding !== undefined)) throw new UsageError('--eol and --encoding apply to --text');
    const eol = oneOfOption(values.eol, '--eol', EOLS);
    const encoding = oneOfOption(values.encoding, '--encoding', TEXT_ENCODINGS);
    const reconnectFor = (integer(values['reconnect-timeout'], '--reconnect-timeout', 0, 86_400) ?? DEFAULT_RECONNECT_S) * 1000;

    const data = await readInput(file);
    // Ctrl-C from here on ends the wait for the job, quietly, never the job;
    // before the job is submitted it ends the command, as a failure. (Taken
    // now, so that it cannot fall between the submission and the wait.)
    let interrupted = false;
    const signalled = untilSignal().then(() => {
      interrupted = true;
    });
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
      if (interrupted) {
        note('printbridge print: interrupted; nothing was submitted');
        return EXIT_FAILURE;
      }
      const body = values.text
        ? { text: new TextDecoder('utf-8', { fatal: false }).decode(data), eol, encoding }
        : { data: data.toString('base64') };
      let job: JobView;
      try {
        job = submittedJob(await client.request('job.submit', { printer, ...body, key: values.key, name }));
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

      // After Ctrl-C, what still follows the job must stay quiet.
      let following = true;
      const follow = followJob(client, latest, {
        url, token, reconnectFor,
        onUpdate: (j) => {
          latest = j;
          if (following) progress.show(j);
        },
        onLost: (e) => {
          if (!following) return;
          progress.end();
          if (reconnectFor > 0) note(`printbridge print: ${e.message}; reconnecting for up to ${reconnectFor / 1000} s to follow job ${job.id}`);
        },
        onBack: (j) => {
          if (following) note(`printbridge print: reconnected; job ${j.id} is ${j.state}`);
        },
      });
      const followed: (FollowOutcome & { current: Client | undefined }) | undefined = await Promise.race([follow, signalled.then(() => undefined)]);
      following = false;
      if (followed === undefined) {
        progress.leave(latest);
        process.stdout.write(values.json ? `${JSON.stringify(latest)}\n` : `${latest.id}\n`);
        return EXIT_OK;
      }
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
