// `printbridge clients`: who is connected to the server's client API and its
// compatibility listeners right now.

import { EXIT_OK, parse, type Command } from './command.js';
import { noMore, SERVER_HELP, SERVER_OPTIONS, withClient } from './server-options.js';
import { printJson, printText, table, when } from './table.js';

const HELP = `Usage: printbridge clients [--json]

Lists the clients connected now (this command's own connection included):
their id, address, endpoint (ws for /v1/client, or a compatibility
adapter), token (admin, or the id of a client token), whether they
subscribed to events, since when, and their User-Agent.
Exit status: 0 ok, 1 failed, 2 usage error.

Options:
${SERVER_HELP}
  --json                print a JSON array of clients
  -h, --help            show this help`;

export const clients: Command = {
  name: 'clients',
  summary: 'list the clients connected to the server',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, { ...SERVER_OPTIONS, json: { type: 'boolean' } }, true);
    noMore(positionals, 0);
    return withClient(values, async (client) => {
      const list = await client.request('clients.list');
      if (values.json) printJson(list);
      else {
        printText(table(
          ['ID', 'ADDRESS', 'ENDPOINT', 'TOKEN', 'EVENTS', 'SINCE', 'USER-AGENT'],
          list.map((c) => [
            c.id, c.address ?? '-', c.transport, c.tokenId ?? c.token, c.subscribed ? 'yes' : 'no', when(c.since), c.userAgent ?? '',
          ]),
        ));
      }
      return EXIT_OK;
    });
  },
};
