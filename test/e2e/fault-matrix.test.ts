// The fault matrix: every dialect × every printer fault, with real processes
// only — one `printbridge serve`, and per run a `printbridge emulate` (on TCP
// or on a PTY) and a `printbridge bridge` in front of it. Each fault is an
// emulator @N fault, placed at a seeded random byte of the first job, so it
// lands mid-job:
//
//   stall        the printer stops reading for 2.5 s
//   stall+drop   it stops reading, and 2.5 s later the connection is cut (TCP)
//   drop         the connection is cut (TCP)
//   power-cycle  switched off for 1.5 s: buffered data lost; TCP reset and
//                refused, PTY silent; back with a reset state
//   paper-out    for 2.5 s (escpos, tspl, zpl)
//   disappear    gone for 2 s (TCP: dropped and refused; PTY: device removed)
//
// Per run: job A (20–40 KB, the one the fault hits), then job B (4 KB, the
// printer after the fault). The printer reads at 115200 baud and prints
// 10 KB/s from a 4 KB buffer, so a job is on its way for seconds and the
// buffer holds unprinted data when the power goes (paper-out runs print
// 20 KB/s from 16 KB, see FAULTS). Every job must end: one still not final
// after BOUND_MS is canceled and shown as `hung`.
//
// The promise checked: a done job is in the printer's record exactly once,
// whole and in order (G-code: the executed command lines, --lines-out); a
// job that failed (or was canceled) left at most a prefix of itself; nothing
// else is in the record. Each run must also show the emulator's `fault`
// event, so a cell cannot pass because its fault never happened. The test
// prints a table of outcomes and fails on any false `done`, any bad record
// and any missed fault.
//
// Environment:
//   PRINTBRIDGE_MATRIX_SEEDS        runs per cell (default 2; transports alternate)
//   PRINTBRIDGE_MATRIX_SEED         base seed (default 1)
//   PRINTBRIDGE_MATRIX_CONCURRENCY  runs at once (default 8)
//   PRINTBRIDGE_MATRIX_ONLY         comma-separated dialect, fault or dialect/fault filters
//   PRINTBRIDGE_MATRIX_BOUND_MS     how long a job may take before it counts as hung (default 40000)
//   PRINTBRIDGE_MATRIX_VERBOSE=1    the emulator's and bridge's last output lines for every run that is not ok

import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { addDevice } from '../../server/store/devices.js';
import { openStore } from '../../server/store/db.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { seeded } from '../helpers/random.js';
import { tempDir } from '../tools/emulator-fixture.js';
import { DIALECTS, jobLines, judge, makeJob, table, type Final, type Job, type MatrixDialect, type Printed, type RunOutcome } from './fault-matrix-rig.js';

