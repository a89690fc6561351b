// A CUPS queue's printer-state and printer-state-reasons (RFC 8011 §5.4.12,
// §5.4.13) as the bridge's printer status. Reasons carry a severity suffix
// (-error, -warning, -report; none means error): reports are ignored but
// offline-report (how CUPS's backends say it), a warning only ever makes
// paper-low. CUPS's own `offline` (it cannot reach
// the printer) is told as `error`, not `offline`: for the bridge, offline
// means CUPS itself is unreachable, which ends the printer session and fails
// a job handed over, while CUPS keeps that job and prints it once the
// printer is back. A stopped queue (an operator's cupsdisable, or CUPS's
// stop-printer error policy) holds jobs back too: `error`.

import { PRINTER_STATE } from '../ipp.js';
import type { QueueState } from './cups-queue.js';
import type { PortLinkState } from './printer-port.js';

export interface QueueStatus {
  readonly state: Exclude<PortLinkState, 'offline'>;
  readonly detail: string | undefined;
}

const BY_REASON: readonly (readonly [string, QueueStatus['state']])[] = [
  ['media-empty', 'paper-out'],
  ['media-needed', 'paper-out'],
  ['cover-open', 'cover-open'],
  ['door-open', 'cover-open'],
  ['interlock-open', 'cover-open'],
];

/** The reason's keyword and severity: `media-empty-error` → ['media-empty', 'error']. */
function severity(reason: string): [string, 'error' | 'warning' | 'report'] {
  const m = /^(.*)-(error|warning|report)$/.exec(reason);
  return m ? [m[1]!, m[2] as 'error' | 'warning' | 'report'] : [reason, 'error'];
}

export function queueStatus(q: QueueState): QueueStatus {
  const reasons = q.reasons.filter((r) => r !== 'none');
  const words = [...(q.state === PRINTER_STATE.stopped ? ['queue stopped'] : []), ...(q.accepting ? [] : ['not accepting jobs']), ...reasons];
  const detail = words.length === 0 ? undefined : `${words.join(', ')}${q.message === undefined ? '' : `: ${q.message}`}`;
  let state: QueueStatus['state'] = 'online';
  for (const r of reasons) {
    const [keyword, level] = severity(r);
    // CUPS's backends tell an unreachable printer as offline-report.
    if (keyword === 'offline') state = 'error';
    if (level === 'report') continue;
    if (level === 'warning') {
      if (keyword === 'media-low' && state === 'online') state = 'paper-low';
      continue;
    }
    const mapped = BY_REASON.find(([k]) => k === keyword)?.[1];
    // The first trouble named wins; a reason CUPS adds while merely working (paused for a moment aside) is not trouble.
    if (mapped !== undefined) return { state: mapped, detail };
    if (keyword === 'shutdown' || keyword === 'paused' || keyword.endsWith('-jam') || keyword === 'media-jam') state = 'error';
  }
  if (q.state === PRINTER_STATE.stopped || !q.accepting) state = 'error';
  return { state, detail };
}
