// Pieces of fault-matrix.test.ts that need no process: the jobs each dialect
// prints (seeded, so a run repeats), what a printer's record must look like
// after them, and the outcome table.
//
// The record check: the printer's record is the jobs in order, each done job
// whole and exactly once, each job that did not finish (failed, canceled,
// hung) as some prefix of itself, possibly empty — nothing twice, nothing
// missing in the middle, nothing foreign. For G-code the elements are the
// executed command lines (--lines-out) rather than bytes.

import { seeded } from '../helpers/random.js';

export const DIALECTS = ['raw', 'escpos', 'tspl', 'zpl', 'gcode'] as const;
export type MatrixDialect = (typeof DIALECTS)[number];

/** Something the printer holds in order: bytes, or G-code command lines. */
export type Elements = ArrayLike<number> | readonly string[];

export interface Job {
  /** What is submitted. */
  bytes: Uint8Array;
  /** What the printer's record must show for it: the bytes, or (gcode) the command lines. */
  expect: Elements;
}

const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const WORDS = ['coffee', 'bagel', 'total', 'change', 'receipt', 'thanks', 'table', 'order', 'latte', 'tax', 'cash', 'card'];

function words(rnd: () => number, n: number): string {
  return Array.from({ length: n }, () => WORDS[Math.floor(rnd() * WORDS.length)]!).join(' ');
}

/** A job of about `size` bytes in the dialect's language (never one of its status queries). */
export function makeJob(dialect: MatrixDialect, size: number, seed: number): Job {
  const rnd = seeded(seed);
  const parts: string[] = [];
  let length = 0;
  const add = (s: string): void => {
    parts.push(s);
    length += s.length;
  };
  switch (dialect) {
    case 'raw': {
      // Any byte at all: a raw printer has no status queries to collide with.
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = Math.floor(rnd() * 256);
      return { bytes, expect: bytes };
    }
    case 'escpos': {
      // ESC @, text lines, bold on and off, a feed: commands the bridge's tokenizer follows.
      add('\x1b@');
      let line = 0;
      while (length < size) {
        line++;
        if (line % 7 === 0) add('\x1bE\x01');
        add(`${String(line).padStart(5, '0')} ${words(rnd, 3 + Math.floor(rnd() * 5))} ${(rnd() * 100).toFixed(2)}\n`);
        if (line % 7 === 0) add('\x1bE\x00');
        if (line % 25 === 0) add('\x1bd\x02');
      }
      break;
    }
    case 'tspl': {
      let label = 0;
      while (length < size) {
        label++;
        add('SIZE 60 mm,40 mm\r\nGAP 2 mm,0 mm\r\nCLS\r\n');
        for (let i = 0; i < 4; i++) add(`TEXT ${10 + i * 5},${20 + i * 60},"3",0,1,1,"${label} ${words(rnd, 3)}"\r\n`);
        add(`BAR 10,${280 + Math.floor(rnd() * 20)},300,4\r\nPRINT 1\r\n`);
      }
      break;
    }
    case 'zpl': {
      let label = 0;
      while (length < size) {
        label++;
        add('^XA^CI28');
        for (let i = 0; i < 4; i++) add(`^FO${20 + i * 5},${20 + i * 60}^A0N,30,30^FD${label} ${words(rnd, 3)}^FS`);
        add(`^FO20,300^GB${200 + Math.floor(rnd() * 300)},4,4^FS^XZ\r\n`);
      }
      break;
    }
    case 'gcode': {
      // Moves only (the vocabulary the bridge never adds: its M110, M105 and cancel script are M codes), with comments and blank lines it must strip.
      const lines: string[] = [];
      add('; fault-matrix print\nG92 E0\n');
      lines.push('G92 E0');
      let e = 0;
      let layer = 0;
      while (length < size) {
        if (lines.length % 60 === 1) {
          layer++;
          add(`\n; layer ${layer}\n`);
        }
        e += rnd() * 0.5;
        const cmd = `G1 X${(rnd() * 200).toFixed(3)} Y${(rnd() * 200).toFixed(3)} E${e.toFixed(4)} F${1200 + Math.floor(rnd() * 3000)}`;
        lines.push(cmd);
        add(`${cmd}${rnd() < 0.05 ? ' ; infill' : ''}\n`);
      }
      return { bytes: enc(parts.join('')), expect: lines };
    }
  }
  const bytes = enc(parts.join(''));
  return { bytes, expect: bytes };
}

