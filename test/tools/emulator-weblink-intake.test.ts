// The Weblink emulator's raw intake as a printer's receive buffer: it fills
// while labels print (not only while a fault holds the mechanism), the
// mechanism takes one format at a time, ~HS counts the formats waiting, and
// ~JA empties the buffer.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RawIntake } from '../../tools/emulator/weblink/raw-intake.js';
import { SgdStore } from '../../tools/emulator/weblink/sgd-store.js';

const identity = {
  serial: '50J000000001', product: 'ZTC ZD420-203dpi ZPL', firmware: 'V84.20.23Z',
  retryInterval: '10', retryRandomMax: '0', maxConnections: '10', location: 'https://localhost/weblink',
};
const LABEL_MS = 40;
const format = (i: number): string => `^XA^FO10,10^FDlabel ${String(i).padStart(2, '0')} ${'x'.repeat(20)}^FS^XZ`;

function intake(capacity: number) {
  const dir = mkdtempSync(join(tmpdir(), 'pb-weblink-intake-'));
  const record = join(dir, 'printed');
  const full: boolean[] = [];
  const printed: number[] = [];
  const replies: string[] = [];
  const raw = new RawIntake({
    sgd: new SgdStore(identity), record, labelMs: LABEL_MS, capacity,
    fullChanged: (f) => full.push(f),
    reply: (b) => replies.push(b.toString('latin1')),
    emit: () => undefined,
    formatPrinted: (labels) => printed.push(labels),
  });
  return {
    raw, full, printed, replies,
    recorded: (): string => readFileSync(record, 'latin1'),
    /** Formats in the receive buffer, from a ~HS answer. */
    formatsWaiting(): number {
      replies.length = 0;
      raw.feed(Buffer.from('~HS', 'latin1'));
      const first = replies.join('').split('\x03')[0]?.slice(1).split(',');
      return Number(first?.[4]);
    },
    close(): void {
      raw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const until = async (what: string, ok: () => boolean, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: timed out`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('raw intake: formats sent faster than labels print fill the buffer, which empties one format per label', async () => {
  const formats = [1, 2, 3, 4, 5].map(format);
  const size = formats[0]!.length;
  const p = intake(3 * size);
  try {
    p.raw.feed(Buffer.from(formats.join(''), 'latin1'));
    assert.deepEqual(p.full, [true], 'four formats wait behind the one printing: the buffer is full');
    assert.equal(p.raw.buffered, 4 * size);
    assert.equal(p.formatsWaiting(), 4, '~HS counts the formats waiting in the buffer');
    assert.equal(p.recorded(), formats[0], 'the mechanism took the first format only');
    await until('two labels out', () => p.printed.length >= 2);
    assert.deepEqual(p.full, [true, false], 'room again once the buffer holds less than its size');
    await until('every label out', () => p.printed.length === 5);
    assert.equal(p.recorded(), formats.join(''), 'each format once, in order');
    assert.equal(p.raw.buffered, 0);
    assert.equal(p.formatsWaiting(), 0);
  } finally {
    p.close();
  }
});

test('raw intake: ~JA drops the formats waiting in the buffer; what comes after it prints', async () => {
  const p = intake(1 << 20);
  try {
    p.raw.feed(Buffer.from(format(1) + format(2) + format(3), 'latin1'));
    assert.equal(p.formatsWaiting(), 2);
    p.raw.feed(Buffer.from(`~JA${format(4)}`, 'latin1'));
    await until('the format after ~JA out', () => p.printed.length === 1);
    await new Promise((r) => setTimeout(r, LABEL_MS * 3));
    assert.equal(p.printed.length, 1, 'the cancelled formats never print');
    assert.equal(p.recorded(), format(1) + format(4));
  } finally {
    p.close();
  }
});
