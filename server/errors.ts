// Errors that reach a peer carry a stable code from protocol/errors.ts, so a
// client can branch on `code` and a reader can find the meaning in one table.
// Misuse by our own code throws plain Error/TypeError/RangeError instead.

import { protocolError, type ErrorCode, type ProtocolError } from '../protocol/errors.js';

export class PrintbridgeError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, detail?: string) {
    super(protocolError(code, detail).message);
    this.name = 'PrintbridgeError';
    this.code = code;
  }

  /** An error a peer (a device) already phrased: its code and message as they are. */
  static from(error: ProtocolError): PrintbridgeError {
    const e = new PrintbridgeError(error.code);
    e.message = error.message;
    return e;
  }

  toProtocol(): ProtocolError {
    return { code: this.code, message: this.message };
  }
}
