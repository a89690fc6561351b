// What every section of the dashboard shares: the SDK client, the live
// state, the activity log and toasts, and the bytes of jobs this page sent
// (the server keeps no job data for clients, so only those can be reprinted).

import type { LiveState, PrintbridgeClient } from '../sdk/index.js';
import type { Tone } from './format.js';

export interface App {
  readonly client: PrintbridgeClient;
  readonly live: LiveState;
  /** A line in the activity log; `key` lets a later line replace it (delivery reports). */
  log(text: string, tone?: Tone, key?: string): void;
  /** A short message that goes away by itself. */
  toast(text: string, tone?: Tone): void;
  /** Job id → what was sent, for jobs submitted from this page. */
  readonly sent: Map<string, { printer: string; data: Uint8Array | string }>;
}

/** The message of anything thrown, with the server's code in front when there is one. */
export function describe(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && 'message' in e) return `${String(e.code)}: ${String(e.message)}`;
  return e instanceof Error ? e.message : String(e);
}
