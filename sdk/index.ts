// printbridge browser SDK: connect to a printbridge server from a web page
// (or any JavaScript runtime with a WebSocket), list devices and printers,
// print and wait for the printer, follow live events.
//
//   import { connect } from 'printbridge/sdk';          // or <script src="/sdk/printbridge.js"> → window.printbridge
//   const pb = connect({ url: 'https://printers.example', token });
//   pb.on('printer.status', (p) => console.log(p.id, p.status));
//   const job = await pb.print('shop-1/0', 'Hello\n\n\n');   // resolves when the job is done

export { connect, clientUrl, isFinal, PrintbridgeClient } from './client.js';
export type {
  CallOptions, ClientEvents, ClientLimits, ConnectionState, ConnectOptions, ControlResult, JobBytes, Op, PrintOptions, ReprintOptions, RequestFields, Results, ServerInfo,
  Snapshot, SubmitOptions,
} from './client.js';
export { backoffDelay, backoffWindow, type BackoffOptions } from './backoff.js';
export { base64, fromBase64, toBytes, utf8, utf8Length, type PrintContent, type PrintData, type TextOptions } from './encoding.js';
export type { WebSocketConstructor, WebSocketLike } from './env.js';
export { PrintbridgeError, type SdkErrorCode } from './errors.js';
export { LiveState, type LiveChange } from './live.js';
export { testPage } from './test-page.js';
export {
  ADD_CAP, dialectsFor, readAdded, readScan, SCAN_CAP, type AddedPrinter, type NewPrinter, type PrinterScan, type ScannedKind, type ScannedPrinter,
} from './printer-scan.js';
export type {
  ClientEvent, ClientResults, ClientView, DeliveryReport, DeliveryStatus, DeviceView, Eol, IssuedToken, JobData, JobState, JobView, PrinterCommandResult,
  PrinterView, RemovedDevice, RevokedToken, Scope, SgdResult, Target, TextEncodingName,
} from '../protocol/client-messages.js';
export { DEFAULT_SCOPES, JOB_NAME_MAX, SCOPES, WEBLINK_TAG } from '../protocol/client-messages.js';
export { requiredScope } from '../protocol/scopes.js';
export type { Dialect, LedPattern, PrinterState, Temperature } from '../protocol/device-messages.js';
export { DIALECTS } from '../protocol/device-messages.js';
export type { ErrorCode, ProtocolError } from '../protocol/errors.js';
export { PROTOCOL_VERSION } from '../protocol/version.js';
export { etaMs, formatBytes, formatDuration, RateMeter } from '../protocol/units.js';