/** The executed command lines that came from jobs (G-code): the bridge's own M110, M105 and cancel script left out. */
export function jobLines(linesOut: string): string[] {
  return linesOut.split('\n').filter((l) => /^G/i.test(l));
}

export type Final = 'done' | 'failed' | 'canceled' | 'hung';

export interface Printed {
  final: Final;
  expect: Elements;
}

function same(a: Elements, i: number, b: Elements, j: number): boolean {
  return (a as ArrayLike<unknown>)[i] === (b as ArrayLike<unknown>)[j];
}

/**
 * Where each job's elements lie in `record` if it is exactly the jobs in
 * order (done: whole; otherwise a prefix, maybe empty); undefined if it is
 * anything else.
 */
export function explain(record: Elements, jobs: readonly Printed[]): [number, number][] | undefined {
  const spans: [number, number][] = [];
  const tried = new Set<string>();
  const from = (i: number, pos: number): boolean => {
    if (i === jobs.length) return pos === record.length;
    const key = `${i}:${pos}`;
    if (tried.has(key)) return false;
    tried.add(key);
    const { final, expect } = jobs[i]!;
    let common = 0;
    while (common < expect.length && pos + common < record.length && same(record, pos + common, expect, common)) common++;
    if (final === 'done') {
      if (common !== expect.length) return false;
      spans[i] = [pos, pos + common];
      return from(i + 1, pos + common);
    }
    // Longest first; the next job may begin like this one's continuation, so shorter prefixes are tried too.
    for (let k = common; k >= 0; k--) {
      spans[i] = [pos, pos + k];
      if (from(i + 1, pos + k)) return true;
    }
    return false;
  };
  return from(0, 0) ? spans : undefined;
}

/** How many times `needle` occurs in `hay` as a contiguous run (counting stops at 2). */
export function occurrences(hay: Elements, needle: Elements): number {
  if (needle.length === 0) return 1;
  let n = 0;
  for (let i = 0; i + needle.length <= hay.length && n < 2; i++) {
    let k = 0;
    while (k < needle.length && same(hay, i + k, needle, k)) k++;
    if (k === needle.length) n++;
  }
  return n;
}

export type Verdict = 'ok' | 'FALSE DONE' | 'BAD RECORD' | 'FAULT MISSED' | 'ERROR';

/**
 * ok when the record is explained; FALSE DONE when a done job is not in the
 * record exactly once as one run; BAD RECORD when the done jobs are whole
 * but the record still is not the jobs in order (a job that did not finish
 * printed with a gap or a repeat, or foreign data).
 */
export function judge(record: Elements, jobs: readonly Printed[]): { verdict: Verdict; detail: string } {
  if (explain(record, jobs) !== undefined) return { verdict: 'ok', detail: '' };
  const bad = jobs.map((j, i) => ({ j, i, n: j.final === 'done' ? occurrences(record, j.expect) : 1 })).filter((x) => x.n !== 1);
  const letter = (i: number): string => String.fromCharCode(65 + i);
  if (bad.length > 0) {
    const what = bad.map((x) => `job ${letter(x.i)} done but ${x.n === 0 ? 'not printed whole in one run' : 'printed twice'}`).join(', ');
    return { verdict: 'FALSE DONE', detail: `${what}; ${describe(record, jobs)}` };
  }
  return { verdict: 'BAD RECORD', detail: describe(record, jobs) };
}

/**
 * The record as runs of the jobs' elements, e.g. "A[0..4347] A[16569..28791]
 * B[0..4155]" (a gap in A), or "?[n]" for elements no job has there.
 */
export function segments(record: Elements, jobs: readonly Printed[], max = 8): string {
  const KEY = 8;
  const out: string[] = [];
  let pos = 0;
  while (pos < record.length && out.length < max) {
    let best: { job: number; from: number; len: number } | undefined;
    for (const [j, { expect }] of jobs.entries()) {
      for (let o = 0; o < expect.length; o++) {
        let k = 0;
        while (o + k < expect.length && pos + k < record.length && same(record, pos + k, expect, o + k)) k++;
        if (k >= Math.min(KEY, record.length - pos) && (best === undefined || k > best.len)) best = { job: j, from: o, len: k };
      }
    }
    if (best === undefined) {
      let n = 1;
      while (pos + n < record.length && n < 4096) {
        const probe = segmentsAt(record, pos + n, jobs, KEY);
        if (probe) break;
        n++;
      }
      out.push(`?[${n}]`);
      pos += n;
      continue;
    }
    out.push(`${String.fromCharCode(65 + best.job)}[${best.from}..${best.from + best.len}]`);
    pos += best.len;
  }
  return `${out.join(' ')}${pos < record.length ? ' …' : ''}`;
}