const ADMIN = 'fault-matrix-admin';
const env = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const SEEDS = env('PRINTBRIDGE_MATRIX_SEEDS', 2);
const BASE_SEED = env('PRINTBRIDGE_MATRIX_SEED', 1);
const CONCURRENCY = env('PRINTBRIDGE_MATRIX_CONCURRENCY', 8);
const BOUND_MS = env('PRINTBRIDGE_MATRIX_BOUND_MS', 40_000);
const VERBOSE = process.env['PRINTBRIDGE_MATRIX_VERBOSE'] === '1';
const ONLY = (process.env['PRINTBRIDGE_MATRIX_ONLY'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');

const BAUD = '115200';
const PRINT_RATE = '10000';
const POLL = '500';
const FINAL = ['done', 'failed', 'canceled'];

type Transport = 'tcp' | 'pty';

interface FaultKind {
  /** The emulator --fault specs for a fault at byte n. */
  specs(n: number): string[];
  /** The `fault` events that must show it happened. */
  names: string[];
  /** Emulator options for this fault (instead of the default mechanism speed and buffer). */
  emulator?: string[];
  /** The event that shows it is over (the printer reads, is on, is back), if it ends by itself. */
  over?: (e: Record<string, unknown>) => boolean;
  transports: Transport[];
  dialects?: MatrixDialect[];
}

const FAULTS: Record<string, FaultKind> = {
  stall: { specs: (n) => [`stall@${n}~2500`], names: ['stall'], over: (e) => e['event'] === 'resumed', transports: ['tcp', 'pty'] },
  // The stall outlasts the drop a little, so the printer reads again on the next connection.
  'stall+drop': { specs: (n) => [`stall@${n}~3000`, `drop@${n}+2500`], names: ['stall', 'drop'], over: (e) => e['event'] === 'resumed', transports: ['tcp'] },
  drop: { specs: (n) => [`drop@${n}`], names: ['drop'], transports: ['tcp'] },
  'power-cycle': { specs: (n) => [`power-cycle@${n}~1500`], names: ['power-cycle'], over: (e) => e['event'] === 'power-on', transports: ['tcp', 'pty'] },
  'paper-out': {
    specs: (n) => [`paper-out@${n}~2500`], names: ['paper-out'], over: (e) => e['event'] === 'condition' && e['name'] === 'ok',
    // A mechanism faster than the line keeps the buffer near empty, so when the paper runs out there is
    // room for the bridge's next status query to be read and answered (a full buffer would hide it).
    emulator: ['--print-rate', '20000', '--buffer', '16384'],
    transports: ['tcp', 'pty'], dialects: ['escpos', 'tspl', 'zpl'],
  },
  disappear: { specs: (n) => [`disappear@${n}~2000`], names: ['disappear'], over: (e) => e['event'] === 'reappeared', transports: ['tcp', 'pty'] },
};

/** Emulator options per dialect beyond the common ones. */
const EMULATOR_EXTRA: Record<MatrixDialect, string[]> = {
  raw: [],
  escpos: [],
  tspl: ['--print-ms', '50'],
  zpl: ['--print-ms', '2'],
  gcode: [],
};

interface Run {
  dialect: MatrixDialect;
  fault: string;
  index: number;
  id: string;
  transport: Transport;
  seed: number;
}

function plan(): Run[] {
  const runs: Run[] = [];
  for (const dialect of DIALECTS) {
    for (const [fault, kind] of Object.entries(FAULTS)) {
      if (kind.dialects !== undefined && !kind.dialects.includes(dialect)) continue;
      if (ONLY.length > 0 && !ONLY.some((o) => o === dialect || o === fault || o === `${dialect}/${fault}`)) continue;
      for (let index = 0; index < SEEDS; index++) {
        const seed = BASE_SEED * 1_000_003 + DIALECTS.indexOf(dialect) * 10_007 + Object.keys(FAULTS).indexOf(fault) * 101 + index;
        runs.push({ dialect, fault, index, id: `fm-${dialect}-${fault.replace('+', '-')}-${index}`, transport: kind.transports[index % kind.transports.length]!, seed });
      }
    }
  }
  return runs;
}

const procs = new Processes();
const { dir, cleanup } = tempDir('printbridge-matrix-');
let client: Client | undefined;
after(async () => {
  await client?.close().catch(() => {});
  await procs.killAll();
  cleanup();
});

/** Waits for a final state; after `bound` ms the job is canceled and reported hung. */
async function outcome(c: Client, id: string, bound: number): Promise<{ final: Final; code?: string | undefined }> {
  const end = Date.now() + bound;
  for (;;) {
    const job = (await c.request('job.get', { job: id })) as JobView;
    if (FINAL.includes(job.state)) return { final: job.state as Final, code: job.error?.code };
    if (Date.now() > end) break;
    await delay(200);
  }
  await c.request('job.cancel', { job: id }).catch(() => {});
  const stop = Date.now() + 15_000;
  while (Date.now() < stop) {
    const job = (await c.request('job.get', { job: id })) as JobView;
    if (FINAL.includes(job.state)) return { final: 'hung', code: job.state === 'canceled' ? undefined : `then ${job.state}` };
    await delay(200);
  }
  return { final: 'hung', code: 'cancel did not end it' };
}

/** Resolves once `probe` has not changed for `quietMs` (or after `timeout`). */
async function steady(probe: () => string, quietMs = 1500, timeout = 30_000): Promise<void> {
  const end = Date.now() + timeout;
  let last = '';
  let since = Date.now();
  while (Date.now() < end) {
    const now = probe();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await delay(100);
  }
}

async function runOne(r: Run, serverPort: number, token: string, c: Client): Promise<RunOutcome> {
  const started = Date.now();
  const rnd = seeded(r.seed);
  const a: Job = makeJob(r.dialect, 20_000 + Math.floor(rnd() * 20_000), r.seed * 7 + 1);
  const b: Job = makeJob(r.dialect, 4_000, r.seed * 7 + 2);
  const at = Math.floor(a.bytes.length * (0.15 + 0.55 * rnd()));
  const kind = FAULTS[r.fault]!;
  const out = join(dir, `${r.id}.out`);
  const linesOut = join(dir, `${r.id}.lines`);
  const base: RunOutcome = { dialect: r.dialect, fault: r.fault, transport: r.transport, seed: r.seed, at, jobs: [], applied: [], verdict: 'ERROR', detail: '', ms: 0 };

  const where = r.transport === 'tcp' ? ['--tcp', '127.0.0.1:0'] : ['--pty', join(dir, `${r.id}.tty`)];
  const emulator = procs.cli(
    [
      'emulate', '--dialect', r.dialect, ...where, '--out', out, '--baud', BAUD, ...(kind.emulator ?? ['--print-rate', PRINT_RATE, '--buffer', '4096']),
      ...(r.dialect === 'gcode' ? ['--lines-out', linesOut] : []), ...EMULATOR_EXTRA[r.dialect], ...kind.specs(at).flatMap((s) => ['--fault', s]),
    ],
    { name: `emulate ${r.id}` },
  );
  let bridge: Proc | undefined;
  try {
    let uri: string;
    if (r.transport === 'tcp') {
      const { port } = await emulator.waitForEvent<{ event: string; port: number }>('listening', { timeout: 30_000 });
      uri = `tcp://127.0.0.1:${port}`;
    } else {
      const { path } = await emulator.waitForEvent<{ event: string; path: string }>('pty', { timeout: 30_000 });
      uri = `serial:${path}@${BAUD}`;
    }
    bridge = procs.cli(['bridge', '--server', `ws://127.0.0.1:${serverPort}`, '--id', r.id, '--token', token, '--printer', uri, '--dialect', r.dialect, '--poll', POLL], { name: `bridge ${r.id}` });
    await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 30_000 });

    for (const job of [a, b]) {
      const view = (await c.request('job.submit', { printer: `${r.id}/0`, data: Buffer.from(job.bytes).toString('base64') })) as JobView;
      base.jobs.push(await outcome(c, view.id, BOUND_MS));
    }
    // Let the fault end (a stall resume, the power come back) and the printer take and print what still
    // comes its way (a raw job is done when its bytes are in the port's buffers); then stop the bridge, let
    // the printer finish and stop it, so that the record is complete.
    // (A raw job is done as soon as its bytes are in the port's buffers, which can be before the fault.)
    const hit = await Promise.all(kind.names.map((name) => emulator.waitForEvent({ event: 'fault', name }, { timeout: 10_000 }).then(() => true, () => false)));
    const fault = emulator.stdoutLines.findIndex((l) => l.startsWith('{"event":"fault"'));
    if (hit.every(Boolean) && kind.over) await emulator.waitForEvent((e) => kind.over!(e), { from: fault, timeout: 15_000 }).catch(() => {});
    const record = r.dialect === 'gcode' ? linesOut : out;
    const size = (): string => String(existsSync(record) ? statSync(record).size : -1);
    await steady(size, 1200);
    await bridge.kill('SIGTERM');
    await steady(() => `${emulator.stdoutLines.length} ${size()}`, 1000);
    await emulator.kill('SIGTERM');

    base.applied = emulator.events().filter((e) => e['event'] === 'fault').map((e) => `${String(e['name'])}@${String(e['at'])}`);
    const missed = kind.names.filter((n) => !base.applied.some((x) => x.startsWith(`${n}@`)));
    const printedRecord = r.dialect === 'gcode' ? jobLines(existsSync(linesOut) ? readFileSync(linesOut, 'utf8') : '') : new Uint8Array(existsSync(out) ? readFileSync(out) : []);
    // Raw has no status channel: its `done` proves only that every byte was handed to the port in
    // one session (docs/printers.md), so a raw job after a fault may be printed as a prefix, and is
    // judged as an unfinished one: a prefix at most, never a byte twice or out of order.
    const unproven = (final: Final): Final => (r.dialect === 'raw' && final === 'done' ? 'failed' : final);
    const printed: Printed[] = [a, b].map((job, i) => ({ final: unproven(base.jobs[i]!.final), expect: job.expect }));
    const judged = judge(printedRecord, printed);
    if (judged.verdict === 'ok' && missed.length > 0) Object.assign(base, { verdict: 'FAULT MISSED', detail: `no fault event for ${missed.join(', ')}` });
    else Object.assign(base, judged);
    const off = emulator.events().find((e) => e['event'] === 'power-off');
    if (off !== undefined) base.applied.push(`lost=${String(off['lost'])}`);
    if (VERBOSE && base.verdict !== 'ok') base.detail += `\n${emulator.tail(40)}\n${bridge.tail(40)}`;
  } catch (e) {
    base.verdict = 'ERROR';
    base.detail = `${(e as Error).message.split('\n')[0]}${bridge ? `\n${bridge.tail(6)}` : ''}`;
  } finally {
    await bridge?.kill('SIGTERM');
    await emulator.kill('SIGTERM');
    base.ms = Date.now() - started;
  }
  return base;
}

