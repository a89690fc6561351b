// `printbridge cancel JOB`: the short form of `jobs cancel`; with --printer
// it cancels every unfinished job of one printer (`printers cancel`).

import { EXIT_OK, parse, UsageError, type Command } from './command.js';
import { jobs } from './jobs.js';
import { noMore, printerId, SERVER_HELP, SERVER_OPTIONS, withClient } from './server-options.js';
import { printJson, printText } from './table.js';

const HELP = `Usage:
  printbridge cancel JOB [--json]
  printbridge cancel --printer DEVICE/PORT [--json]

Cancels one job (the same as 'printbridge jobs cancel JOB'), or every
unfinished job of a printer. Prints the job id and its new state (with
--printer: the ids of the canceled jobs, one per line); --json prints the job
(with --printer: {printer, canceled: [jobs]}).
Exit status: 0 canceled, 1 refused (UNKNOWN_JOB, JOB_FINISHED…) or failed,
2 usage error.

Options:
${SERVER_HELP}
  --printer DEV/PORT    cancel every unfinished job of this printer
  --json                print JSON instead of text
  -h, --help            show this help`;

export const cancel: Command = {
  name: 'cancel',
  summary: 'cancel a job, or every job of a printer',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, { ...SERVER_OPTIONS, printer: { type: 'string' }, json: { type: 'boolean' } }, true);
    if (values.printer === undefined) {
      if (positionals.length === 0) throw new UsageError('JOB is required (or --printer DEVICE/PORT)');
      noMore(positionals, 1);
      return jobs.run(['cancel', ...args]);
    }
    if (positionals.length > 0) throw new UsageError('give a JOB or --printer, not both');
    const printer = printerId(values.printer, '--printer');
    return withClient(values, async (client) => {
      const result = await client.request('printer.cancel', { printer });
      if (values.json) printJson(result);
      else printText(result.canceled.map((j) => `${j.id} canceled`).join('\n'));
      return EXIT_OK;
    });
  },
};
