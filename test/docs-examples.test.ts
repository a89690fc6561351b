// Every example in the README and docs/*.md is run here, the way a reader
// would paste it: shell blocks in a real bash (test/docs-shell.ts says the
// little it rewrites: ports, the data folder, made-up ids), WebSocket
// sessions over a socket (test/docs-session.ts), against a real server, real
// emulators and bridges that the examples themselves start; what the docs
// show as an answer is compared with the answer (test/docs-json.ts). A block
// that cannot run here (flashing a board, a systemd unit, a browser page)
// carries `<!-- not run: REASON -->` right before it, and a block without
// that note which no runner here takes fails the first test: a new example
// is run from the day it is written, or says why not.
//
// The system parts the examples use (curl, openssl, and socat for
// `emulate --pty`) come from scripts/install-system-deps.sh through
// `npm test`.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { blocksOf, DocPlayer, isSession, isShell, play } from './docs-play.js';
import { DocSession } from './docs-session.js';
import { where } from './helpers/markdown-blocks.js';
import { Processes, REPO_ROOT } from './helpers/processes.js';

const FILES = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/**
 * How each file's examples run. `story`: in order in one folder, each block
 * a terminal of its own (the README). `world`: in order in one terminal,
 * against the server and printers the file takes for granted
 * (DocPlayer.world). `alone`: each block in a fresh folder and terminal, as
 * alternatives a reader picks from. A file not here has every block marked
 * not run.
 */
const HOW: Record<string, 'story' | 'world' | 'alone'> = {
  'README.md': 'story',
  'docs/api.md': 'world',
  'docs/protocol.md': 'world',
  'docs/compat.md': 'alone',
  'docs/deploy.md': 'alone',
  'docs/weblink.md': 'story',
};

const player = new DocPlayer(new Processes());
after(() => player.close());

function assertNone(problems: string[]): void {
  assert.equal(problems.length, 0, `${problems.length} example(s) differ from what they do:\n\n${problems.join('\n\n')}`);
}

test('every example block is run by this file or says why not', () => {
  const unrun: string[] = [];
  for (const file of FILES) {
    for (const b of blocksOf(file)) {
      if (b.notRun !== undefined) continue;
      const how = HOW[file];
      const runs = how === 'world' ? isShell(b) || isSession(b) : how !== undefined && isShell(b);
      if (!runs) unrun.push(`${where(b)} (${b.lang || 'no language'}: ${(b.lines[0] ?? '').slice(0, 60)})`);
    }
  }
  assert.deepEqual(unrun, [], 'blocks that neither run here nor carry <!-- not run: reason -->');
});

test('every not-run note gives a reason', () => {
  for (const file of FILES) for (const b of blocksOf(file)) if (b.notRun !== undefined) assert.ok(b.notRun.length > 3, `${where(b)}: a reason`);
});

test('README: the story, pasted block by block, each block in a terminal of its own, prints byte for byte', async () => {
  const { dir, problems } = await player.story('README.md');
  assertNone(problems);
  const receipt = readFileSync(join(dir, 'receipt.bin'));
  assert.ok(receipt.length > 0);
  assert.deepEqual(readFileSync(join(dir, 'received.bin')), Buffer.concat([receipt, receipt]), 'the TCP printer printed receipt.bin, through print, then through curl');
  assert.deepEqual(readFileSync(join(dir, 'received-serial.bin')), receipt, 'the serial printer printed receipt.bin');
});

for (const [file, how] of Object.entries(HOW)) {
  if (how === 'world') {
    test(`${file}: every example, in order, against a server with the printers it names`, async () => {
      const dir = player.folder();
      const ports = new Map<number, number>();
      await player.world(dir, ports);
      const shell = player.shell(dir, ports);
      const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
      const session = await DocSession.open(`ws://127.0.0.1:${ports.get(8080)}/v1/client`, token, shell.ids);
      try {
        assertNone(await play(blocksOf(file), shell, session));
      } finally {
        session.close();
      }
    });
  }
  if (how === 'story' && file !== 'README.md') {
    test(`${file}: the blocks in order in one folder, each in a terminal of its own`, async () => {
      assertNone((await player.story(file)).problems);
    });
  }
  if (how === 'alone') {
    test(`${file}: each example in a fresh folder and terminal`, async () => {
      const problems: string[] = [];
      for (const block of blocksOf(file).filter((b) => b.notRun === undefined)) {
        problems.push(...(await play([block], player.shell(player.folder(), new Map()))));
      }
      assertNone(problems);
    });
  }
}
