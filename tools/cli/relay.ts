// `printbridge relay DEVICE NAME`: one control message to one bridge, and
// its answer: the short form of `broadcast NAME --device DEVICE`.

import { parse, UsageError, type Command } from './command.js';
import { CONTROL_HELP, CONTROL_NAMES, CONTROL_OPTIONS, sendControl } from './delivery.js';
import { noMore, SERVER_HELP, SERVER_OPTIONS } from './server-options.js';

const HELP = `Usage: printbridge relay DEVICE NAME [options]

Relays the control message NAME to one device and prints its delivery
report (the same as 'printbridge broadcast NAME --device DEVICE'): ok with
the data the device answered, error, offline or timeout.
Exit status: 0 the device answered ok, 1 it did not (or the request failed),
2 usage error.

${CONTROL_NAMES}

Examples:
  printbridge relay shop-1 status --json
  printbridge relay shop-1 led --arg pattern=identify --arg seconds=5

Options:
${SERVER_HELP}
${CONTROL_HELP}
  -h, --help            show this help`;

export const relay: Command = {
  name: 'relay',
  summary: 'send a control message to one device and show its answer',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, { ...SERVER_OPTIONS, ...CONTROL_OPTIONS }, true);
    const [device, name] = positionals;
    if (device === undefined || device === '') throw new UsageError('DEVICE is required');
    if (name === undefined || name === '') throw new UsageError('NAME is required (identify, led, status, …)');
    noMore(positionals, 2);
    return sendControl('relay', values, { device }, name);
  },
};
