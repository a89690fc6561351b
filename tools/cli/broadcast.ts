// `printbridge broadcast NAME (--all | --tag T | --device D)`: one control
// message to many bridges, with a delivery report per device.

import type { Target } from '../../protocol/client-messages.js';
import { parse, UsageError, type Command } from './command.js';
import { CONTROL_HELP, CONTROL_NAMES, CONTROL_OPTIONS, sendControl } from './delivery.js';
import { noMore, SERVER_HELP, SERVER_OPTIONS } from './server-options.js';

const HELP = `Usage: printbridge broadcast NAME (--all | --tag T | --device D) [options]

Relays the control message NAME to every registered device, to the devices
with tag T, or to device D, and prints one delivery report per device:
ok (with the data the device answered), error (its code and message),
offline (not connected; nothing was sent) or timeout (no answer in time).
Exit status: 0 every device answered ok, 1 any did not, no device matched
(UNKNOWN_TAG, UNKNOWN_DEVICE) or the request failed, 2 usage error.

${CONTROL_NAMES}

Example:
  printbridge broadcast identify --tag front --arg seconds=10

Options:
${SERVER_HELP}
  --all                 every registered device
  --tag T               the devices with this tag
  --device D            one device
${CONTROL_HELP}
  -h, --help            show this help`;

export const broadcast: Command = {
  name: 'broadcast',
  summary: 'send a control message to all devices, a tag or one device',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...SERVER_OPTIONS, ...CONTROL_OPTIONS, all: { type: 'boolean' }, tag: { type: 'string' }, device: { type: 'string' },
    }, true);
    const name = positionals[0];
    if (name === undefined || name === '') throw new UsageError('NAME is required (identify, led, status, …)');
    noMore(positionals, 1);
    const given = [values.all === true, values.tag !== undefined, values.device !== undefined].filter(Boolean).length;
    if (given !== 1) throw new UsageError('say exactly one of --all, --tag T or --device D');
    const to: Target = values.all ? { all: true } : values.tag !== undefined ? { tag: values.tag } : { device: values.device! };
    return sendControl('broadcast', values, to, name);
  },
};
