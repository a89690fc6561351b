// The pure parts of the CUPS ports: the IPP encoding read back by the
// decoder, a queue's state and reasons as the bridge's printer status, and
// the cups: address.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeResponse, encodeRequest, IppError, OP, TAG } from '../../device/hosts/node/ipp.js';
import { queueStatus } from '../../device/hosts/node/ports/cups-status.js';
import { parsePrinterUri, portTransport } from '../../device/hosts/node/ports/uri.js';

const idle = { state: 3, reasons: ['none'], message: undefined, accepting: true };

test('IPP: what the encoder writes, the decoder reads back, multi-valued attributes included', () => {
  const bytes = encodeRequest(OP.getPrinterAttributes, [
    { tag: TAG.integer, name: 'job-id', values: [42] },
    { tag: TAG.keyword, name: 'requested-attributes', values: ['printer-state', 'printer-state-reasons'] },
  ]);
  const res = decodeResponse(bytes);
  // A request's op code sits where an answer's status does.
  assert.equal(res.status, OP.getPrinterAttributes);
  const op = res.groups.find((g) => g.tag === TAG.operation);
  assert.deepEqual(op?.attrs.get('attributes-charset'), ['utf-8']);
  assert.deepEqual(op?.attrs.get('job-id'), [42]);
  assert.deepEqual(op?.attrs.get('requested-attributes'), ['printer-state', 'printer-state-reasons']);
});

test('IPP: a truncated answer is an IppError, not a crash', () => {
  const bytes = encodeRequest(OP.getJobAttributes, [{ tag: TAG.uri, name: 'printer-uri', values: ['ipp://localhost/printers/x'] }]);
  for (const cut of [3, 12, bytes.length - 5]) assert.throws(() => decodeResponse(bytes.subarray(0, cut)), IppError);
});

test('queue status: reasons map onto the status model, severities respected', () => {
  assert.deepEqual(queueStatus(idle), { state: 'online', detail: undefined });
  assert.equal(queueStatus({ ...idle, reasons: ['media-empty-error'] }).state, 'paper-out');
  assert.equal(queueStatus({ ...idle, reasons: ['media-needed'] }).state, 'paper-out');
  assert.equal(queueStatus({ ...idle, reasons: ['cover-open-error'] }).state, 'cover-open');
  assert.equal(queueStatus({ ...idle, reasons: ['media-low-warning'] }).state, 'paper-low');
  assert.equal(queueStatus({ ...idle, reasons: ['media-empty-report'] }).state, 'online');
  assert.equal(queueStatus({ ...idle, reasons: ['connecting-to-device'] }).state, 'online');
  // CUPS's "the printer is unreachable" is trouble, never the bridge's own offline (which ends the session).
  assert.equal(queueStatus({ ...idle, reasons: ['offline-report'] }).state, 'error');
  assert.deepEqual(queueStatus({ state: 5, reasons: ['paused'], message: 'out for lunch', accepting: true }), { state: 'error', detail: 'queue stopped, paused: out for lunch' });
  assert.equal(queueStatus({ ...idle, accepting: false }).state, 'error');
});

test('cups: addresses: a queue name as CUPS allows it, a spooler transport', () => {
  assert.deepEqual(parsePrinterUri('cups:POS-58_front'), { kind: 'cups', queue: 'POS-58_front' });
  assert.equal(portTransport('cups:pos'), 'spooler');
  assert.equal(portTransport('tcp://127.0.0.1:9100'), 'network');
  assert.equal(portTransport('serial:/dev/ttyUSB0'), 'serial');
  for (const bad of ['cups:', 'cups:a b', 'cups:a/b', 'cups:a#b', `cups:${'q'.repeat(128)}`]) {
    assert.throws(() => parsePrinterUri(bad), /expected cups:QUEUE/, bad);
  }
});
