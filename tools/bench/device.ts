// Device budgets, measured (not asserted): the minified size of the firmware
// bundle, XS heap after 1,000 reconnect cycles and after 100 jobs compared
// with the start, and the largest frame the device had to take. The memory
// figures come from the real XS engine (xsnap) running the built firmware
// against the real server and printer emulator, as in test/xs.
//
// Size: a board's firmware carries only the dialects its manifest lists
// (tools/build-device.ts), so the figure held against the 48 KiB budget is
// the largest board build: the largest single-dialect build, which is what
// any board configured for one printer flashes (the boards as the manifests
// configure them are reported too). The build with every dialect, which no
// board flashes, is reported beside it for honesty, not compared.

import { build, type Plugin } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { DIALECTS, type Dialect } from '../../protocol/device-messages.js';
import { online, printed, receipt, startFixture, submit } from '../../test/xs/fixture.js';
import { boardDialects, boards, dialectSetSource } from '../build-device.js';

/** Modules the SDK provides; they are not part of our bundle. */
const MODDABLE_BUILTINS = [
  'timer', 'time', 'wifi', 'net', 'sntp', 'websocket', 'securesocket', 'preference', 'instrumentation',
  'mc/config', 'embedded:io/serial', 'embedded:io/digital', 'Resource', 'restart',
];

/** The budget for a board's firmware bundle, minified (issue 3). */
export const BUNDLE_BUDGET = 48 * 1024;

export interface BundleSizes {
  /** What is compared with the budget: the largest board build (one dialect), minified bytes. */
  boardBytes: number;
  boardGzipBytes: number;
  /** The dialect of that largest board build. */
  boardDialect: Dialect;
  budget: number;
  withinBudget: boolean;
  /** Minified bytes of the build for a board with one dialect, per dialect. */
  byDialect: Record<Dialect, number>;
  /** Minified bytes of each board as its manifest configures it. */
  boards: Record<string, { dialects: Dialect[]; bytes: number }>;
  /** Minified bytes with every dialect (the Node-like set; no board flashes it). */
  fullBytes: number;
}

export interface DeviceBench extends BundleSizes {
  heapStart: number;
  heapAfterReconnects: number;
  heapAfterJobs: number;
  reconnects: number;
  jobs: number;
  largestFrame: number;
}

const MODDABLE_HOST = fileURLToPath(new URL('../../device/hosts/moddable/', import.meta.url));

/** Stands in for the per-board generated module: the set carries `dialects`, as build:device would write it. */
function dialectSet(dialects: readonly Dialect[]): Plugin {
  return {
    name: 'board-dialects',
    setup(b) {
      b.onResolve({ filter: /^\.\/board-dialects\.js$/ }, () => ({ path: 'board-dialects', namespace: 'board' }));
      b.onLoad({ filter: /.*/, namespace: 'board' }, () => ({ contents: dialectSetSource(dialects, 'the bench'), loader: 'js', resolveDir: MODDABLE_HOST }));
    },
  };
}

/** The firmware bundle, minified, as a board carrying `dialects` would flash it. */
export async function bundleSize(dialects: readonly Dialect[]): Promise<{ bytes: number; gzip: number }> {
  const r = await build({
    entryPoints: [`${MODDABLE_HOST}main.ts`],
    bundle: true, minify: true, write: false, format: 'esm', target: 'es2022', platform: 'neutral',
    external: MODDABLE_BUILTINS, legalComments: 'none', plugins: [dialectSet(dialects)],
  });
  const code = r.outputFiles[0]?.contents ?? new Uint8Array(0);
  return { bytes: code.length, gzip: gzipSync(code).length };
}