function segmentsAt(record: Elements, pos: number, jobs: readonly Printed[], key: number): boolean {
  for (const { expect } of jobs) {
    for (let o = 0; o < expect.length; o++) {
      let k = 0;
      while (k < key && o + k < expect.length && pos + k < record.length && same(record, pos + k, expect, o + k)) k++;
      if (k >= Math.min(key, record.length - pos)) return true;
    }
  }
  return false;
}

/** A short account of the record: its length, the jobs' sizes and its runs. */
function describe(record: Elements, jobs: readonly Printed[]): string {
  const sizes = jobs.map((j, i) => `${String.fromCharCode(65 + i)} ${j.final} ${j.expect.length}`).join(', ');
  return `record ${record.length} (${sizes}): ${segments(record, jobs)}`;
}

export interface RunOutcome {
  dialect: MatrixDialect;
  fault: string;
  transport: 'tcp' | 'pty';
  seed: number;
  at: number;
  jobs: { final: Final; code?: string | undefined }[];
  /** The fault events the emulator reported ("stall@12345"). */
  applied: string[];
  verdict: Verdict;
  detail: string;
  ms: number;
}

const jobText = (j: { final: Final; code?: string | undefined }): string => (j.code === undefined ? j.final : `${j.final} ${j.code}`);

const SHORT: Record<string, string> = {
  JOB_INTERRUPTED: 'INT', PRINTER_UNREACHABLE: 'UNREACH', PRINTER_ERROR: 'PERR', TIMEOUT: 'TMO', JOB_CANCELED: 'CANC',
};
const VERDICT_MARK: Record<Exclude<Verdict, 'ok'>, string> = { 'FALSE DONE': 'FD', 'BAD RECORD': 'BR', 'FAULT MISSED': 'FM', ERROR: 'ERR' };

/** One line per run, then a dialect × fault grid; cells list each run as transport:outcome of job A. */
export function table(runs: readonly RunOutcome[], faults: readonly string[]): string {
  const lines: string[] = [];
  const pad = (s: string, n: number): string => s.padEnd(n);
  lines.push(`${pad('dialect', 7)} ${pad('fault', 11)} ${pad('run', 16)} ${pad('job A (faulted)', 34)} ${pad('job B (after)', 22)} verdict`);
  for (const r of runs) {
    lines.push(
      `${pad(r.dialect, 7)} ${pad(r.fault, 11)} ${pad(`${r.transport}@${r.at}`, 16)} ${pad(r.jobs[0] ? jobText(r.jobs[0]) : '-', 34)} ${pad(r.jobs[1] ? jobText(r.jobs[1]) : '-', 22)} ` +
        `${r.verdict}${r.applied.length === 0 ? '' : ` [${r.applied.join(' ')}]`}${r.detail === '' ? '' : ` — ${r.detail.split('\n')[0]}`}`,
    );
  }
  lines.push('');
  // The grid: each run as T (tcp) or P (pty) and job A's outcome, short codes, a verdict other than ok in capitals.
  const codes = new Map<string, string>();
  const shortCode = (code: string): string => {
    const s = SHORT[code] ?? code;
    codes.set(s, code);
    return s;
  };
  const short = (r: RunOutcome): string => {
    const a = r.jobs[0];
    const what = a === undefined ? 'none' : a.code === undefined ? a.final : a.final === 'hung' ? `hung(${a.code})` : shortCode(a.code);
    return `${r.transport === 'tcp' ? 'T' : 'P'}:${what}${r.verdict === 'ok' ? '' : `!${VERDICT_MARK[r.verdict]}`}`;
  };
  const grid = DIALECTS.map((d) => faults.map((f) => runs.filter((r) => r.dialect === d && r.fault === f).map(short).join(' ') || '-'));
  const widths = faults.map((f, i) => Math.max(f.length, ...grid.map((row) => row[i]!.length)));
  lines.push(`${pad('', 7)} ${faults.map((f, i) => pad(f, widths[i]!)).join('  ')}`);
  for (const [k, d] of DIALECTS.entries()) lines.push(`${pad(d, 7)} ${grid[k]!.map((cell, i) => pad(cell, widths[i]!)).join('  ')}`);
  const legend = ['job A per run: T tcp, P pty', ...[...codes].map(([s, c]) => `${s} ${c}`), ...Object.entries(VERDICT_MARK).map(([v, m]) => `!${m} ${v}`)];
  lines.push(legend.join(', '));
  return lines.join('\n');
}
