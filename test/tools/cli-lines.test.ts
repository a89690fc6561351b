// The pure parts of the CLI: console shorthand and request ids, how frames
// are shown, the print progress line with its rate meter on a fed clock, and
// the guess behind "did you mean".

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { RateMeter } from '../../protocol/units.js';
import { readInput, RequestIds, showFrame } from '../../tools/cli/console-lines.js';
import { progressLine, summaryLine } from '../../tools/cli/progress.js';
import { fields, request, ShorthandError } from '../../tools/cli/shorthand.js';
import { closest } from '../../tools/cli/suggest.js';

describe('console shorthand', () => {
  test('op key=value builds a request; values are JSON when they parse, dots nest, double quotes keep strings', () => {
    assert.deepEqual(request('ping'), { op: 'ping' });
    assert.deepEqual(request('jobs.list state=queued limit=5'), { op: 'jobs.list', state: 'queued', limit: 5 });
    assert.deepEqual(request('control.send to.all=true name=led args.pattern=identify args.seconds=3'), {
      op: 'control.send', to: { all: true }, name: 'led', args: { pattern: 'identify', seconds: 3 },
    });
    assert.deepEqual(request(`job.submit printer=a/0 key="42" text='hello world' lines='["G28","M105"]'`), {
      op: 'job.submit', printer: 'a/0', key: '42', text: 'hello world', lines: ['G28', 'M105'],
    });
    assert.deepEqual(request('x msg="say \\"hi\\"" path=a\\ b'), { op: 'x', msg: 'say "hi"', path: 'a b' });
    assert.deepEqual(fields(['a.b=1', 'a.c=null']), { a: { b: 1, c: null } });
  });

  test('mistakes are reported, not guessed', () => {
    assert.throws(() => request('ping key'), ShorthandError);
    assert.throws(() => request('op=ping'), /starts with the op/);
    assert.throws(() => request('x a="open'), /unterminated " quote/);
    assert.throws(() => request('x a=1 a.b=2'), /already set/);
  });

  test('readInput: JSON goes out as typed, shorthand gets the next id, dot-commands', () => {
    const ids = new RequestIds();
    assert.deepEqual(readInput('{broken', ids), { kind: 'send', text: '{broken' });
    assert.deepEqual(readInput('  ping ', ids), { kind: 'send', text: '{"op":"ping","id":1}', built: { op: 'ping', id: 1 } });
    assert.deepEqual(readInput('', ids), { kind: 'skip' });
    assert.deepEqual(readInput('.exit', ids), { kind: 'exit' });
    assert.deepEqual(readInput('.help', ids), { kind: 'help' });
    assert.equal(readInput('.frob', ids).kind, 'error');
    assert.equal(readInput('ping x', ids).kind, 'error');
    assert.deepEqual(readInput('ping', ids), { kind: 'send', text: '{"op":"ping","id":2}', built: { op: 'ping', id: 2 } }, 'refused lines take no id');
  });

  test('the console never numbers a request with an id a typed request used', () => {
    const ids = new RequestIds();
    const idOf = (line: string): unknown => {
      const input = readInput(line, ids);
      return input.kind === 'send' ? input.built?.['id'] : input.kind;
    };
    assert.equal(idOf('ping'), 1);
    readInput('{"op":"ping","id":2}', ids);
    readInput('[{"op":"ping","id":3},{"op":"ping","id":"x"}]', ids);
    readInput('{"op":"ping","id":5}', ids);
    assert.deepEqual([idOf('ping'), idOf('ping'), idOf('ping')], [4, 6, 7]);
    readInput('{"op":"ping","id":8', ids);
    assert.equal(idOf('ping'), 8, 'malformed JSON carries no id the server could answer to');
  });

  test('a shorthand field named like the envelope (op, id) is refused, naming the field meant', () => {
    const ids = new RequestIds();
    const input = readInput('job.get id=nope', ids);
    assert.equal(input.kind, 'error');
    assert.match(input.kind === 'error' ? input.message : '', /^id is the request's own id, not a field of job.get \(for the job, say job=nope\)/);
    assert.throws(() => request('ping id=5'), /id is the request's own id, not a field of ping; the console numbers requests itself/);
    assert.throws(() => request('printer.pause id.x=1'), /for the printer, say printer=\{"x":1\}/);
    assert.throws(() => request('ping op=job.get'), /op is the first word \(ping\), not a field/);
    assert.equal(ids.next(), 1, 'a refused line uses up no id');
  });

  test('frames are shown as replies, errors and events; colour only when asked', () => {
    const plain = { color: false, width: 0 };
    assert.equal(showFrame('{"re":1,"ok":true,"result":"pong"}', plain), '< #1 ok "pong"');
    assert.equal(showFrame('{"re":null,"ok":false,"error":{"code":"BAD_JSON","message":"message is not valid JSON"}}', plain), '< #null BAD_JSON message is not valid JSON');
    assert.equal(showFrame('{"event":"printer.status","printer":{"id":"a/0"}}', plain), '< printer.status {"printer":{"id":"a/0"}}');
    assert.equal(showFrame('not json', plain), '< not json');
    assert.equal(showFrame('{"re":1,"ok":true,"result":"pong"}', { color: true, width: 0 }), '< #1 \x1b[32mok\x1b[0m "pong"');
    assert.equal(showFrame('{"re":1,"ok":true,"result":{"a":1,"b":2}}', { color: false, width: 12 }), '< #1 ok {\n  "a": 1,\n  "b": 2\n}');
  });
});

describe('print progress', () => {
  const job = (written: number, size: number, state: JobView['state'] = 'printing'): JobView => ({
    id: '0123456789abcdef', printer: 'a/0', state, size, written, progress: written / size, created: 0, updated: 0,
  });

  test('the rate is measured over a window of samples on the given clock', () => {
    const m = new RateMeter(5000);
    m.sample(0, 0);
    assert.equal(m.rate(), undefined);
    m.sample(1000, 2048);
    assert.equal(m.rate(), 2048);
    m.sample(2000, 4096);
    m.sample(10_000, 4096);
    assert.equal(m.rate(), 0, 'only the last window counts: a stall shows as 0');
    m.sample(11_000, 100);
    assert.equal(m.rate(), undefined, 'a restart from a lower count starts over');
  });

  test('the line shows state, percent, bar, bytes, rate and time left, and fits the width', () => {
    const line = progressLine(job(32 * 1024, 64 * 1024), 4096, 100);
    assert.equal(line, 'job 01234567  printing   50%  [###############---------------]  32 KiB / 64 KiB  4.0 KiB/s  ETA 8s');
    assert.ok(line.length < 100);
    const narrow = progressLine(job(32 * 1024, 64 * 1024), 4096, 60);
    assert.ok(narrow.length < 60, narrow);
    assert.doesNotMatch(narrow, /\[/, 'no room for a bar');
    assert.equal(progressLine(job(0, 10, 'queued'), undefined, 60).includes('0 B / 10 B'), true);
    assert.match(progressLine({ ...job(5, 10, 'paused'), error: { code: 'PRINTER_ERROR', message: 'paper out' } }, undefined, 100), /paused \(PRINTER_ERROR\)/);
    assert.equal(summaryLine(job(64 * 1024, 64 * 1024, 'done'), 4000), 'job 0123456789abcdef done: 64 KiB of 64 KiB in 4s, 16 KiB/s');
  });
});

describe('did you mean', () => {
  const options = ['server', 'token', 'printer', 'json', 'watch', 'help'];

  test('a typo gets the option it comes from: one edit, a swap, or the start of only one', () => {
    assert.equal(closest('sever', options), 'server');
    assert.equal(closest('jsno', options), 'json');
    assert.equal(closest('prin', options), 'printer');
    assert.equal(closest('TOKEN', options), 'token');
  });

  test('nothing close, or two as close, is no guess: a wrong one sends the user astray', () => {
    assert.equal(closest('frobnicate', options), undefined);
    assert.equal(closest('x', options), undefined);
    assert.equal(closest('pat', ['cat', 'pit', 'list']), undefined, 'cat and pit are both one edit away');
  });
});
