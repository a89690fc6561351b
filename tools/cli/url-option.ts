// The one reading of a URL a user typed (--server, --url, --weblink, or the
// same from the environment). A mistake is a usage error that says what is
// wrong and the URL that would work: `127.0.0.1:8080` has no scheme, so the
// answer suggests http://127.0.0.1:8080 (or ws://… where the command speaks
// WebSocket) rather than the URL parser's bare "Invalid URL".

import { orList, UsageError } from './command.js';

export interface UrlRule {
  /** What the user set, as it is named in messages: '--server', 'PRINTBRIDGE_SERVER'. */
  readonly what: string;
  /** The schemes the command takes, without '://'; the first is the one suggested. */
  readonly schemes: readonly [string, ...string[]];
}

/** "an http:// URL (or https://, ws:// or wss://)": the scheme to use first, then the others it may be. */
function kind(schemes: readonly string[]): string {
  const [first, ...others] = schemes.map((s) => `${s}://`);
  const also = others.length === 0 ? '' : ` (or ${orList(others)})`;
  return `${/^[aehiou]/.test(first!) ? 'an' : 'a'} ${first} URL${also}`;
}

const WEB_SCHEMES = ['http', 'https', 'ws', 'wss'];

/** `value` with the rule's first scheme in front, instead of a scheme it has (`ftp://h`, `http:h`), if any. */
function withScheme(value: string, rule: UrlRule): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(\/*)/.exec(value);
  // `localhost:8080` is a host and port, not a scheme `localhost`.
  const isScheme = m !== null && (m[2] !== '' || WEB_SCHEMES.includes(m[1]!.toLowerCase()));
  const rest = isScheme ? value.slice(m[0].length) : value.replace(/^\/+/, '');
  return `${rule.schemes[0]}://${rest}`;
}

/** The URL in `value`, or a usage error naming the problem and a URL that works. */
export function urlOption(value: string, rule: UrlRule): URL {
  const shown = JSON.stringify(value);
  // Without "://", the parser reads `localhost:8080` as scheme `localhost:`,
  // and `http:host` as an http URL; neither is what was meant.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined || !rule.schemes.includes(scheme)) {
    throw new UsageError(`${rule.what} must be ${kind(rule.schemes)}, not ${shown}; use ${withScheme(value, rule)}`);
  }
  try {
    return new URL(value);
  } catch {
    throw new UsageError(`${rule.what} ${shown} is not a valid URL (a host name or address, then an optional :PORT, e.g. ${rule.schemes[0]}://127.0.0.1:8080)`);
  }
}
