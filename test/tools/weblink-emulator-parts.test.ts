// The Weblink emulator's pure parts, in process: the bounds on what a server
// can make it hold (a split JSON text, a `! U1` line), the raw channel's
// split between SGD lines and print data, the SGD store's answers and the
// alert subscriptions.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EventFields } from '../../tools/emulator/dialects/dialect.js';
import { AlertConfig } from '../../tools/emulator/weblink/alerts.js';
import { DEFAULT_GLUE_LIMIT, Glue } from '../../tools/emulator/weblink/printer-json.js';
import { MAX_SGD_LINE, RawIntake } from '../../tools/emulator/weblink/raw-intake.js';
import { SgdStore } from '../../tools/emulator/weblink/sgd-store.js';

const identity = {
  serial: '50J000000001', product: 'ZTC ZD420-203dpi ZPL', firmware: 'V84.20.23Z',
  retryInterval: '10', retryRandomMax: '120', maxConnections: '10', location: 'https://localhost/weblink',
};

test('Glue joins split JSON until it parses, and gives up past its limit', () => {
  const glue = new Glue(DEFAULT_GLUE_LIMIT, '{}');
  assert.deepEqual(glue.push('{}{"a":'), { kind: 'partial' });
  const done = glue.push('null}');
  assert.equal(done.kind, 'value');
  assert.deepEqual(done.kind === 'value' && done.value, { a: null });
  const small = new Glue(64);
  assert.deepEqual(small.push(`{"a":"${'x'.repeat(40)}`), { kind: 'partial' });
  assert.equal(small.push('x'.repeat(40)).kind, 'garbage', 'past the limit the held text is dropped');
  assert.equal(small.pending, false);
  assert.equal(small.push('not json').kind, 'garbage');
});

test(`raw intake: ! U1 lines are answered and not printed; a line over ${MAX_SGD_LINE} bytes is dropped up to its end`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pb-weblink-parts-'));
  try {
    const replies: string[] = [];
    const events: EventFields[] = [];
    const record = join(dir, 'printed');
    const intake = new RawIntake({
      sgd: new SgdStore(identity),
      record,
      labelMs: 1,
      reply: (b) => replies.push(b.toString('latin1')),
      emit: (e) => events.push(e),
      formatPrinted: () => undefined,
      fullChanged: () => undefined,
    });
    intake.feed(Buffer.from('^XA^FD! not a command^FS^XZ\r\n! U1 getvar "appl.name"\r\n^XA^XZ! U1 setvar "device.location" "shelf"\n'));
    intake.feed(Buffer.from(`! U1 getvar "${'x'.repeat(MAX_SGD_LINE)}" and the rest of that long line\r\n`));
    intake.feed(Buffer.from('! U1 getvar "device.location"\r\n!X'));
    // The mechanism takes a format once the last one's labels are out.
    for (let i = 0; i < 200 && intake.buffered > 0; i++) await new Promise((r) => setTimeout(r, 5));
    intake.close();
    assert.deepEqual(replies, ['"V84.20.23Z"\r\n', '"shelf"\r\n']);
    assert.ok(events.some((e) => e.event === 'sgd-line-too-long'));
    assert.equal(readFileSync(record, 'latin1'), '^XA^FD! not a command^FS^XZ\r\n^XA^XZ!X');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SGD store: get, branch, failed set keeps the old value, unknown names answer null', () => {
  const sgd = new SgdStore(identity);
  assert.deepEqual(sgd.answerJson({ 'device.unique_id': null, 'no.such': null }), { 'device.unique_id': '50J000000001', 'no.such': null });
  assert.deepEqual(sgd.answerJson({ 'device.unique_id': 'x', 'weblink.ip.conn1.retry_interval': 'soon' }), {
    'device.unique_id': '50J000000001', 'weblink.ip.conn1.retry_interval': '10',
  });
  const odometer = sgd.answerJson({ odometer: null });
  assert.deepEqual(Object.keys(odometer).sort(), ['odometer.total_label_count', 'odometer.total_print_length', 'odometer.user_label_count']);
  const all = sgd.answerJson({ allconfig: null })['allconfig'] as Record<string, { value: string; access: string }>;
  assert.equal(all['device.unique_id']?.access, 'R');
});

test('alert subscriptions: SDK only, on-set/on-clear flags, N,N removes, ALL MESSAGES does not cover SGD SET', () => {
  const alerts = new AlertConfig();
  assert.equal(alerts.wants('COLD START', 'SET'), false, 'the factory entry goes to SNMP');
  alerts.add('HEAD OPEN,SDK,Y,N,,,N,|ALL MESSAGES,SDK,N,Y,,,N,');
  assert.equal(alerts.wants('HEAD OPEN', 'SET'), true);
  assert.equal(alerts.wants('PAPER OUT', 'SET'), false);
  assert.equal(alerts.wants('PAPER OUT', 'CLEAR'), true);
  assert.equal(alerts.wants('SGD SET', 'SET', 'capture.channel1.data.raw'), false);
  alerts.add('SGD SET,SDK,Y,N,,,N,capture.channel1.data.raw');
  assert.equal(alerts.wants('SGD SET', 'SET', 'capture.channel1.data.raw'), true);
  assert.equal(alerts.wants('SGD SET', 'SET', 'device.location'), false);
  alerts.add('HEAD OPEN,SDK,N,N,,,N,');
  assert.equal(alerts.wants('HEAD OPEN', 'SET'), false);
});
