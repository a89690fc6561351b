// `printbridge printers [list] | pause|resume|cancel DEV/PORT`: the printers
// the server knows (online or last known) and their queue controls.

import { EXIT_OK, parse, pickAction, UsageError, type Command } from './command.js';
import { printersTable } from './printer-view.js';
import { noMore, printerId, SERVER_HELP, SERVER_OPTIONS, withClient } from './server-options.js';
import { printJson, printText } from './table.js';

const HELP = `Usage:
  printbridge printers [list] [--online] [--json]
  printbridge printers pause|resume|cancel DEVICE/PORT [--json]

'list' (the default) shows every printer the server knows: those of online
devices with their live status, and the last known printers of offline ones.
'pause' holds the printer's queue (no job is offered until 'resume');
'cancel' ends every unfinished job of the printer.
Exit status: 0 done, 1 refused or failed (the error code is printed), 2 usage
error.

Options:
${SERVER_HELP}
  --online              list: only printers whose device is connected
  --json                print JSON (list: an array of printers) instead of text
  -h, --help            show this help`;

const ACTIONS = ['list', 'pause', 'resume', 'cancel'] as const;

export const printers: Command = {
  name: 'printers',
  summary: 'list printers with their status; pause, resume or cancel a queue',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, { ...SERVER_OPTIONS, online: { type: 'boolean' }, json: { type: 'boolean' } }, true);
    const action = pickAction(positionals[0] ?? 'list', ACTIONS);
    if (action === 'list') {
      noMore(positionals, 1);
      return withClient(values, async (client) => {
        let list = await client.request('printers.list');
        if (values.online) list = list.filter((p) => p.online);
        if (values.json) printJson(list);
        else printText(list.length === 0 ? '' : printersTable(list));
        return EXIT_OK;
      });
    }
    if (values.online) throw new UsageError('--online only applies to list');
    const printer = printerId(positionals[1], 'the printer');
    noMore(positionals, 2);
    const op = action === 'pause' ? 'printer.pause' : action === 'resume' ? 'printer.resume' : 'printer.cancel';
    return withClient(values, async (client) => {
      const result = (await client.request(op, { printer })) as { jobs?: unknown[]; canceled?: unknown[] };
      if (values.json) printJson(result);
      else if (action === 'cancel') printText(`${printer} canceled ${result.canceled?.length ?? 0} job(s)`);
      else printText(`${printer} ${action === 'pause' ? 'paused' : 'resumed'} (${result.jobs?.length ?? 0} job(s) affected)`);
      return EXIT_OK;
    });
  },
};
