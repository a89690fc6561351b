// `printbridge tokens issue|revoke`: short-lived, scoped client tokens, for a
// browser page (which cannot keep the admin token) or a back-end that should
// not. Needs the admin token (or a token with the `tokens` scope).

import { DEFAULT_SCOPES, SCOPES, TOKEN_TTL_DEFAULT_S, TOKEN_TTL_MAX_S, type Scope } from '../../protocol/client-messages.js';
import { EXIT_OK, integer, note, parse, pickAction, UsageError, type Command } from './command.js';
import { noMore, SERVER_HELP, SERVER_OPTIONS, withClient } from './server-options.js';
import { didYouMean } from './suggest.js';
import { printJson, printText, when } from './table.js';

const HELP = `Usage:
  printbridge tokens issue [--ttl SECONDS] [--label L] [--scope S]... [--json]
  printbridge tokens revoke TOKEN_OR_ID [--json]

'issue' asks the server for a client token that expires after --ttl seconds
(default ${TOKEN_TTL_DEFAULT_S}, at most ${TOKEN_TTL_MAX_S}) and prints the token alone on stdout,
so a script can capture it:  T=$(printbridge tokens issue --ttl 3600)
It is shown only once. The token may do what its scopes allow: by default
${DEFAULT_SCOPES.join(', ')} only (list printers, print, follow and cancel its own jobs);
give --scope once per scope for more (docs/api.md has the table):
  print            list devices and printers, subscribe, print, its own jobs
  jobs:any         any job, and printer pause/resume/cancel
  control          control.send identify, led, status
  devices:config   control.send config, restart and any other name
  printer:command  printer.command
  devices          device.remove
  tokens           issue and revoke tokens, clients.list
--scope replaces the default, so say print too if the token should print.
'revoke' ends a token (by the token or its id) at once; its connections on
every endpoint are closed (4006 REVOKED).
Both need the admin token or a token with the tokens scope (FORBIDDEN
otherwise); a token never gets a scope its issuer lacks.
Exit status: 0 done, 1 refused or failed (FORBIDDEN, UNKNOWN_TOKEN…), 2 usage
error.

Options:
${SERVER_HELP}
  --ttl SECONDS         issue: lifetime, 1-${TOKEN_TTL_MAX_S}
  --label L             issue: a note kept with the token (who it is for)
  --scope S             issue: grant scope S (repeat for several), one of
                        the scopes above
  --json                issue: {id, token, expires, label, scopes};
                        revoke: {id, revoked, closed} (closed: connections
                        ended)
  -h, --help            show this help`;

export const tokens: Command = {
  name: 'tokens',
  summary: 'issue or revoke short-lived client tokens (admin)',
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, { ...SERVER_OPTIONS, ttl: { type: 'string' }, label: { type: 'string' }, scope: { type: 'string', multiple: true }, json: { type: 'boolean' } }, true);
    const action = pickAction(positionals[0], ['issue', 'revoke']);
    if (action === 'issue') {
      noMore(positionals, 1);
      const ttl = integer(values.ttl, '--ttl', 1, TOKEN_TTL_MAX_S);
      const scopes = scopeList(values.scope);
      return withClient(values, async (client) => {
        const issued = await client.request('token.issue', { ttl, label: values.label, scopes });
        if (values.json) printJson(issued);
        else {
          printText(issued.token);
          if (process.stderr.isTTY) note(`token ${issued.id} (${issued.scopes.join(', ')}) expires ${when(issued.expires)}; keep it, it cannot be shown again`);
        }
        return EXIT_OK;
      });
    }
    for (const flag of ['ttl', 'label', 'scope'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} only applies to issue`);
    const token = positionals[1];
    if (token === undefined || token === '') throw new UsageError('tokens revoke needs a token or its id');
    noMore(positionals, 2);
    return withClient(values, async (client) => {
      const result = await client.request('token.revoke', { token });
      if (values.json) printJson(result);
      else printText(`${result.id} revoked${result.closed ? ` (${result.closed} connection(s) closed)` : ''}`);
      return EXIT_OK;
    });
  },
};

/** Scopes as given to `option`; an unknown one is a usage error naming the closest. */
export function scopeList(given: string[] | undefined, option = '--scope'): Scope[] | undefined {
  if (given === undefined) return undefined;
  for (const s of given) {
    if (!(SCOPES as readonly string[]).includes(s)) throw new UsageError(`${option} ${JSON.stringify(s)}${didYouMean(s, SCOPES)}: say one of ${SCOPES.join(', ')}`);
  }
  return given as Scope[];
}
