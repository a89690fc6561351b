import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hqesStatus, hsStatus } from '../../device/core/dialects/zpl.js';
import { tsplStatus } from '../../device/core/dialects/tspl.js';
import { Bench, dec, enc } from './dialect-harness.js';

const TSPL_Q = '\x1b!?';
const hs = (paper = 0, pause = 0, formats = 0, head = 0, ribbon = 0, labels = 0): string =>
  `\x02030,${paper},${pause},1245,${String(formats).padStart(3, '0')},0,0,0,000,0,0,0\x03\r\n` +
  `\x02001,0,${head},${ribbon},1,2,6,0,${String(labels).padStart(8, '0')},1,000\x03\r\n\x021234,0\x03\r\n`;
const hqes = (errors: string): string =>
  `\x02\r\nPRINTER STATUS\r\n   ERRORS:         ${errors === '00000000' ? 0 : 1} 00000000 ${errors}\r\n   WARNINGS:       0 00000000 00000000\r\n\x03\r\n`;

test('tspl: every status bit maps', () => {
  const cases: [number, string][] = [
    [0, 'online'], [0x01, 'cover-open'], [0x02, 'error'], [0x04, 'paper-out'], [0x08, 'error'],
    [0x10, 'offline'], [0x20, 'busy'], [0x40, 'cover-open'], [0x80, 'error'],
  ];
  for (const [b, state] of cases) assert.equal(tsplStatus(b).state, state, `0x${b.toString(16)}`);
  assert.equal(tsplStatus(0x08).detail, 'ribbon out');
});

test('tspl: ESC ! ? polls; silence is offline; unasked bytes are not status', () => {
  const b = new Bench('tspl');
  assert.equal(dec(b.fresh()), TSPL_Q);
  b.answer(Uint8Array.of(0x04));
  assert.equal(b.status().state, 'paper-out');
  b.answer(Uint8Array.of(0x00)); // nobody asked
  assert.equal(b.state(), 'paper-out');
  b.advance(5000);
  b.advance(2000);
  assert.match(b.status().detail ?? '', /no answer/);
});

test('tspl: no query inside BITMAP data; done only once printing has cleared after the data', () => {
  const b = new Bench('tspl', { poll: 100, room: 0 });
  b.room(16);
  b.answer(Uint8Array.of(0));
  const bitmap = new Uint8Array(64).fill(0x0a); // line feeds inside binary data must not count
  const job = new Uint8Array([...enc('SIZE 40 mm,30 mm\r\nCLS\r\nBITMAP 0,0,8,8,0,'), ...bitmap, ...enc('\r\nPRINT 1\r\n')]);
  b.fresh();
  b.start('t1', job);
  for (let i = 0; i < 200 && b.out.length < job.length + 3; i++) {
    b.advance(40);
    b.room(16);
    b.answer(Uint8Array.of(0x20));
  }
  const out = dec(b.fresh());
  const start = out.indexOf('BITMAP');
  const region = out.slice(start, start + 'BITMAP 0,0,8,8,0,'.length + 64);
  assert.ok(!region.includes(TSPL_Q), 'no query inside the bitmap');
  assert.ok(!b.done('t1'));
  for (let i = 0; i < 5 && !b.done('t1'); i++) {
    b.advance(1000);
    b.room(16);
    b.answer(Uint8Array.of(0x00));
  }
  assert.ok(b.done('t1'), 'printing seen, then clear: confirmed');
});

test('zpl: ~HS strings parse; malformed ones are unknown', () => {
  const blocks = (s: string): string[] => s.split('\x03\r\n').map((x) => x.replace('\x02', '')).filter((x) => x !== '');
  const st = (s: string): string => {
    const [a = '', b = ''] = blocks(s);
    return hsStatus(a, b).state;
  };
  assert.equal(st(hs()), 'online');
  assert.equal(st(hs(1)), 'paper-out');
  assert.equal(st(hs(0, 1)), 'offline');
  assert.equal(st(hs(0, 0, 2)), 'busy');
  assert.equal(st(hs(0, 0, 0, 1)), 'cover-open');
  assert.equal(st(hs(0, 0, 0, 0, 1)), 'error');
  assert.equal(st(hs(0, 0, 0, 0, 0, 3)), 'busy');
  assert.equal(hsStatus('garbage', '1,2').state, 'unknown');
  assert.equal(hqesStatus(hqes('00000001')).state, 'paper-out');
  assert.equal(hqesStatus(hqes('00000004')).state, 'cover-open');
  assert.deepEqual(hqesStatus(hqes('00000008')), { state: 'error', detail: 'cutter fault' });
  assert.equal(hqesStatus('nonsense').state, 'unknown');
});

test('zpl: silent ~HS is an error, then ~HQES tells the cause; answers split across reads', () => {
  const b = new Bench('zpl');
  assert.equal(dec(b.fresh()), '~HS');
  const answer = hs();
  b.answer(answer.slice(0, 20));
  b.answer(answer.slice(20));
  assert.equal(b.status().state, 'online');
  b.advance(5000);
  assert.equal(dec(b.fresh()), '~HS');
  b.advance(2000);
  assert.deepEqual([b.status().state, b.status().detail], ['error', 'no answer to ~HS']);
  assert.equal(dec(b.fresh()), '~HQES');
  b.answer(hqes('00000001'));
  assert.equal(b.status().state, 'paper-out');
  b.advance(5000);
  b.answer(hs(0, 0, 0, 1));
  assert.equal(b.status().state, 'cover-open');
});

test('zpl: queries only after ^XZ; done once no formats and no labels remain after the data', () => {
  const b = new Bench('zpl', { poll: 100, room: 0 });
  b.room(8);
  b.answer(hs());
  b.fresh();
  const label = '^XA^FO50,50^A0N,50,50^FDHello ~HS world^FS^XZ';
  const job = enc(label + label);
  b.start('z1', job);
  for (let i = 0; i < 100 && !b.has((m) => m.t === 'job.ack' && m.written === job.length); i++) {
    b.advance(40);
    b.room(8);
    b.answer(hs(0, 0, 1, 0, 0, 1));
  }
  const out = dec(b.fresh());
  assert.ok(out.includes('^XZ~HS^XA'), 'a poll went between the two labels');
  assert.equal(out.replace(/^~HS/, '').replaceAll(/\^XZ~HS/g, '^XZ'), label + label, 'and only before the first label or right after ^XZ');
  assert.ok(!b.done('z1'));
  b.advance(1000);
  b.room(8);
  b.answer(hs());
  assert.ok(b.done('z1'));
});
