// Nodes of a cluster killed (SIGKILL) and started again at seeded random
// moments while jobs print, with real parts: PostgreSQL, three `serve`
// processes, three bridges (each given every node's URL) and three printer
// emulators. Clients submit through any node and, when theirs dies, submit
// again with the same key through another. At the end every job has ended,
// and what each printer printed holds every done job exactly once and of a
// failed one at most a prefix, with no byte that belongs to no job.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import type { JobView } from '../../protocol/client-messages.js';
import { connectClient, type Client } from '../../tools/client/client.js';
import { CLUSTER_ADMIN, startCluster, type TestCluster } from '../helpers/cluster.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { receiptText, seeded } from '../helpers/random.js';
import { until } from '../helpers/until.js';
import { tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';

const SEED = Number(process.env['PRINTBRIDGE_CHAOS_SEED'] ?? 20261203);
/** Node kills in the run (docs/testing.md); 20 at the least. */
const KILLS = Math.max(20, Number(process.env['PRINTBRIDGE_CHAOS_KILLS'] ?? 24));
const PRINTERS = 3;
/** Bytes a second each printer takes: jobs last long enough to be mid-print when a node dies. */
const PRINT_RATE = 100_000;

const procs = new Processes();
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  await procs.killAll();
  for (const c of cleanups.reverse()) await c();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Submitted {
  key: string;
  printer: string;
  payload: Uint8Array;
  id?: string;
}

/** Where `needle` occurs in `hay`, every time. */
function occurrences(hay: Buffer, needle: Buffer): number[] {
  const at: number[] = [];
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) at.push(i);
  return at;
}

