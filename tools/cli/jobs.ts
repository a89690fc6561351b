// `printbridge jobs list|get|cancel|pause|resume`: the job history and the
// job controls of the server's client API, for people and scripts.

import { JOB_STATES, type JobState, type JobView } from '../../protocol/client-messages.js';
import { clientUrl, connectClient, type Client } from '../client/client.js';
import { EXIT_OK, integer, parse, required, UsageError, type Command } from './command.js';

const HELP = `Usage:
  printbridge jobs list [--printer DEVICE/PORT] [--state S] [--limit N] [--json]
  printbridge jobs get ID [--json]
  printbridge jobs cancel|pause|resume ID [--json]

Lists jobs newest first, shows one, or cancels, pauses or resumes one through
the server. A paused job gets no more data and its bridge holds it; resume
lets it go on. Exit status: 0 done, 1 refused or failed (the error code is
printed: UNKNOWN_JOB, JOB_FINISHED, ILLEGAL_TRANSITION…), 2 usage error.

Options:
  --server URL          server address, http://H:P (env PRINTBRIDGE_SERVER,
                        default http://127.0.0.1:8080)
  --token T             client token (env PRINTBRIDGE_CLIENT_TOKEN, then
                        PRINTBRIDGE_ADMIN_TOKEN)
  --printer DEV/PORT    list: only this printer's jobs
  --state S             list: only jobs in this state: queued, sending,
                        printing, paused, done, failed, canceled
  --limit N             list: at most N jobs, 1-1000 (default 100)
  --json                print JSON (list: an array) instead of text
  -h, --help            show this help`;

const ACTIONS = ['list', 'get', 'cancel', 'pause', 'resume'] as const;
type Action = (typeof ACTIONS)[number];

function when(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function table(jobs: JobView[]): string {
  const head = ['ID', 'PRINTER', 'STATE', 'PROGRESS', 'SIZE', 'CREATED', 'ERROR'];
  const rows = jobs.map((j) => [
    j.id, j.printer, j.held === true && j.state === 'paused' ? 'paused (held)' : j.state, `${Math.floor(j.progress * 100)}%`,
    String(j.size), when(j.created), j.error === undefined ? '' : j.error.code,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function details(j: JobView): string {
  const lines: [string, string | undefined][] = [
    ['id', j.id],
    ['printer', j.printer],
    ['state', j.held === true ? `${j.state} (held by a client)` : j.state],
    ['progress', `${j.written} / ${j.size} bytes (${Math.floor(j.progress * 100)}%)`],
    ['key', j.key],
    ['error', j.error === undefined ? undefined : `${j.error.code}: ${j.error.message}`],
    ['created', when(j.created)],
    ['started', j.started === undefined ? undefined : when(j.started)],
    ['finished', j.finished === undefined ? undefined : when(j.finished)],
    ['updated', when(j.updated)],
  ];
  return lines.filter(([, v]) => v !== undefined).map(([k, v]) => `${`${k}:`.padEnd(10)}${v}`).join('\n');
}

export const jobs: Command = {
  name: 'jobs',
  summary: 'list jobs, show one, or cancel, pause or resume one',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, {
      server: { type: 'string' },
      token: { type: 'string' },
      printer: { type: 'string' },
      state: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    }, true);
    const [action, id, ...extra] = positionals;
    if (action === undefined) throw new UsageError(`say ${ACTIONS.join(', ')}`);
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown action ${JSON.stringify(action)}; use ${ACTIONS.join(', ')}`);
    const act = action as Action;
    if (act === 'list') {
      if (id !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(id)}`);
    } else {
      if (id === undefined) throw new UsageError(`jobs ${act} needs a job id`);
      if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
      for (const flag of ['printer', 'state', 'limit'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} only applies to list`);
    }
    const printer = values.printer;
    if (printer !== undefined && !/^[^/]+\/\d+$/.test(printer)) throw new UsageError(`--printer must be DEVICE/PORT, e.g. shop-1/0, not ${JSON.stringify(printer)}`);
    const state = values.state;
    if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state)) {
      throw new UsageError(`--state must be one of ${JOB_STATES.join(', ')}, not ${JSON.stringify(state)}`);
    }
    const limit = integer(values.limit, '--limit', 1, 1000);
    const env = process.env;
    const token = required(values.token ?? (env['PRINTBRIDGE_CLIENT_TOKEN'] || env['PRINTBRIDGE_ADMIN_TOKEN']), '--token (or PRINTBRIDGE_CLIENT_TOKEN)');
    let url: string;
    try {
      url = clientUrl(values.server ?? env['PRINTBRIDGE_SERVER'] ?? 'http://127.0.0.1:8080');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }

    const client: Client = await connectClient(url, token);
    try {
      if (act === 'list') {
        const list = await client.request('jobs.list', { printer, state: state as JobState | undefined, limit });
        process.stdout.write(values.json ? `${JSON.stringify(list)}\n` : list.length === 0 ? '' : `${table(list)}\n`);
        return EXIT_OK;
      }
      const op = act === 'get' ? 'job.get' : act === 'cancel' ? 'job.cancel' : act === 'pause' ? 'job.pause' : 'job.resume';
      const job = await client.request(op, { job: id as string });
      process.stdout.write(values.json ? `${JSON.stringify(job)}\n` : act === 'get' ? `${details(job)}\n` : `${job.id} ${job.state}\n`);
      return EXIT_OK;
    } finally {
      await client.close();
    }
  },
};
