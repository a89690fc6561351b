// The one table of error codes and WebSocket close codes. Every error reply,
// every close and every documented failure names an entry here; nothing else
// in the project invents a code. The README lists this table.
//
// `blame` splits errors the way a reader debugging a deployment needs them:
// "peer" is bad input from the other side, "state" is a valid request that
// cannot be honoured now, "server"/"device" is our own fault.

export type Blame = 'peer' | 'state' | 'server' | 'device' | 'printer';

export interface ErrorInfo {
  readonly blame: Blame;
  readonly text: string;
}

export const ERRORS = {
  BAD_JSON: { blame: 'peer', text: 'message is not valid JSON' },
  BAD_MESSAGE: { blame: 'peer', text: 'message is not a JSON object with a type' },
  UNKNOWN_TYPE: { blame: 'peer', text: 'unknown message type or operation' },
  MISSING_FIELD: { blame: 'peer', text: 'a required field is missing' },
  BAD_FIELD: { blame: 'peer', text: 'a field has the wrong type or an invalid value' },
  BINARY_NOT_EXPECTED: { blame: 'peer', text: 'binary frame where a text frame was expected' },
  TEXT_NOT_EXPECTED: { blame: 'peer', text: 'text frame where a binary frame was expected' },
  BAD_FRAME: { blame: 'peer', text: 'binary frame is malformed' },
  FRAME_TOO_LARGE: { blame: 'peer', text: 'frame exceeds the size limit' },
  UNAUTHORIZED: { blame: 'peer', text: 'missing or wrong credentials' },
  FORBIDDEN: { blame: 'peer', text: 'credentials do not allow this operation' },
  VERSION_UNSUPPORTED: { blame: 'peer', text: 'protocol major version is not supported' },
  HELLO_REQUIRED: { blame: 'peer', text: 'the first message must be hello' },
  CREDIT_EXCEEDED: { blame: 'peer', text: 'more job data than the granted credit window' },
  OUT_OF_ORDER: { blame: 'peer', text: 'job data offset does not follow the bytes already received' },
  RATE_LIMITED: { blame: 'peer', text: 'too many requests' },
  TOKEN_EXPIRED: { blame: 'peer', text: 'the client token has expired; issue a new one' },
  UNENCODABLE: { blame: 'peer', text: 'the text has a character the chosen encoding cannot represent' },
  NOT_FOUND: { blame: 'peer', text: 'no such endpoint' },
  METHOD_NOT_ALLOWED: { blame: 'peer', text: 'the endpoint does not take this HTTP method' },
  UNSUPPORTED_MEDIA_TYPE: { blame: 'peer', text: 'the request body has a content type the endpoint does not take' },
  TOO_DEEP: { blame: 'peer', text: 'message nests objects or arrays deeper than the limit' },

  UNKNOWN_DEVICE: { blame: 'state', text: 'no such device' },
  UNKNOWN_PRINTER: { blame: 'state', text: 'no such printer' },
  UNKNOWN_JOB: { blame: 'state', text: 'no such job' },
  UNKNOWN_TOKEN: { blame: 'state', text: 'no such client token (it may have expired and been removed)' },
  UNKNOWN_TAG: { blame: 'state', text: 'no registered device carries this tag' },
  DEVICE_OFFLINE: { blame: 'state', text: 'device is not connected' },
  DEVICE_EXISTS: { blame: 'state', text: 'a device with this id already exists' },
  JOB_TOO_LARGE: { blame: 'state', text: 'job is larger than the server accepts' },
  QUEUE_FULL: { blame: 'state', text: 'printer queue is full' },
  QUOTA_EXCEEDED: { blame: 'state', text: 'the bytes of unfinished jobs would exceed a storage quota' },
  JOB_FINISHED: { blame: 'state', text: 'job has already finished' },
  JOB_DATA_GONE: { blame: 'state', text: 'the server no longer holds the bytes of this job (retention dropped them)' },
  REPLY_TOO_LARGE: { blame: 'state', text: 'the answer would be larger than the server lets one client have unsent; fetch it another way' },
  ILLEGAL_TRANSITION: { blame: 'state', text: 'the job cannot go from its current state to the one asked for' },
  PORT_BUSY: { blame: 'state', text: 'printer port is busy with another job' },
  TIMEOUT: { blame: 'state', text: 'no answer in time' },
  UNSUPPORTED: { blame: 'state', text: 'not supported by this device or printer' },

  JOB_INTERRUPTED: { blame: 'device', text: 'device lost the job part-way; bytes may have been printed, so it is not resent' },
  JOB_CANCELED: { blame: 'state', text: 'job was canceled' },
  JOB_EXPIRED: { blame: 'state', text: 'job waited longer than the queue time-to-live without reaching its printer' },
  DEVICE_REMOVED: { blame: 'state', text: 'device was removed while the job was unfinished' },
  PRINTER_UNREACHABLE: { blame: 'printer', text: 'printer port cannot be opened or went away' },
  PRINTER_ERROR: { blame: 'printer', text: 'printer reported an error' },

  SLOW_CONSUMER: { blame: 'peer', text: 'peer does not read fast enough; outgoing buffer is full' },
  INTERNAL: { blame: 'server', text: 'internal error' },
  STORE_UNAVAILABLE: { blame: 'server', text: 'the database cannot be reached just now; try again' },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, value);
}

