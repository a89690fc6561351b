// Plays the docs' examples the three ways test/docs-examples.test.ts uses:
// blocks in order, shell and WebSocket sessions alike, with what a block
// prints compared to what the docs show after it. Kept apart from the tests
// so that those read as the list of what is checked.

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compareExample, learnIds, parseExample } from './docs-json.js';
import type { DocSession } from './docs-session.js';
import { DocShell, shellCommands } from './docs-shell.js';
import { markdownBlocks, where, type MarkdownBlock } from './helpers/markdown-blocks.js';
import { REPO_ROOT, type Processes } from './helpers/processes.js';
import { until } from './helpers/until.js';

export const blocksOf = (file: string): MarkdownBlock[] => markdownBlocks(file, readFileSync(join(REPO_ROOT, file), 'utf8'));

/** A block a reader types into a terminal. */
export const isShell = (b: MarkdownBlock): boolean => ['', 'sh', 'bash', 'console', 'shell'].includes(b.lang) && !isSession(b);
/** A WebSocket session: `> request` and `< answer` lines (`→`, `←`). */
export const isSession = (b: MarkdownBlock): boolean => b.lines.some((l) => /^[>→] /.test(l));

/** The processes and folders of one test file's examples; close() ends them. */
export class DocPlayer {
  private readonly root = join(REPO_ROOT, '.cache', 'docs-examples');
  private readonly folders: string[] = [];

  constructor(private readonly procs: Processes) {
    mkdirSync(this.root, { recursive: true });
  }

  /** A fresh folder under the project (npm finds the project from it, as from its root). */
  folder(): string {
    const dir = mkdtempSync(join(this.root, 'run-'));
    this.folders.push(dir);
    return dir;
  }

  shell(dir: string, ports: Map<number, number>): DocShell {
    return new DocShell(this.procs, dir, ports);
  }

  async close(): Promise<void> {
    await this.procs.killAll();
    for (const dir of this.folders) rmSync(dir, { recursive: true, force: true });
  }

  /**
   * What the docs take for granted, made with the commands the README shows: a
   * server, an ESC/POS printer `shop-1/0` (tag kitchen) and a G-code printer
   * `prusa/0`, each an emulator behind a bridge, devices `shop-2` (tag
   * kitchen) and `old-till` that are not connected, and the README's
   * receipt.bin. Made in a terminal of its own, so that nothing it exports
   * reaches the examples' terminal.
   */
  async world(dir: string, ports: Map<number, number>): Promise<void> {
    const shell = this.shell(dir, ports);
    for (const cmd of [
      'printbridge serve',
      'printbridge emulate --dialect escpos --tcp 127.0.0.1:9100 --out received.bin',
      'printbridge emulate --dialect gcode --tcp 127.0.0.1:9101',
      'export PRINTBRIDGE_TOKEN=$(printbridge devices add shop-1 --tag kitchen)',
      'printbridge bridge --server ws://127.0.0.1:8080 --id shop-1 --printer tcp://127.0.0.1:9100 --dialect escpos',
      'export PRINTBRIDGE_TOKEN=$(printbridge devices add prusa)',
      'printbridge bridge --server ws://127.0.0.1:8080 --id prusa --printer tcp://127.0.0.1:9101 --dialect gcode',
      'printbridge devices add shop-2 --tag kitchen',
      'printbridge devices add old-till',
      "printf '\\033@Hello from printbridge\\nTotal  4.50\\n\\035V\\102\\003' > receipt.bin",
    ]) {
      const r = await shell.paste(cmd);
      if (r !== undefined && r.status !== 0) throw new Error(`${cmd}: exit ${r.status}\n${r.stderr}`);
    }
    // The docs show the 3D printer with its temperatures, which come with the
    // bridge's first status poll after it is online.
    const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
    await until('the first temperatures of prusa/0', async () => {
      const res = await fetch(`http://127.0.0.1:${ports.get(8080)}/api/v1/printers/prusa/0`, { headers: { authorization: `Bearer ${token}` } });
      return res.ok && 'temps' in ((await res.json()) as object);
    });
  }

  /** Plays a file's blocks in order in one folder, each block a terminal of its own; the folder and the differences. */
  async story(file: string): Promise<{ dir: string; problems: string[] }> {
    const dir = this.folder();
    const ports = new Map<number, number>();
    const problems: string[] = [];
    // Nothing carries over between terminals but the folder, what runs in the
    // background, and the ports it got.
    for (const block of blocksOf(file).filter((b) => b.notRun === undefined)) problems.push(...(await play([block], this.shell(dir, ports))));
    return { dir, problems };
  }
}

/** Plays blocks in order, shell and WebSocket alike, in one reader's terminal; the differences. */
export async function play(blocks: MarkdownBlock[], shell: DocShell, session?: DocSession): Promise<string[]> {
  const problems: string[] = [];
  for (const block of blocks) {
    if (block.notRun !== undefined) continue;
    if (isSession(block) && session !== undefined) {
      problems.push(...(await session.play(block)));
      continue;
    }
    if (!isShell(block)) {
      problems.push(`${where(block)}: a ${block.lang || 'plain'} block runs nowhere here; mark it <!-- not run: reason -->`);
      continue;
    }
    const cmds = shellCommands(block.lines, block.line + 1);
    for (const [i, cmd] of cmds.entries()) {
      const at = `${block.file}:${cmd.line}`;
      // Pasted into a terminal, the lines after one that keeps running wait for it to end.
      if (i < cmds.length - 1 && shell.isLongRunning(cmd.text) && !/&\s*(#.*)?$/.test(cmd.text)) {
        problems.push(`${at}: "${cmd.text}" keeps running, so the lines after it would wait; end its block with it, or end it with &`);
      }
      const r = await shell.paste(cmd.text);
      if (r === undefined) continue;
      if (r.status !== 0) problems.push(`${at}: exit ${r.status}: ${cmd.text}\n${r.stderr}`);
      else problems.push(...outputProblems(at, r.stdout, cmd.output, shell.ids));
    }
  }
  return problems;
}

/**
 * A command's output against the JSON lines the docs show after it ([] when
 * it fits). Output the docs do not show must not be an error answer: an
 * example that only works by failing is no example.
 */
function outputProblems(at: string, stdout: string, shown: string[], ids = new Map<string, string>()): string[] {
  const got = stdout.split('\n').filter((l) => l.trim() !== '');
  const json = got.map((l): unknown => {
    try {
      return JSON.parse(l);
    } catch {
      return undefined;
    }
  });
  if (shown.length === 0) {
    // REST's error answer is `{"error": {code, message}}` alone (a job that failed has other fields).
    const error = json.find((j) => typeof j === 'object' && j !== null && Object.keys(j).join() === 'error');
    return error === undefined ? [] : [`${at}: answered an error the docs do not show: ${JSON.stringify(error)}`];
  }
  if (got.length !== shown.length) return [`${at}: ${shown.length} line(s) shown, ${got.length} printed:\n${stdout}`];
  return shown.flatMap((line, i) => {
    if (json[i] === undefined) return [`${at}: not JSON: ${got[i]}`];
    const expected = parseExample(line);
    learnIds(json[i], expected, ids);
    const differences = compareExample(json[i], expected);
    return differences.length === 0 ? [] : [`${at}: ${differences.join('; ')}\n  got: ${(got[i] ?? '').slice(0, 400)}`];
  });
}