export async function bundleSizes(log: (line: string) => void = () => {}): Promise<BundleSizes> {
  const byDialect = {} as Record<Dialect, number>;
  let largest: { dialect: Dialect; bytes: number; gzip: number } | undefined;
  for (const d of DIALECTS) {
    const size = await bundleSize([d]);
    byDialect[d] = size.bytes;
    if (largest === undefined || size.bytes > largest.bytes) largest = { dialect: d, ...size };
  }
  const boardSizes: BundleSizes['boards'] = {};
  for (const board of boards()) {
    const dialects = boardDialects(board);
    boardSizes[board] = { dialects, bytes: (await bundleSize(dialects)).bytes };
  }
  const full = await bundleSize(DIALECTS);
  const top = largest as { dialect: Dialect; bytes: number; gzip: number };
  const within = top.bytes <= BUNDLE_BUDGET;
  log(`bundle, minified, per board build (a board carries only the dialects its manifest lists): ${DIALECTS.map((d) => `${d} ${byDialect[d]}`).join(', ')} bytes`);
  log(`bundle of the boards as configured: ${Object.entries(boardSizes).map(([b, s]) => `${b} (${s.dialects.join('+')}) ${s.bytes}`).join(', ')} bytes`);
  log(`bundle with every dialect (no board flashes this; for comparison only): ${full.bytes} bytes`);
  log(`budget: largest board build (${top.dialect}) ${top.bytes} bytes minified, ${top.gzip} gzip, of ${BUNDLE_BUDGET} (48 KiB): ${within ? 'within' : 'OVER'} budget`);
  return {
    boardBytes: top.bytes, boardGzipBytes: top.gzip, boardDialect: top.dialect, budget: BUNDLE_BUDGET, withinBudget: within,
    byDialect, boards: boardSizes, fullBytes: full.bytes,
  };
}

export async function runDeviceBench(opts: { reconnects?: number; jobs?: number; log?: (line: string) => void } = {}): Promise<DeviceBench> {
  const reconnects = opts.reconnects ?? 1_000;
  const jobs = opts.jobs ?? 100;
  const log = opts.log ?? (() => {});
  const sizes = await bundleSizes(log);
  // A high scale keeps backoff waits short; the heartbeat is out of the way.
  const f = await startFixture({ board: { scale: 100, config: { pingInterval: 600_000, deadAfter: 1_200_000 } } });
  try {
    const count = (): number => f.board.traces.filter((t) => t.includes('info: online')).length;
    await f.board.waitFor('online', () => online(f));
    // One job and one reconnect first, so lazily created state is in the baseline.
    let id = await submit(f, receipt(2_048, 0));
    await f.board.waitFor('warm-up job', () => f.jobs.get(id)?.state === 'done');
    let n = count();
    f.board.cutLink();
    await f.board.waitFor('warm-up reconnect', () => count() > n);
    f.board.traces.length = 0;
    const heapStart = await f.board.heapAfterGc();
    log(`heap at start: ${heapStart} slots`);
    for (let i = 0; i < reconnects; i++) {
      n = count();
      f.board.cutLink();
      await f.board.waitFor(`reconnect ${i + 1}`, () => count() > n, 60_000);
      if (f.board.traces.length > 1_000) f.board.traces.length = 0;
      if ((i + 1) % 250 === 0) log(`reconnects: ${i + 1}`);
    }
    const heapAfterReconnects = await f.board.heapAfterGc();
    log(`heap after ${reconnects} reconnects: ${heapAfterReconnects} slots`);
    for (let i = 0; i < jobs; i++) {
      id = await submit(f, receipt(2_048, i + 1));
      await f.board.waitFor(`job ${i + 1}`, () => f.jobs.get(id)?.state === 'done', 60_000);
      f.board.traces.length = 0;
    }
    const heapAfterJobs = await f.board.heapAfterGc();
    log(`heap after ${jobs} jobs: ${heapAfterJobs} slots (${printed(f).length} bytes printed)`);
    return {
      ...sizes, heapStart, heapAfterReconnects, heapAfterJobs,
      reconnects, jobs, largestFrame: f.board.maxFrame,
    };
  } finally {
    await f.close();
  }
}
