// `printbridge command DEV/PORT DATA`: one raw command to a printer through
// its bridge (printer.command), and the printer's answer where the dialect
// delimits one: a G-code line's reply lines up to `ok`; for the byte
// dialects, how many bytes were written.

import { PRINTER_COMMAND_MAX, PRINTER_COMMAND_TIMEOUT_MAX_MS } from '../../protocol/client-messages.js';
import { formatBytes } from '../../protocol/units.js';
import { EXIT_OK, integer, parse, UsageError, type Command } from './command.js';
import { noMore, printerId, SERVER_HELP, SERVER_OPTIONS, withClient } from './server-options.js';
import { printJson, printText } from './table.js';

const HELP = `Usage: printbridge command DEVICE/PORT DATA [--emergency] [--hex] [--json]

Sends DATA to the printer between jobs (a G-code line such as M105, a status
query) and prints its answer: for gcode the lines the printer answered up to
its "ok" (temperatures for M105, positions for M114…), one per line; for the
byte dialects (raw, escpos, tspl, zpl) how much was written ("3 B written").
At most ${formatBytes(PRINTER_COMMAND_MAX)}; text is sent as latin1.
Exit status: 0 answered, 1 refused or failed (PORT_BUSY while a job prints,
DEVICE_OFFLINE, TIMEOUT, UNKNOWN_PRINTER…), 2 usage error.

Examples:
  printbridge command shop-3d/0 M105
  printbridge command shop-3d/0 M112 --emergency
  printbridge command shop-1/0 --hex 100401      (ESC/POS DLE EOT 1)

Options:
${SERVER_HELP}
  --emergency           gcode: jump the queue, even during a print (M112,
                        M108, M410)
  --hex                 DATA is bytes in hex (spaces allowed), not text
  --timeout MS          how long to wait for the answer, 1-${PRINTER_COMMAND_TIMEOUT_MAX_MS}
                        (server default 30000)
  --json                print the answer as JSON
  -h, --help            show this help`;

function hexBytes(text: string): string {
  const hex = text.replace(/\s+/g, '');
  if (hex === '' || !/^([0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError(`--hex DATA must be pairs of hex digits, not ${JSON.stringify(text)}`);
  if (hex.length / 2 > PRINTER_COMMAND_MAX) throw new UsageError(`DATA is more than ${formatBytes(PRINTER_COMMAND_MAX)}`);
  return Buffer.from(hex, 'hex').toString('base64');
}

export const printerCommand: Command = {
  name: 'command',
  summary: 'send one raw command (a G-code line, a status query) and print the answer',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...SERVER_OPTIONS, emergency: { type: 'boolean' }, hex: { type: 'boolean' }, timeout: { type: 'string' }, json: { type: 'boolean' },
    }, true);
    const printer = printerId(positionals[0], 'the printer');
    const data = positionals[1];
    if (data === undefined || data === '') throw new UsageError('DATA is required (e.g. M105)');
    noMore(positionals, 2);
    if (!values.hex && data.length > PRINTER_COMMAND_MAX) throw new UsageError(`DATA is more than ${PRINTER_COMMAND_MAX} characters`);
    const timeout = integer(values.timeout, '--timeout', 1, PRINTER_COMMAND_TIMEOUT_MAX_MS);
    const payload = values.hex ? { bytes: hexBytes(data) } : { data };
    return withClient(values, async (client) => {
      const answer = await client.request('printer.command', { printer, ...payload, emergency: values.emergency || undefined, timeout });
      if (values.json) printJson(answer);
      else if (answer.lines !== undefined) printText(answer.lines.join('\n'));
      else printText(`${formatBytes(answer.written ?? 0)} written`);
      return EXIT_OK;
    });
  },
};