async function pool<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

test('fault matrix: every dialect × printer fault at seeded moments; done means printed exactly once, failed at most a prefix', async () => {
  const runs = plan();
  assert.ok(runs.length > 0, `PRINTBRIDGE_MATRIX_ONLY=${ONLY.join(',')} matches no cell`);
  const data = join(dir, 'data');
  const store = openStore(data);
  const tokens = new Map(runs.map((r) => [r.id, addDevice(store, r.id, ['fault-matrix'])]));
  store.close();
  const server = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: ADMIN } });
  const { port } = await server.waitForEvent<{ event: string; port: number }>('listening', { timeout: 30_000 });
  client = await connectClient(`ws://127.0.0.1:${port}/v1/client`, ADMIN);
  const c = client;

  const began = Date.now();
  const outcomes = await pool(runs, CONCURRENCY, (r) => runOne(r, port, tokens.get(r.id)!, c));
  const seconds = ((Date.now() - began) / 1000).toFixed(0);
  const faults = Object.keys(FAULTS).filter((f) => outcomes.some((o) => o.fault === f));
  process.stdout.write(`\nfault matrix: ${outcomes.length} runs (${SEEDS} per cell, base seed ${BASE_SEED}, ${CONCURRENCY} at once) in ${seconds} s\n${table(outcomes, faults)}\n` +
    'raw has no status channel: its "done" means every byte was handed to the port in one session, not printed; its rows are judged "at most a prefix, never twice"\n\n');

  const wrong = outcomes.filter((o) => o.verdict !== 'ok');
  for (const o of wrong) process.stdout.write(`${o.dialect}/${o.fault} ${o.transport}@${o.at}: ${o.verdict} ${o.detail}\n`);
  const count = (v: string): number => wrong.filter((o) => o.verdict === v).length;
  assert.equal(
    wrong.length, 0,
    `${count('FALSE DONE')} false done, ${count('BAD RECORD')} bad records, ${count('FAULT MISSED')} missed faults, ${count('ERROR')} errors in ${outcomes.length} runs:\n` +
      wrong.map((o) => `  ${o.dialect}/${o.fault} ${o.transport}@${o.at}: ${o.verdict} ${o.detail.split('\n')[0]}`).join('\n'),
  );
});

