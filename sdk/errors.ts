// Errors the SDK hands to callers. `code` is a protocol error code from the
// server (protocol/errors.ts: UNKNOWN_PRINTER, JOB_CANCELED, PRINTER_ERROR…)
// or one of the SDK's own, which describe the connection rather than the
// request:
//
//   TIMEOUT           no reply within the call's timeout (also a protocol code)
//   CONNECTION_LOST   the socket dropped while the request was in flight and
//                     the request is not safe to repeat (control.send, cancel…)
//   CLOSED            close() was called, or the server closed for good
//                     (VERSION, REVOKED): the client will not reconnect
//   TOO_MANY_PENDING  more requests waiting for a connection than the bound
//   TOO_BIG           the request is over the server's message limit (its
//                     hello's `limits.maxFrame`), so it was not sent; or the
//                     server closed the connection for it (1009). Never
//                     sent again: it would close the next connection too

import type { JobView } from '../protocol/client-messages.js';

export type SdkErrorCode = 'TIMEOUT' | 'CONNECTION_LOST' | 'CLOSED' | 'TOO_MANY_PENDING' | 'TOO_BIG';

export class PrintbridgeError extends Error {
  /** The job, for a print that failed or was canceled. */
  readonly job: JobView | undefined;

  constructor(readonly code: string, message: string, job?: JobView) {
    super(message);
    this.name = 'PrintbridgeError';
    this.job = job;
  }
}
