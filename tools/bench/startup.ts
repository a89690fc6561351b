// Start-up of the `printbridge` command as npm installs it, measured (not
// asserted), each figure the median of several runs taken in turn so that
// a change of load on the machine hits all of them alike:
//
// node    — `node -e 0`, spawn to exit: what Node itself costs, the floor.
// help    — `printbridge --help`, spawn to exit.
// bridge  — `printbridge bridge` against a local server (`printbridge serve`
//           in a process of its own, each run's device registered with
//           `devices add`, a TCP listener standing in for a :9100 printer):
//           from spawn until a client subscribed to the server is told the
//           device is online. Split by the bridge's own lines on stderr:
//           started (its first line: the command loaded, the bridge built),
//           then `link connecting` (the first attempt, after a random wait
//           in [0, 1 s): the link's backoff with full jitter applies to the
//           first connection too), then online. `bridgeOnlineUnjitteredSeconds`
//           is started + (online − connecting): the figure without that wait.
//
// Beside each wall time, the CPU time the process used (from /proc, in 10 ms
// ticks): on a loaded machine wall times grow with the load and CPU times
// much less, so the two together tell a slow start from a busy machine.
//
// The command is the packed package installed into a temporary folder with
// its runtime dependencies only (tools/build-package.ts): compiled
// JavaScript without tsx, whatever the state of this tree's own dist/.
// Goals: help ≤ 0.2 s, bridge online ≤ 0.5 s.

import { spawn } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ClientEvent } from '../../protocol/client-messages.js';
import { Processes, type Proc } from '../../test/helpers/processes.js';
import { tempDir } from '../../test/helpers/server.js';
import { packAndInstall } from '../build-package.js';
import { connectClient, type Client } from '../client/client.js';
import { median } from './bench-store.js';
import { cpuSeconds } from './fanout-proc.js';

const ADMIN = 'bench-admin-token';
/** /proc counts CPU time in USER_HZ ticks, 100 a second on Linux. */
const TICKS_PER_S = 100;
/** Children run plain Node: no loader that a parent's NODE_OPTIONS could bring. */
const PLAIN_ENV = { NODE_OPTIONS: undefined, PRINTBRIDGE_ADMIN_TOKEN: ADMIN };

export interface StartupBench {
  runs: number;
  nodeSeconds: number;
  nodeCpuSeconds: number;
  helpSeconds: number;
  helpCpuSeconds: number;
  /** Spawn → the bridge's first line. */
  bridgeStartedSeconds: number;
  /** Spawn → its first connection attempt. */
  bridgeConnectingSeconds: number;
  bridgeOnlineSeconds: number;
  /** Spawn → online less the random wait before the first attempt. */
  bridgeOnlineUnjitteredSeconds: number;
  /** The bridge process's CPU time when the server had it online. */
  bridgeCpuSeconds: number;
  /** The packed package's size: what `npm install printbridge` downloads of it. */
  tarballBytes: number;
}

export interface StartupOptions {
  /** Runs per figure (median taken); at least 5. */
  runs?: number;
  log?: (line: string) => void;
}

export interface Timing {
  seconds: number;
  cpuSeconds: number;
}

/**
 * Spawn to exit of `node ARGS`, and the CPU it used (what this process's
 * waited-for children used meanwhile: run one at a time); throws unless it
 * exits 0.
 */
export function timeNode(args: string[]): Promise<Timing> {
  const cpuBefore = childrenCpuSeconds();
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: 'ignore', env: plainEnv() });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code === 0) resolve({ seconds, cpuSeconds: childrenCpuSeconds() - cpuBefore });
      else reject(new Error(`node ${args.join(' ')} exited ${code}`));
    });
  });
}

/** User + system CPU seconds of this process's children that have exited and been waited for. */
function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_S;
}

function plainEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PRINTBRIDGE_ADMIN_TOKEN: ADMIN };
  delete env['NODE_OPTIONS'];
  return env;
}

export interface LocalServer {
  readonly proc: Proc;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly adminToken: string;
  readonly dataDir: string;
}

/** `printbridge serve` on a free port of 127.0.0.1, from the command BIN. */
export async function serve(procs: Processes, bin: string, dataDir: string): Promise<LocalServer> {
  const proc = procs.spawn(process.execPath, [bin, 'serve', '--host', '127.0.0.1', '--port', '0', '--json', '--data', dataDir], {
    env: PLAIN_ENV, name: 'printbridge serve',
  });
  const { url } = await proc.waitForEvent<{ event: string; url: string }>('listening');
  return { proc, url, adminToken: ADMIN, dataDir };
}

/** Registers device ID with `printbridge devices add` and returns its token. */
export async function addDevice(procs: Processes, bin: string, server: LocalServer, id: string): Promise<string> {
  const proc = procs.spawn(process.execPath, [bin, 'devices', 'add', id, '--data', server.dataDir], { env: PLAIN_ENV, name: `devices add ${id}` });
  proc.closeStdin();
  const exit = await proc.waitForExit();
  if (exit.code !== 0) throw new Error(`devices add ${id} failed\n${proc.tail()}`);
  return proc.stdout.trim();
}

/** A TCP listener on 127.0.0.1 that takes whatever a bridge sends: a stand-in printer. */
export async function sinkPrinter(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((socket) => {
    socket.on('data', () => {});
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('printer listener has no port');
  return {
    port: address.port,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.unref();
    }),
  };
}

/** A client subscribed to SERVER's events. */
export async function watch(server: LocalServer): Promise<Client> {
  const client = await connectClient(`${server.url.replace(/^http/, 'ws')}/v1/client`, server.adminToken);
  await client.request('subscribe');
  return client;
}

