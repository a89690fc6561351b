// Device figures on the real Moddable runtime, measured, not asserted (only
// that every run completes: a board that fails its check, a reconnect that
// does not come or a job that does not end done fails the bench).
//
// Bytecode — for each ESP32 board manifest, tools/firmware/check.ts takes the
//   board through mcconfig, xsc and xsl for the real target and counts the
//   XS bytecode the board flashes (all of it, and printbridge's own modules)
//   and xsl's summary of the preloaded heap.
//
// Heap — the firmware built for the SDK's Linux host as an instrumented
//   build, with a bench-only entry module (tools/bench/heap-manifest) that
//   starts the firmware and, every half second, collects garbage and traces
//   XS's slot and chunk heap in use. Figures: online after boot; the
//   baseline after one job and one reconnect (so state made on first use is
//   in it); after N reconnects (the link cut at the proxy each time, fast
//   backoff); after M jobs of 2 KiB, each waited done. Bytes are as the SDK
//   reports them; a slot is 32 bytes on this 64-bit host (16 on an ESP32),
//   so slots are also given as a count. Memory figures are just figures.
//
// Time — the reconnect and job runs are timed, and each is reported as a
//   ratio against a peer measured in the same run: the Node bridge, the same
//   device core with the same link timings, behind its own proxy, against the
//   same server and an identical printer emulator.

import { buildDevice } from '../build-device.js';
import { checkBoard, espBoards } from '../firmware/check.js';
import type { FirmwareConfig } from '../firmware/lin-host.js';
import { startDeviceWorld, type BenchDevice, type HeapSample } from './device-world.js';

/** Bytes of an XS slot on the Linux host (64-bit); an ESP32's are 16. */
export const HOST_SLOT_BYTES = 32;

/** Link timings that make a reconnect cycle take milliseconds: backoff 1..20 ms, never "stable". */
const TIMINGS: FirmwareConfig = {
  backoffBase: 1, backoffCap: 20, stableAfter: 60_000, connectTimeout: 8_000, helloTimeout: 8_000,
  pingInterval: 3_000, deadAfter: 9_000,
};

const JOB_BYTES = 2_048;
const PROBE_EVERY_MS = 500;

export interface BoardBytecode {
  board: string;
  platform: string;
  /** Bytes of .xsb the board flashes, all of it and printbridge's own modules. */
  bytecode: number;
  ownBytecode: number;
  modules: number;
  /** xsl's summary of the preloaded heap. */
  preload: string;
  seconds: number;
}

export interface HeapFigures {
  slotBytes: number;
  /** slotBytes / HOST_SLOT_BYTES. */
  slots: number;
  chunkBytes: number;
  /** Collections so far (the probe's own included). */
  gc: number;
  keys: number;
  modules: number;
}

export interface HeapGrowth {
  slotBytes: number;
  slots: number;
  chunkBytes: number;
}

export interface TimedRun {
  count: number;
  firmwareSeconds: number;
  peerSeconds: number;
  /** firmwareSeconds / peerSeconds: above 1, the firmware took longer than the Node bridge. */
  firmwareToPeer: number;
  firmwareMsEach: number;
  peerMsEach: number;
}

export interface DeviceBench {
  boards: BoardBytecode[];
  heap: {
    slotBytesOnHost: number;
    online: HeapFigures;
    start: HeapFigures;
    afterReconnects: HeapFigures;
    afterJobs: HeapFigures;
    growth: { reconnects: HeapGrowth; jobs: HeapGrowth; total: HeapGrowth };
  };
  reconnects: TimedRun;
  jobs: TimedRun & { bytesEach: number };
}

/** Printable bytes with line feeds, `size` long, different for every seed. */
function payload(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 48 === 47 ? 0x0a : 0x20 + ((x >>> 16) % 95);
  }
  return out;
}

function round(n: number, places = 3): number {
  const f = 10 ** places;
  return Math.round(n * f) / f;
}

function figures(s: HeapSample): HeapFigures {
  return { slotBytes: s.slotBytes, slots: s.slotBytes / HOST_SLOT_BYTES, chunkBytes: s.chunkBytes, gc: s.gc, keys: s.keys, modules: s.modules };
}

function growth(from: HeapFigures, to: HeapFigures): HeapGrowth {
  return { slotBytes: to.slotBytes - from.slotBytes, slots: to.slots - from.slots, chunkBytes: to.chunkBytes - from.chunkBytes };
}

function describe(h: HeapFigures): string {
  return `slots ${h.slotBytes} B (${h.slots} slots), chunks ${h.chunkBytes} B, gc ${h.gc}, keys ${h.keys}, modules ${h.modules}`;
}

function describeGrowth(g: HeapGrowth): string {
  const sign = (n: number): string => (n > 0 ? `+${n}` : String(n));
  return `slots ${sign(g.slotBytes)} B (${sign(g.slots)}), chunks ${sign(g.chunkBytes)} B`;
}