test('the record check: a gap, a repeat or a foreign byte is caught; prefixes of unfinished jobs pass', async () => {
  const { explain, judge: verdictOf } = await import('./fault-matrix-rig.js');
  const a = Uint8Array.from({ length: 50 }, (_, i) => (i * 37 + 11) & 0xff);
  const b = Uint8Array.from({ length: 40 }, (_, i) => (i * 53 + 7) & 0xff);
  const cat = (...parts: ArrayLike<number>[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
  const job = (final: Final, expect: Uint8Array): Printed => ({ final, expect });
  assert.deepEqual(explain(cat(a, b), [job('done', a), job('done', b)]), [[0, 50], [50, 90]]);
  assert.deepEqual(explain(cat(a.subarray(0, 20), b), [job('failed', a), job('done', b)]), [[0, 20], [20, 60]]);
  assert.deepEqual(explain(cat(b), [job('hung', a), job('done', b)]), [[0, 0], [0, 40]]);
  assert.equal(verdictOf(cat(a.subarray(0, 20), a.subarray(30), b), [job('done', a), job('done', b)]).verdict, 'FALSE DONE', 'a gap in a done job');
  assert.equal(verdictOf(cat(a, a.subarray(45), b), [job('done', a), job('done', b)]).verdict, 'BAD RECORD', 'a repeated tail after a whole job');
  assert.equal(verdictOf(cat(a.subarray(0, 20), a.subarray(30), b), [job('failed', a), job('done', b)]).verdict, 'BAD RECORD', 'a failed job printed with a gap');
  assert.equal(verdictOf(cat(a, b, [1]), [job('done', a), job('done', b)]).verdict, 'BAD RECORD', 'a foreign byte');
  assert.equal(verdictOf(cat(a, b, b), [job('done', a), job('done', b)]).verdict, 'FALSE DONE', 'a job printed twice');
  const lines = ['G1 X1', 'G1 X2', 'G1 X3'];
  assert.equal(verdictOf(['G1 X1', 'G1 X3'], [{ final: 'done', expect: lines }]).verdict, 'FALSE DONE', 'a G-code line missing');
  assert.equal(verdictOf(['G1 X1', 'G1 X2'], [{ final: 'failed', expect: lines }]).verdict, 'ok');
  assert.deepEqual(jobLines('M110 N0\nG92 E0\nM105\nG1 X1\nM104 S0\nM84\n'), ['G92 E0', 'G1 X1']);
  assert.deepEqual(makeJob('gcode', 2000, 3).expect.length > 10, true);
});