function nextEvent(client: Client, kind: 'device.online' | 'device.offline', id: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${kind} for ${id} within ${timeoutMs} ms`)), timeoutMs);
    client.on('event', (e: ClientEvent) => {
      if (e.event === kind && e.device.id === id) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export interface BridgeTiming extends Timing {
  /** Spawn → the bridge's first line on stderr. */
  startedSeconds: number;
  /** Spawn → its `link connecting` line. */
  connectingSeconds: number;
}

/**
 * Starts `printbridge bridge` as device ID and returns the time from spawn
 * until WATCHER hears it is online (and the steps on the way), with the
 * bridge's CPU time then; the bridge is stopped and seen offline before this
 * returns.
 */
export async function timeBridgeOnline(
  procs: Processes, bin: string, server: LocalServer, watcher: Client, id: string, token: string, printerPort: number,
): Promise<BridgeTiming> {
  const online = nextEvent(watcher, 'device.online', id);
  const started = performance.now();
  const since = (): number => (performance.now() - started) / 1000;
  const bridge = procs.spawn(
    process.execPath,
    [bin, 'bridge', '--server', server.url, '--id', id, '--printer', `tcp://127.0.0.1:${printerPort}`, '--dialect', 'raw'],
    { env: { ...PLAIN_ENV, PRINTBRIDGE_TOKEN: token }, name: `bridge ${id}` },
  );
  const first = bridge.waitForLine(() => true, { stream: 'stderr' }).then(since);
  const connecting = bridge.waitForLine(/^link connecting/, { stream: 'stderr' }).then(since);
  await Promise.race([
    online,
    bridge.exited.then((exit) => {
      throw new Error(`the bridge exited (${exit.code ?? exit.signal}) before it was online\n${bridge.tail()}`);
    }),
  ]);
  const seconds = since();
  const cpu = bridge.pid === undefined ? Number.NaN : cpuSeconds(bridge.pid);
  const steps = { startedSeconds: await first, connectingSeconds: await connecting };
  const offline = nextEvent(watcher, 'device.offline', id);
  await bridge.kill();
  await offline;
  return { seconds, cpuSeconds: cpu, ...steps };
}

export async function runStartupBench(opts: StartupOptions = {}): Promise<StartupBench> {
  const runs = Math.max(5, opts.runs ?? 7);
  const log = opts.log ?? (() => {});
  const dir = tempDir('printbridge-startup-');
  const procs = new Processes();
  let printer: Awaited<ReturnType<typeof sinkPrinter>> | undefined;
  let watcher: Client | undefined;
  try {
    const setup = performance.now();
    const pkg = packAndInstall(join(dir, 'pack'));
    const { size } = statSync(pkg.tarball);
    log(`packed and installed in ${((performance.now() - setup) / 1000).toFixed(1)} s (${(size / 1024).toFixed(0)} KiB tarball)`);

    const server = await serve(procs, pkg.bin, join(dir, 'data'));
    printer = await sinkPrinter();
    watcher = await watch(server);
    const tokens: string[] = [];
    for (let i = 0; i < runs; i++) tokens.push(await addDevice(procs, pkg.bin, server, `startup-${i}`));

    const node: Timing[] = [];
    const help: Timing[] = [];
    const bridge: BridgeTiming[] = [];
    // A first start of each warms the file cache; it is not counted.
    await timeNode(['-e', '0']);
    await timeNode([pkg.bin, '--help']);
    for (let i = 0; i < runs; i++) {
      node.push(await timeNode(['-e', '0']));
      help.push(await timeNode([pkg.bin, '--help']));
      bridge.push(await timeBridgeOnline(procs, pkg.bin, server, watcher, `startup-${i}`, tokens[i]!, printer.port));
      const b = bridge[i]!;
      log(`run ${i + 1}/${runs}: node -e 0 ${show(node[i]!)}, --help ${show(help[i]!)}, bridge online ${show(b)}: started ${ms(b.startedSeconds)}, connecting ${ms(b.connectingSeconds)}`);
    }
    const result: StartupBench = {
      runs,
      nodeSeconds: median(node.map((t) => t.seconds)),
      nodeCpuSeconds: median(node.map((t) => t.cpuSeconds)),
      helpSeconds: median(help.map((t) => t.seconds)),
      helpCpuSeconds: median(help.map((t) => t.cpuSeconds)),
      bridgeStartedSeconds: median(bridge.map((t) => t.startedSeconds)),
      bridgeConnectingSeconds: median(bridge.map((t) => t.connectingSeconds)),
      bridgeOnlineSeconds: median(bridge.map((t) => t.seconds)),
      bridgeOnlineUnjitteredSeconds: median(bridge.map((t) => t.startedSeconds + t.seconds - t.connectingSeconds)),
      bridgeCpuSeconds: median(bridge.map((t) => t.cpuSeconds)),
      tarballBytes: size,
    };
    log(`medians (wall, cpu): node -e 0 ${ms(result.nodeSeconds)}, ${ms(result.nodeCpuSeconds)}; printbridge --help ${ms(result.helpSeconds)}, ${ms(result.helpCpuSeconds)} (goal ≤ 200 ms wall); bridge online ${ms(result.bridgeOnlineSeconds)}, ${ms(result.bridgeCpuSeconds)} (goal ≤ 500 ms wall; ${ms(result.bridgeOnlineUnjitteredSeconds)} without the first attempt's random wait)`);
    return result;
  } finally {
    await watcher?.close();
    await procs.killAll();
    await printer?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (seconds: number): string => `${(seconds * 1000).toFixed(0)} ms`;
const show = (t: Timing): string => `${ms(t.seconds)} (cpu ${ms(t.cpuSeconds)})`;
