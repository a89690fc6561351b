// `printbridge jobs list|get|cancel|pause|resume|reprint`: the job history
// and the job controls of the server's client API, for people and scripts.

import { JOB_STATES, type JobState, type JobView } from '../../protocol/client-messages.js';
import { formatBytes } from '../../protocol/units.js';
import { EXIT_OK, integer, parse, pickAction, UsageError, type Command } from './command.js';
import { jobProgress } from './printer-view.js';
import { didYouMean } from './suggest.js';
import { printerId, SERVER_HELP, SERVER_OPTIONS, withClient } from './server-options.js';
import { details, printJson, printText, table, when } from './table.js';

const HELP = `Usage:
  printbridge jobs list [--printer DEVICE/PORT] [--state S] [--search TEXT]
                        [--limit N] [--json]
  printbridge jobs get ID [--json]
  printbridge jobs cancel|pause|resume ID [--json]
  printbridge jobs reprint ID [--printer DEVICE/PORT] [--name N] [--json]

Lists jobs newest first, shows one, or cancels, pauses or resumes one through
the server. A paused job gets no more data and its bridge holds it; resume
lets it go on. 'reprint' submits the bytes of job ID again as a new job (on
its printer, or --printer), while the server still holds them, and prints
the new job's id and state. Exit status: 0 done, 1 refused or failed (the
error code is printed: UNKNOWN_JOB, UNKNOWN_PRINTER, JOB_FINISHED,
JOB_DATA_GONE, ILLEGAL_TRANSITION…), 2 usage error.

Options:
${SERVER_HELP}
  --printer DEV/PORT    list: only this printer's jobs; reprint: print there
  --state S             list: only jobs in this state: queued, sending,
                        printing, paused, done, failed, canceled
  --search TEXT         list: only jobs whose name holds TEXT (any case) or
                        whose id starts with it
  --limit N             list: at most N jobs, 1-1000 (default 100)
  --name N              reprint: the new job's name (default: the original's)
  --json                print JSON (list: an array) instead of text
  -h, --help            show this help`;

const ACTIONS = ['list', 'get', 'cancel', 'pause', 'resume', 'reprint'] as const;
type Action = (typeof ACTIONS)[number];

/** Which action each option belongs to, so a misplaced one is named. */
const ONLY: Record<string, readonly Action[]> = {
  printer: ['list', 'reprint'], state: ['list'], search: ['list'], limit: ['list'], name: ['reprint'],
};

function jobsTable(list: JobView[]): string {
  return table(
    ['ID', 'NAME', 'PRINTER', 'STATE', 'PROGRESS', 'SIZE', 'CREATED', 'ERROR'],
    list.map((j) => [
      j.id, j.name ?? '', j.printer, j.held === true && j.state === 'paused' ? 'paused (held)' : j.state, `${Math.floor(j.progress * 100)}%`,
      formatBytes(j.size), when(j.created), j.error === undefined ? '' : j.error.code,
    ]),
  );
}

function jobDetails(j: JobView): string {
  return details([
    ['id', j.id],
    ['name', j.name],
    ['printer', j.printer],
    ['state', j.held === true ? `${j.state} (held by a client)` : j.state],
    ['progress', jobProgress(j)],
    ['layer', j.layer === undefined ? undefined : String(j.layer)],
    ['line', j.line === undefined ? undefined : String(j.line)],
    ['key', j.key],
    ['error', j.error === undefined ? undefined : `${j.error.code}: ${j.error.message}`],
    ['created', when(j.created)],
    ['started', j.started === undefined ? undefined : when(j.started)],
    ['finished', j.finished === undefined ? undefined : when(j.finished)],
    ['updated', when(j.updated)],
  ]);
}

export const jobs: Command = {
  name: 'jobs',
  summary: 'list or search jobs, show one, cancel, pause, resume or reprint one',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...SERVER_OPTIONS,
      printer: { type: 'string' },
      state: { type: 'string' },
      search: { type: 'string' },
      limit: { type: 'string' },
      name: { type: 'string' },
      json: { type: 'boolean' },
    }, true);
    const [action, id, ...extra] = positionals;
    const act = pickAction(action, ACTIONS);
    for (const [flag, actions] of Object.entries(ONLY)) {
      if (values[flag as keyof typeof values] !== undefined && !actions.includes(act)) throw new UsageError(`--${flag} only applies to ${actions.join(' and ')}`);
    }
    if (act === 'list') {
      if (id !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(id)} (jobs list takes options only; jobs get ID shows one job)`);
    } else {
      if (id === undefined || id === '') throw new UsageError(`jobs ${act} needs a job id ('printbridge jobs list' lists them)`);
      if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
    }
    const printer = values.printer === undefined ? undefined : printerId(values.printer, '--printer');
    const state = values.state;
    if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state)) {
      throw new UsageError(`--state must be one of ${JOB_STATES.join(', ')}, not ${JSON.stringify(state)}${didYouMean(state, JOB_STATES)}`);
    }
    if (values.search === '') throw new UsageError('--search needs some text');
    const limit = integer(values.limit, '--limit', 1, 1000);
    if (values.name === '') throw new UsageError('--name needs some text');

    return withClient(values, async (client) => {
      if (act === 'list') {
        // The server refuses a printer it has never heard of (UNKNOWN_PRINTER):
        // an empty list is a known printer without jobs.
        const list = await client.request('jobs.list', { printer, state: state as JobState | undefined, q: values.search, limit });
        if (values.json) printJson(list);
        else printText(list.length === 0 ? '' : jobsTable(list));
        return EXIT_OK;
      }
      const job = act === 'reprint'
        ? await client.request('job.reprint', { job: id!, printer, name: values.name })
        : await client.request(act === 'get' ? 'job.get' : act === 'cancel' ? 'job.cancel' : act === 'pause' ? 'job.pause' : 'job.resume', { job: id! });
      if (values.json) printJson(job);
      else printText(act === 'get' ? jobDetails(job) : `${job.id} ${job.state}`);
      return EXIT_OK;
    });
  },
};