/** Every ESP32 board through the real SDK tools; throws with the problems of any board that fails. */
export async function boardBytecode(log: (line: string) => void): Promise<BoardBytecode[]> {
  await buildDevice();
  const out: BoardBytecode[] = [];
  const failures: string[] = [];
  for (const board of espBoards()) {
    const started = Date.now();
    const r = checkBoard(board);
    const seconds = round((Date.now() - started) / 1000, 1);
    if (!r.ok) {
      failures.push(`${board} (${r.platform}): ${r.problems.join('; ')}`);
      log(`FAIL ${board}: ${r.problems.join('; ')}`);
      continue;
    }
    out.push({ board, platform: r.platform, bytecode: r.bytecode, ownBytecode: r.ownBytecode, modules: r.modules, preload: r.preload, seconds });
    log(`bytecode ${board} (${r.platform}): ${r.bytecode} B in ${r.modules} modules, printbridge's ${r.ownBytecode} B; preload ${r.preload} [${seconds} s]`);
  }
  if (failures.length > 0) throw new Error(`bench: board check failed:\n${failures.join('\n')}`);
  return out;
}

async function timeReconnects(d: BenchDevice, n: number, log: (line: string) => void): Promise<number> {
  const every = Math.max(1, Math.floor(n / 4));
  const started = performance.now();
  for (let i = 1; i <= n; i++) {
    await d.reconnect();
    if (i % every === 0 && i < n) log(`${d.label}: ${i} reconnects`);
  }
  return (performance.now() - started) / 1000;
}

async function timeJobs(d: BenchDevice, n: number): Promise<number> {
  const started = performance.now();
  for (let i = 1; i <= n; i++) await d.print(payload(JOB_BYTES, i));
  return (performance.now() - started) / 1000;
}

/** One job and one reconnect, so what either creates on first use is there before anything is measured. */
async function warmUp(d: BenchDevice): Promise<void> {
  await d.print(payload(JOB_BYTES, 0));
  await d.reconnect();
}

function timed(count: number, firmware: number, peer: number): TimedRun {
  return {
    count, firmwareSeconds: round(firmware), peerSeconds: round(peer), firmwareToPeer: round(firmware / peer),
    firmwareMsEach: round((firmware * 1000) / count, 2), peerMsEach: round((peer * 1000) / count, 2),
  };
}

export async function runDeviceBench(opts: { reconnects?: number; jobs?: number; log?: (line: string) => void } = {}): Promise<DeviceBench> {
  const reconnects = opts.reconnects ?? 1_000;
  const jobs = opts.jobs ?? 100;
  const log = opts.log ?? (() => {});
  const boards = await boardBytecode(log);

  const world = await startDeviceWorld();
  try {
    const builtAt = performance.now();
    const fw = await world.startFirmware(TIMINGS, PROBE_EVERY_MS);
    log(`firmware (instrumented Linux-host build with the heap probe) online after ${round((performance.now() - builtAt) / 1000, 1)} s, build included`);
    const online = figures(await fw.heap());
    log(`heap online: ${describe(online)}`);
    await warmUp(fw);
    const start = figures(await fw.heap());
    log(`heap at start (after one job and one reconnect): ${describe(start)}`);
    const fwReconnects = await timeReconnects(fw, reconnects, log);
    const afterReconnects = figures(await fw.heap());
    log(`heap after ${reconnects} reconnects: ${describe(afterReconnects)} [${round(fwReconnects, 1)} s]`);
    const fwJobs = await timeJobs(fw, jobs);
    const afterJobs = figures(await fw.heap());
    log(`heap after ${jobs} jobs of ${JOB_BYTES} B: ${describe(afterJobs)} [${round(fwJobs, 1)} s]`);
    await fw.stop();

    const peer = await world.startPeer(TIMINGS);
    await warmUp(peer);
    const peerReconnects = await timeReconnects(peer, reconnects, log);
    const peerJobs = await timeJobs(peer, jobs);

    const g = { reconnects: growth(start, afterReconnects), jobs: growth(afterReconnects, afterJobs), total: growth(start, afterJobs) };
    log(`heap growth: reconnects ${describeGrowth(g.reconnects)}; jobs ${describeGrowth(g.jobs)}; total ${describeGrowth(g.total)}`);
    const r = timed(reconnects, fwReconnects, peerReconnects);
    const j = timed(jobs, fwJobs, peerJobs);
    log(`reconnects: firmware ${r.firmwareSeconds} s (${r.firmwareMsEach} ms each), Node bridge ${r.peerSeconds} s (${r.peerMsEach} ms each): ratio ${r.firmwareToPeer}`);
    log(`jobs: firmware ${j.firmwareSeconds} s (${j.firmwareMsEach} ms each), Node bridge ${j.peerSeconds} s (${j.peerMsEach} ms each): ratio ${j.firmwareToPeer}`);
    return {
      boards,
      heap: { slotBytesOnHost: HOST_SLOT_BYTES, online, start, afterReconnects, afterJobs, growth: g },
      reconnects: r,
      jobs: { ...j, bytesEach: JOB_BYTES },
    };
  } finally {
    await world.close();
  }
}
