// Device budgets, measured (not asserted): the minified size of the firmware
// bundle, XS heap after 1,000 reconnect cycles and after 100 jobs compared
// with the start, and the largest frame the device had to take. The memory
// figures come from the real XS engine (xsnap) running the built firmware
// against the real server and printer emulator, as in test/xs.

import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { online, printed, receipt, startFixture, submit } from '../../test/xs/fixture.js';

/** Modules the SDK provides; they are not part of our bundle. */
const MODDABLE_BUILTINS = [
  'timer', 'time', 'wifi', 'net', 'sntp', 'websocket', 'securesocket', 'preference', 'instrumentation',
  'mc/config', 'embedded:io/serial', 'embedded:io/digital', 'Resource', 'restart',
];

export interface DeviceBench {
  bundleBytes: number;
  bundleGzipBytes: number;
  heapStart: number;
  heapAfterReconnects: number;
  heapAfterJobs: number;
  reconnects: number;
  jobs: number;
  largestFrame: number;
}

export async function bundleSize(): Promise<{ bytes: number; gzip: number }> {
  const r = await build({
    entryPoints: [fileURLToPath(new URL('../../device/hosts/moddable/main.ts', import.meta.url))],
    bundle: true, minify: true, write: false, format: 'esm', target: 'es2022', platform: 'neutral',
    external: MODDABLE_BUILTINS, legalComments: 'none',
  });
  const code = r.outputFiles[0]?.contents ?? new Uint8Array(0);
  return { bytes: code.length, gzip: gzipSync(code).length };
}

export async function runDeviceBench(opts: { reconnects?: number; jobs?: number; log?: (line: string) => void } = {}): Promise<DeviceBench> {
  const reconnects = opts.reconnects ?? 1_000;
  const jobs = opts.jobs ?? 100;
  const log = opts.log ?? (() => {});
  const size = await bundleSize();
  log(`bundle: ${size.bytes} bytes minified, ${size.gzip} gzip`);
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
      bundleBytes: size.bytes, bundleGzipBytes: size.gzip, heapStart, heapAfterReconnects, heapAfterJobs,
      reconnects, jobs, largestFrame: f.board.maxFrame,
    };
  } finally {
    await f.close();
  }
}
