// `printbridge tokens issue|revoke`: short-lived client tokens, for a browser
// page (which cannot keep the admin token) or a back-end that should not.
// Needs the admin token.

import { TOKEN_TTL_DEFAULT_S, TOKEN_TTL_MAX_S } from '../../protocol/client-messages.js';
import { EXIT_OK, integer, note, parse, UsageError, type Command } from './command.js';
import { noMore, SERVER_HELP, SERVER_OPTIONS, withClient } from './server-options.js';
import { printJson, printText, when } from './table.js';

const HELP = `Usage:
  printbridge tokens issue [--ttl SECONDS] [--label L] [--json]
  printbridge tokens revoke TOKEN_OR_ID [--json]

'issue' asks the server for a client token that expires after --ttl seconds
(default ${TOKEN_TTL_DEFAULT_S}, at most ${TOKEN_TTL_MAX_S}) and prints the token alone on stdout,
so a script can capture it:  T=$(printbridge tokens issue --ttl 3600)
It is shown only once. 'revoke' ends a token (by the token or its id) at
once; connections using it are closed (4006 REVOKED).
Both need the admin token (FORBIDDEN otherwise).
Exit status: 0 done, 1 refused or failed (FORBIDDEN, UNKNOWN_TOKEN…), 2 usage
error.

Options:
${SERVER_HELP}
  --ttl SECONDS         issue: lifetime, 1-${TOKEN_TTL_MAX_S}
  --label L             issue: a note kept with the token (who it is for)
  --json                issue: {id, token, expires, label}; revoke: {id,
                        revoked, closed} (closed: connections ended)
  -h, --help            show this help`;

export const tokens: Command = {
  name: 'tokens',
  summary: 'issue or revoke short-lived client tokens (admin)',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, { ...SERVER_OPTIONS, ttl: { type: 'string' }, label: { type: 'string' }, json: { type: 'boolean' } }, true);
    const action = positionals[0];
    if (action === 'issue') {
      noMore(positionals, 1);
      const ttl = integer(values.ttl, '--ttl', 1, TOKEN_TTL_MAX_S);
      return withClient(values, async (client) => {
        const issued = await client.request('token.issue', { ttl, label: values.label });
        if (values.json) printJson(issued);
        else {
          printText(issued.token);
          if (process.stderr.isTTY) note(`token ${issued.id} expires ${when(issued.expires)}; keep it, it cannot be shown again`);
        }
        return EXIT_OK;
      });
    }
    if (action === 'revoke') {
      for (const flag of ['ttl', 'label'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} only applies to issue`);
      const token = positionals[1];
      if (token === undefined || token === '') throw new UsageError('tokens revoke needs a token or its id');
      noMore(positionals, 2);
      return withClient(values, async (client) => {
        const result = await client.request('token.revoke', { token });
        if (values.json) printJson(result);
        else printText(`${result.id} revoked${result.closed ? ` (${result.closed} connection(s) closed)` : ''}`);
        return EXIT_OK;
      });
    }
    if (action === undefined) throw new UsageError('say issue or revoke');
    throw new UsageError(`unknown action ${JSON.stringify(action)}; use issue or revoke`);
  },
};