test(`nodes killed ${KILLS} times at seeded moments while jobs print: every done job once, a failed one at most a prefix (seed ${SEED})`, { timeout: 300_000 + KILLS * 5_000 }, async () => {
  const rnd = seeded(SEED);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const cluster: TestCluster = await startCluster(procs, dir, 3);
  cleanups.push(() => cluster.stop());
  const alive = new Set([0, 1, 2]);

  const emus: TcpEmulator[] = [];
  const bridges: Proc[] = [];
  const allBridges: Proc[] = [];
  const bridgeArgs: string[][] = [];
  for (let p = 0; p < PRINTERS; p++) {
    const id = `chaos-${p}`;
    const token = cluster.addDevice(id);
    // Paper slow enough that jobs are mid-print when nodes die.
    const emu = await tcpEmulator(procs, dir, ['--print-rate', String(PRINT_RATE), '--buffer', '8192']);
    emus.push(emu);
    // Each bridge tries the nodes in its own order; the URLs stay valid across restarts (same port).
    const order = [0, 1, 2].sort(() => rnd() - 0.5);
    const servers = order.flatMap((i) => ['--server', cluster.nodes[i]!.url]);
    // ESC/POS with status polls: a job is done once the printer answered after its last byte.
    const args = ['bridge', ...servers, '--id', id, '--token', token, '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', 'escpos'];
    bridgeArgs.push(args);
    const bridge = procs.cli(args);
    bridges.push(bridge);
    allBridges.push(bridge);
    await bridge.waitForLine('link online at ', { stream: 'stderr', timeout: 20_000 });
  }

  const clients = new Map<number, Client>();
  const clientOn = async (i: number): Promise<Client> => {
    let c = clients.get(i);
    if (c === undefined) {
      c = await connectClient(`${cluster.nodes[i]!.url}/v1/client`, CLUSTER_ADMIN);
      clients.set(i, c);
      const made = c;
      made.on('close', () => {
        if (clients.get(i) === made) clients.delete(i);
      });
    }
    return c;
  };
  /** Submits through a live node; when that node dies on the way, again with the same key through another. */
  const submit = async (job: Submitted): Promise<void> => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const live = [...alive];
      if (live.length === 0) {
        await sleep(100);
        continue;
      }
      const i = pick(live);
      try {
        const c = await clientOn(i);
        const view = (await c.request('job.submit', { printer: job.printer, key: job.key, data: Buffer.from(job.payload).toString('base64') })) as JobView;
        if (job.id !== undefined) assert.equal(view.id, job.id, `key ${job.key} gave two jobs`);
        job.id = view.id;
        return;
      } catch (e) {
        clients.get(i)?.close();
        clients.delete(i);
        if ((e as { code?: string }).code === 'UNKNOWN_PRINTER' || (e as { code?: string }).code === 'QUEUE_FULL') throw e;
        await sleep(50 + rnd() * 150);
      }
    }
    throw new Error(`job ${job.key} could not be submitted`);
  };

  const jobs: Submitted[] = [];
  let n = 0;
  let stop = false;
  const submitting = (async () => {
    while (!stop) {
      const printer = `chaos-${n % PRINTERS}/0`;
      // A header unique to the job, then its bytes: a stream is cut into jobs by their headers.
      const header = Buffer.from(`<<job ${n} ${printer}>>`);
      const body = receiptText(20_000 + Math.floor(rnd() * 60_000), SEED + n);
      const job: Submitted = { key: `chaos-${SEED}-${n}`, printer, payload: Buffer.concat([header, body]) };
      jobs.push(job);
      n += 1;
      await submit(job);
      await sleep(100 + rnd() * 300);
    }
  })();

  let kills = 0;
  let bridgeKills = 0;
  for (; kills < KILLS; kills++) {
    await sleep(300 + rnd() * 1200);
    if (rnd() < 0.3) {
      // A bridge dies too, now and then: it comes back knowing nothing, so a
      // job it was printing fails (bytes may be on paper) and is never resent.
      const b = Math.floor(rnd() * PRINTERS);
      await bridges[b]!.kill('SIGKILL');
      bridges[b] = procs.cli(bridgeArgs[b]!);
      allBridges.push(bridges[b]!);
      bridgeKills += 1;
    }
    const victim = pick([...alive]);
    alive.delete(victim);
    clients.get(victim)?.close();
    clients.delete(victim);
    await cluster.nodes[victim]!.proc.kill('SIGKILL');
    await sleep(200 + rnd() * 1000);
    await cluster.restart(victim);
    alive.add(victim);
  }
  stop = true;
  await submitting;

  // Every job ends: read through one node.
  const reader = await clientOn(0);
  const ended = await until('every job ended', async () => {
    const views = await Promise.all(jobs.map((j) => reader.request('job.get', { job: j.id! }) as Promise<JobView>));
    return views.every((v) => v.state === 'done' || v.state === 'failed' || v.state === 'canceled') ? views : undefined;
  }, 180_000);
  for (const c of clients.values()) c.close();

  /** What the bridges said of a job, for a failure's message. */
  const story = (j: Submitted): string =>
    allBridges.flatMap((b, i) => b.stderrLines.filter((l) => j.id !== undefined && l.includes(j.id)).map((l) => `[bridge ${i}] ${l}`)).join(' | ');
  const states = { done: 0, failed: 0, canceled: 0 };
  for (let p = 0; p < PRINTERS; p++) {
    const emu = emus[p]!;
    const printer = `chaos-${p}/0`;
    const mine = jobs.map((j, i) => ({ j, v: ended[i]! })).filter(({ j }) => j.printer === printer);
    const total = mine.filter(({ v }) => v.state === 'done').reduce((s, { j }) => s + j.payload.length, 0);
    // A TCP printer's job is done when its bytes are handed to the socket;
    // the kernel's buffers may hold megabytes more than the paper has taken.
    const size = (): number => {
      try {
        return readFileSync(emu.printed).length;
      } catch {
        return 0;
      }
    };
    // Short of it in the end, the check below names the job whose bytes are missing.
    await until(`printer ${printer} received its done jobs' bytes`, () => size() >= total, 60_000 + (total / PRINT_RATE) * 1500).catch(() => undefined);
    const stream = size() === 0 ? Buffer.alloc(0) : readFileSync(emu.printed);
    let accounted = 0;
    for (const { j, v } of mine) {
      states[v.state as keyof typeof states] += 1;
      const payload = Buffer.from(j.payload);
      const header = payload.subarray(0, payload.indexOf('>>') + 2);
      const at = occurrences(stream, header);
      if (v.state === 'done') {
        assert.equal(at.length, 1, `done job ${j.key} (${j.id}) printed ${at.length} times on ${printer}; ${story(j)}`);
        assert.ok(stream.subarray(at[0]!, at[0]! + payload.length).equals(payload), `done job ${j.key} (${j.id}) printed whole and intact; ${story(j)}`);
        accounted += payload.length;
      } else {
        assert.ok(at.length <= 1, `${v.state} job ${j.key} started ${at.length} times on ${printer}`);
        if (at.length === 1) {
          let len = 0;
          while (at[0]! + len < stream.length && len < payload.length && stream[at[0]! + len] === payload[len]) len += 1;
          accounted += len;
        }
      }
    }
    assert.equal(accounted, stream.length, `every byte on ${printer} belongs to one job`);
  }
  assert.ok(states.done > 0, 'jobs printed');
  process.stdout.write(`# chaos seed ${SEED}: ${kills} node kills, ${bridgeKills} bridge kills, ${jobs.length} jobs: ${states.done} done, ${states.failed} failed, ${states.canceled} canceled\n`);
});
