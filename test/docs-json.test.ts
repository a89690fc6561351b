// The parts of the docs check that decide pass or fail, on their own: the
// code blocks found in markdown with their not-run notes, and the comparison
// of an answer with the one the docs show.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareExample, learnIds, parseExample } from './docs-json.js';
import { shellCommands } from './docs-shell.js';
import { markdownBlocks } from './helpers/markdown-blocks.js';

test('blocks: language, lines, indentation and the not-run note right before', () => {
  const md = [
    'Intro',
    '',
    '```sh',
    'echo one',
    '```',
    '',
    '<!-- not run: a diagram -->',
    '',
    '```',
    'a ──▶ b',
    '```',
    '- a list item:',
    '',
    '  ```js',
    '  f();',
    '  ```',
  ].join('\n');
  const blocks = markdownBlocks('x.md', md);
  assert.deepEqual(
    blocks.map((b) => [b.line, b.lang, b.lines, b.notRun]),
    [
      [3, 'sh', ['echo one'], undefined],
      [9, '', ['a ──▶ b'], 'a diagram'],
      [14, 'js', ['f();'], undefined],
    ],
  );
  assert.throws(() => markdownBlocks('y.md', '```\nnever closed'), /y\.md:1: a code block that is never closed/);
});

test('shell: continuation lines joined with their spacing, comments dropped, JSON lines are output', () => {
  const cmds = shellCommands(['# a comment', 'curl -s x \\', "    -d '{\"a\":\"Total  £4\"}'", '{"ok":true}', '', 'echo  two'], 10);
  assert.deepEqual(cmds, [
    { text: "curl -s x -d '{\"a\":\"Total  £4\"}'", output: ['{"ok":true}'], line: 11 },
    { text: 'echo  two', output: [], line: 15 },
  ]);
});

test('answers: the values shown must match; … stands for more, made-up ids and times for their type', () => {
  const shown = parseExample('{"id":"5b0e…","state":"done","size":28,"progress":1,…}');
  assert.deepEqual(compareExample({ id: 'a9c1-uuid', state: 'done', size: 28, progress: 1, created: 5 }, shown), []);
  assert.deepEqual(compareExample({ id: 'x', state: 'done', size: 29, progress: 1 }, shown), ['$.size: 29 where the docs show 28']);
  assert.deepEqual(compareExample({ id: 'x', state: 'done', progress: 1 }, shown), ['$.size: missing']);
  // Without … the fields are exactly those shown.
  assert.deepEqual(compareExample({ a: 1, b: 2 }, parseExample('{"a":1}')), ["$.b: not in the docs' answer"]);
  assert.deepEqual(compareExample([1, 2], parseExample('[1]')), ['$: 2 items where the docs show 1']);
  assert.deepEqual(compareExample([1, 2, 3], parseExample('[1,…]')), []);
  assert.deepEqual(compareExample({ jobs: [1] }, parseExample('{"jobs":[…]}')), []);
  assert.deepEqual(compareExample({ m: 'no such job: 7' }, parseExample('{"m":"no such job: …"}')), []);
  assert.deepEqual(compareExample({ m: 'no such tag' }, parseExample('{"m":"no such job: …"}')), ['$.m: "no such tag" does not fit "no such job: …"']);
  assert.deepEqual(compareExample({ expires: 99, since: 1 }, parseExample('{"expires":1767225600000,"since":1767222000000}')), []);
  assert.deepEqual(compareExample({ expires: 'soon' }, parseExample('{"expires":1767225600000}')), ['$.expires: "soon" is not a number']);
  // A name a reader chose is no made-up id.
  assert.deepEqual(compareExample({ id: 'shop-2' }, parseExample('{"id":"shop-1"}')), ['$.id: "shop-2" where the docs show "shop-1"']);
});

test('ids: the made-up ones an answer shows stand for the real ones after it, the latest winning', () => {
  const ids = new Map<string, string>();
  learnIds({ id: 'job-a', printer: 'p/0' }, parseExample('{"id":"5b0e…","printer":"p/0",…}'), ids);
  learnIds({ result: { id: 'c0ffee0000000001' } }, parseExample('{"result":{"id":"9f2c41d07ab3e611"}}'), ids);
  learnIds({ id: 'job-b' }, parseExample('{"id":"5b0e…"}'), ids);
  assert.deepEqual([...ids], [
    ['5b0e…', 'job-b'],
    ['9f2c41d07ab3e611', 'c0ffee0000000001'],
  ]);
});
