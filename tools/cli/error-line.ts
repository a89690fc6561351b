// How a failure reads on stderr: one line with the server's error code, what
// went wrong, and what to do about it, e.g.
//   error UNKNOWN_PRINTER: no such printer: nope/0 (printbridge printers lists them)
// The fixes are keyed by code, so every command that meets a code says the
// same thing; a message that already says what to do gets none added.

import { isErrorCode } from '../../protocol/errors.js';

/** What to do, by the code a failure carries: protocol codes, and the system's for a connection. */
const FIXES: Readonly<Record<string, string>> = {
  UNKNOWN_PRINTER: "'printbridge printers' lists them",
  UNKNOWN_JOB: "'printbridge jobs list' lists them",
  UNKNOWN_DEVICE: "'printbridge devices list' lists them",
  UNKNOWN_TAG: "'printbridge devices list' shows each device's tags",
  UNKNOWN_TOKEN: "check the token or its id; 'printbridge clients' shows the ids of the tokens in use",
  UNAUTHORIZED: "check --token or PRINTBRIDGE_CLIENT_TOKEN; the admin token is in the server's data directory, file admin-token",
  TOKEN_EXPIRED: "'printbridge tokens issue' makes a new one",
  FORBIDDEN: "use a token with that scope: 'printbridge tokens issue --scope S'",
  DEVICE_OFFLINE: "the device's bridge is not connected; 'printbridge printers' shows which are online",
  NOT_FOUND: 'the server has no WebSocket at that path; its client API is /v1/client',
  ECONNREFUSED: "is the server running? Start it with 'printbridge serve', or point --server or PRINTBRIDGE_SERVER at it",
  ENOTFOUND: 'check the host name in --server or PRINTBRIDGE_SERVER',
  EAI_AGAIN: 'check the host name in --server or PRINTBRIDGE_SERVER',
};

/** A failure whose message already says what to do: it gets no fix added. */
export class Explained extends Error {
  constructor(readonly code: string | undefined, message: string) {
    super(message);
    this.name = 'Explained';
  }
}

/** The one line for a failure (without the `printbridge CMD: ` prefix). */
export function errorLine(e: unknown): string {
  const text = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
  const raw = (e as { code?: unknown } | null)?.code;
  const code = typeof raw === 'string' ? raw : undefined;
  // A protocol code is the server's answer: show it. A system code
  // (ECONNREFUSED) is already in the system's message.
  const prefix = isErrorCode(code) && !text.startsWith(code) ? `error ${code}: ` : '';
  const fix = e instanceof Explained || code === undefined ? undefined : FIXES[code];
  return `${prefix}${text}${fix === undefined ? '' : ` (${fix})`}`;
}
