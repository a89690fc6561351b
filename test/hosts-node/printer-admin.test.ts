// The bridge's own control messages, their bounds crossed: a scan answer
// that would pass the server's limit for a control result, a bridge at the
// most printers a device may have, and added printers read back from a
// settings file someone edited badly.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONTROL_DATA_MAX, PORTS_MAX } from '../../protocol/device-messages.js';
import type { PrinterList } from '../../device/hosts/node/list-printers.js';
import {
  addRefusal, addRequest, DETAIL_MAX, SCAN_ANSWER_MAX, savedPrinters, savedValue, scanAnswer, type ConfiguredPrinter,
} from '../../device/hosts/node/printer-admin.js';

const NOTHING: PrinterList = { printers: [], problems: [] };

test('a scan answer stays under the control result limit: what does not fit is counted in `more`', () => {
  const found: PrinterList = {
    printers: Array.from({ length: 500 }, (_, i) => ({ uri: `cups:queue-${i}`, kind: 'cups' as const, detail: `CUPS queue ${'x'.repeat(300)}` })),
    problems: Array.from({ length: 20 }, (_, i) => `source ${i}: ${'y'.repeat(500)}`),
  };
  const answer = scanAnswer(found, []);
  const size = JSON.stringify(answer).length;
  assert.ok(size <= SCAN_ANSWER_MAX && SCAN_ANSWER_MAX < CONTROL_DATA_MAX, `${size} characters`);
  assert.ok(answer.printers.length > 10, `${answer.printers.length} entries`);
  assert.equal(answer.printers.length + (answer.more ?? 0), 500);
  assert.ok(answer.printers.every((e) => e.detail.length <= DETAIL_MAX));
  assert.equal(answer.problems.length, 8);
  // The first entries are the ones kept, in the system's order.
  assert.deepEqual(answer.printers.slice(0, 2).map((e) => e.uri), ['cups:queue-0', 'cups:queue-1']);
});

test('a short scan answer has no `more`; a USB printer is offered by its ids and matched to a port given by path', () => {
  const found: PrinterList = {
    printers: [
      { uri: 'usb:/dev/usb/lp0', kind: 'usb', detail: 'USB printer, USB 0416:5011', stable: 'usb:0416:5011' },
      { uri: 'usb:/dev/usb/lp1', kind: 'usb', detail: 'USB printer, USB 04b8:0202', stable: 'usb:04b8:0202' },
      { uri: 'serial:/dev/ttyUSB0', kind: 'serial', detail: 'USB 1a86:7523' },
    ],
    problems: [],
  };
  const mine: ConfiguredPrinter[] = [{ uri: 'usb:/dev/usb/lp1', dialect: 'escpos' }, { uri: 'serial:/dev/ttyUSB0@115200', dialect: 'zpl' }, { uri: 'usb:1234:5678', dialect: 'raw' }];
  const answer = scanAnswer(found, mine);
  assert.equal(answer.more, undefined);
  assert.deepEqual(answer.printers.map((e) => [e.uri, e.kind, e.port]), [
    ['usb:0416:5011', 'usb', undefined],
    ['usb:/dev/usb/lp1', 'usb', 0],
    ['serial:/dev/ttyUSB0@115200', 'serial', 1],
    ['usb:1234:5678', 'usb', 2],
  ]);
  assert.equal(answer.printers[3]?.detail, 'not found on this computer now');
});

test(`a bridge with ${PORTS_MAX} printers adds no more; an address it has under another form is already one`, () => {
  const full: ConfiguredPrinter[] = Array.from({ length: PORTS_MAX }, (_, i) => ({ uri: `tcp://10.0.0.${i + 1}:9100`, dialect: 'raw' }));
  const refusal = addRefusal({ uri: 'tcp://10.0.0.99:9100', dialect: 'raw' }, full, NOTHING);
  assert.match(refusal?.message ?? '', new RegExp(`has ${PORTS_MAX} printers, the most one device may have`));
  assert.equal(addRefusal({ uri: 'tcp://10.0.0.99:9100', dialect: 'raw' }, full.slice(1), NOTHING), undefined);
  assert.match(addRefusal({ uri: 'tcp://10.0.0.2', dialect: 'raw' }, full, NOTHING)?.message ?? '', /already printer 1/);
  const usb: PrinterList = { printers: [{ uri: 'usb:/dev/usb/lp0', kind: 'usb', detail: '', stable: 'usb:0416:5011' }], problems: [] };
  assert.equal(addRefusal({ uri: 'usb:0416:5011', dialect: 'escpos' }, [], usb), undefined, 'the ids of a listed USB printer');
  assert.equal(addRefusal({ uri: 'usb:/dev/usb/lp0', dialect: 'escpos' }, [], usb), undefined, 'its path');
  assert.match(addRefusal({ uri: 'usb:/dev/usb/lp1', dialect: 'escpos' }, [], usb)?.message ?? '', /not among the printers/);
});

test('added printers read back from the settings: bad entries are named and skipped, the good ones kept', () => {
  const good = [{ uri: 'cups:pos', dialect: 'raw' as const, name: 'POS' }, { uri: 'tcp://10.0.0.5', dialect: 'zpl' as const }];
  assert.deepEqual(savedPrinters(savedValue(good)), { printers: good, problems: [] });
  const mixed = JSON.stringify([good[0], { uri: 'cups:pos', dialect: 'escpos' }, 'serial:/dev/ttyS0', { uri: 'nope' }]);
  const read = savedPrinters(mixed);
  assert.deepEqual(read.printers, [good[0]]);
  assert.equal(read.problems.length, 3);
  assert.match(read.problems.join('\n'), /raw dialect only[\s\S]*an entry must be an object[\s\S]*use tcp:\/\//);
  assert.equal(savedPrinters('{').problems.length, 1);
  assert.deepEqual(savedPrinters('{}').problems, ['printers.added must be a JSON array']);
  assert.deepEqual(savedPrinters(undefined), { printers: [], problems: [] });
  assert.deepEqual(addRequest({ uri: 'cups:pos' }), { uri: 'cups:pos', dialect: 'raw' }, 'the dialect defaults to raw');
  assert.equal((addRequest({ uri: `cups:${'q'.repeat(400)}` }) as { code?: string }).code, 'BAD_FIELD');
});
