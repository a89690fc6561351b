// `printbridge sgd SERIAL/0 NAME [VALUE]`: read or change a Zebra printer's
// settings (SGD) through the server, which asks the printer over its Weblink
// config channel (printer.sgd). One NAME reads it, NAME VALUE sets it, and
// --get reads several at once.

import { SGD_TIMEOUT_DEFAULT_MS, SGD_TIMEOUT_MAX_MS, type SgdResult } from '../../protocol/client-messages.js';
import { EXIT_FAILURE, EXIT_OK, integer, parse, UsageError, type Command } from './command.js';
import { printerId, SERVER_HELP, SERVER_OPTIONS, withClient } from './server-options.js';
import { details, printJson, printText } from './table.js';

const HELP = `Usage: printbridge sgd SERIAL/0 NAME [VALUE] [--json]
       printbridge sgd SERIAL/0 --get NAME... [--json]

Reads or changes a setting (SGD) of a Zebra printer that dials in over
Weblink, e.g. 50J000000001/0. With NAME alone it prints the setting's value;
with NAME VALUE it sets it and prints the value the printer now has (a
printer answers with the old value when it refuses a set; that is said on
stderr). With --get every argument after SERIAL/0 is a name to read, and the
answer is one "name: value" line each, as it is for a branch (odometer,
weblink.ip.conn1). An empty VALUE ("") is a value.
Most weblink.* settings take effect only after the printer resets.
Reading needs the print scope, setting devices:config.
Exit status: 0 answered, 1 refused or failed (a NAME the printer does not
know, UNKNOWN_PRINTER, UNSUPPORTED for a printer that is not on Weblink,
DEVICE_OFFLINE, TIMEOUT, FORBIDDEN…), 2 usage error.

Examples:
  printbridge sgd 50J000000001/0 appl.name
  printbridge sgd 50J000000001/0 device.location "back office"
  printbridge sgd 50J000000001/0 --get device.friendly_name \\
      odometer.total_label_count

Options:
${SERVER_HELP}
  --get                 read every NAME given (no VALUE)
  --timeout MS          how long the server waits for the printer's answer,
                        1-${SGD_TIMEOUT_MAX_MS} (server default ${SGD_TIMEOUT_DEFAULT_MS})
  --json                print the server's answer as JSON
  -h, --help            show this help`;

type Ask = { get: string[] } | { set: Record<string, string> };

/** The request from the positionals after SERIAL/0; every mistake is a usage error. */
function sgdRequest(args: string[], getMany: boolean): Ask {
  if (args.length === 0) throw new UsageError('NAME is required (e.g. appl.name)');
  for (const name of getMany ? args : args.slice(0, 1)) {
    // The printer takes the name inside JSON and inside quotes on its other ports.
    if (name === '' || /[\s"]/.test(name)) throw new UsageError(`NAME must be a setting name without spaces or quotes, not ${JSON.stringify(name)}`);
  }
  if (getMany) return { get: [...new Set(args)] };
  const extra = args[2];
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)} (to read several settings, use --get)`);
  const [name, value] = args as [string, string | undefined];
  return value === undefined ? { get: [name] } : { set: { [name]: value } };
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return '(unknown to the printer)';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * One value alone on its line, an empty one included, so `$(printbridge sgd …)`
 * gets exactly it. A name the printer does not know is a failure rather than
 * a placeholder a script would take for the value.
 */
function printValue(name: string, value: unknown): number {
  if (value === null || value === undefined) {
    process.stderr.write(`printbridge sgd: the printer does not know the setting ${JSON.stringify(name)}\n`);
    return EXIT_FAILURE;
  }
  process.stdout.write(`${shown(value)}\n`);
  return EXIT_OK;
}

export const sgd: Command = {
  name: 'sgd',
  summary: 'read or set a Zebra printer setting over Weblink (SGD)',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...SERVER_OPTIONS, get: { type: 'boolean' }, timeout: { type: 'string' }, json: { type: 'boolean' },
    }, true);
    const printer = printerId(positionals[0], 'the printer');
    const ask = sgdRequest(positionals.slice(1), values.get === true);
    const timeout = integer(values.timeout, '--timeout', 1, SGD_TIMEOUT_MAX_MS);
    return withClient(values, async (client) => {
      const answer: SgdResult = await client.request('printer.sgd', { printer, ...ask, timeout });
      if (values.json) {
        printJson(answer);
        return EXIT_OK;
      }
      if ('set' in ask) {
        const [[name, wanted]] = Object.entries(ask.set) as [[string, string]];
        const now = answer.values[name];
        const code = printValue(name, now);
        if (code === EXIT_OK && now !== wanted) {
          process.stderr.write(`printbridge sgd: the printer answered ${JSON.stringify(now)} for ${name}, not ${JSON.stringify(wanted)}: it may have refused the value\n`);
        }
        return code;
      }
      // A branch name (`odometer`, `allvalues`) is answered with the settings under it, by their own names.
      const names = Object.keys(answer.values).some((k) => !ask.get.includes(k)) ? Object.keys(answer.values) : ask.get;
      const [only] = names;
      if (names.length === 1 && only !== undefined && only === ask.get[0]) return printValue(only, answer.values[only]);
      printText(details(names.map((name) => [name, shown(answer.values[name])])));
      return EXIT_OK;
    });
  },
};