/**
 * WebSocket close codes. 1xxx are the standard ones we use with their usual
 * meaning; 4xxx are ours. A peer that sees one of ours knows whether to
 * reconnect (`retry`) or to stop and wait for a person.
 */
export const CLOSE = {
  NORMAL: { code: 1000, retry: true, text: 'normal closure' },
  GOING_AWAY: { code: 1001, retry: true, text: 'server shutting down' },
  UNSUPPORTED_DATA: { code: 1003, retry: true, text: 'frame type not accepted on this endpoint' },
  POLICY: { code: 1008, retry: true, text: 'policy violation' },
  TOO_BIG: { code: 1009, retry: true, text: 'frame exceeds the size limit' },
  INTERNAL: { code: 1011, retry: true, text: 'internal error' },
  TRY_AGAIN: { code: 1013, retry: true, text: 'server is at its connection limit; try again later' },
  REPLACED: { code: 4001, retry: false, text: 'a newer connection with the same device id replaced this one' },
  VERSION: { code: 4002, retry: false, text: 'protocol major version is not supported' },
  HELLO_TIMEOUT: { code: 4003, retry: true, text: 'no valid hello in time' },
  HEARTBEAT: { code: 4004, retry: true, text: 'peer missed its heartbeat' },
  SLOW_CONSUMER: { code: 4005, retry: true, text: 'peer does not read fast enough' },
  REVOKED: { code: 4006, retry: false, text: 'credentials were revoked' },
  PROTOCOL: { code: 4007, retry: true, text: 'too many protocol errors' },
  RATE_LIMITED: { code: 4008, retry: true, text: 'peer kept sending faster than its rate limit' },
} as const;

export type CloseName = keyof typeof CLOSE;

export function closeName(code: number): CloseName | undefined {
  for (const name of Object.keys(CLOSE) as CloseName[]) {
    if (CLOSE[name].code === code) return name;
  }
  return undefined;
}

/**
 * HTTP statuses used to refuse a WebSocket upgrade, before any socket exists.
 * A device refused with UNAUTHORIZED or FORBIDDEN (not registered yet, wrong
 * token) keeps trying, from the longest backoff window.
 */
export const UPGRADE_REFUSAL = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BAD_REQUEST: 400,
  TOO_MANY: 503,
} as const;

export interface ProtocolError {
  readonly code: ErrorCode;
  readonly message: string;
}

export function protocolError(code: ErrorCode, detail?: string): ProtocolError {
  return { code, message: detail === undefined ? ERRORS[code].text : `${ERRORS[code].text}: ${detail}` };
}
