// The firmware on the Moddable SDK's Linux host: built from the same modules
// as every board (manifests/lin adds only the stand-ins for pins and Wi-Fi),
// with the settings a user would give mcconfig, and run headless by a small
// launcher (lin-host/launcher.c) that loads mc.so and runs the GLib loop the
// SDK's Linux modules are scheduled on. trace() output arrives on stdout,
// one line each.
//
// A `restart` ends the process with status 75 (native/restart.c); the
// runner starts it again in the same folder, where the preference file
// lives, as a board reboots with its flash intact.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildDevice } from '../build-device.js';
import { FIRMWARE_BUILD, ROOT, run, sdkEnv, withLock } from './sdk.js';

/** mcconfig key=value settings, as a user would pass them for a board. */
export type FirmwareConfig = Readonly<Record<string, string | number>>;

/** The exit status of native/restart.c on the Linux host: a reset. */
export const RESTART_STATUS = 75;

const LAUNCHER = join(ROOT, '.cache', 'moddable', 'launcher');
const SDK_OUT = join(FIRMWARE_BUILD, 'lin-sdk');
const APPS = join(FIRMWARE_BUILD, 'lin-apps');
const LOCK = join(FIRMWARE_BUILD, 'lin.lock');
/** The firmware's manifest for the Linux host. */
const LIN_MANIFEST = join(ROOT, 'manifests', 'lin');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

/** What decides the build: the device sources, the manifests and the settings. */
function buildKey(config: FirmwareConfig, kind: 'release' | 'instrument', manifestDir: string): string {
  const h = createHash('sha256');
  h.update(kind);
  if (manifestDir !== LIN_MANIFEST) {
    // Another manifest (one that includes manifests/lin): its folder counts too.
    h.update(manifestDir);
    for (const f of files(manifestDir)) {
      h.update(f);
      h.update(readFileSync(f));
    }
  }
  for (const dir of ['protocol', 'device', 'manifests']) {
    for (const f of files(join(ROOT, dir))) {
      h.update(f);
      h.update(readFileSync(f));
    }
  }
  for (const key of Object.keys(config).sort()) h.update(`${key}=${String(config[key])}\n`);
  return h.digest('hex').slice(0, 16);
}

export function launcherPath(): string {
  const r = spawnSync('bash', [join(ROOT, 'tools', 'firmware', 'lin-host', 'build-launcher.sh'), LAUNCHER], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot build the launcher: ${r.stderr.trim()}`);
  return LAUNCHER;
}

/**
 * Builds the firmware for the Linux host with `config` and returns its mc.so.
 * Builds are cached by sources and settings, and serialized across
 * processes: they share one SDK output folder, whose compiled SDK modules
 * make every build after the first take seconds. `manifestDir` builds
 * another manifest instead of manifests/lin (the benchmarks add a module
 * to the firmware this way); the files in its folder count for the cache.
 */
export async function buildLinFirmware(config: FirmwareConfig, kind: 'release' | 'instrument' = 'release', manifestDir: string = LIN_MANIFEST): Promise<string> {
  const key = buildKey(config, kind, manifestDir);
  const target = join(APPS, key, 'mc.so');
  if (existsSync(target)) return target;
  launcherPath();
  return withLock(LOCK, async () => {
    if (existsSync(target)) return target;
    await buildDevice();
    mkdirSync(SDK_OUT, { recursive: true });
    const args = ['-m', '-p', 'lin', '-t', 'build', '-o', SDK_OUT, ...(kind === 'instrument' ? ['-i'] : []), 'manifest.json'];
    for (const [k, v] of Object.entries(config)) args.push(`${k}=${String(v)}`);
    const r = run('mcconfig', args, manifestDir, sdkEnv());
    if (r.status !== 0) throw new Error(`mcconfig -p lin failed:\n${(r.stdout + r.stderr).split('\n').filter((l) => !l.includes('not frozen')).slice(-30).join('\n')}`);
    const built = join(SDK_OUT, 'bin', 'lin', 'mc', kind, basename(manifestDir), 'mc.so');
    if (!existsSync(built)) throw new Error(`mcconfig wrote no ${built}`);
    mkdirSync(join(APPS, key), { recursive: true });
    copyFileSync(built, target);
    return target;
  });
}

export interface RunningFirmware {
  /** Every line the firmware printed so far, restarts included. */
  readonly lines: readonly string[];
  /** How many times it was started (1 + restarts). */
  readonly starts: number;
  /**
   * Resolves with the first matching line from index `from` (default: lines
   * printed from now on); rejects after `ms`.
   */
  waitFor(pattern: RegExp, ms?: number, from?: number): Promise<string>;
  /** Ends the firmware (SIGTERM, then SIGKILL) and stops restarting it. */
  stop(): Promise<void>;
  /** Resolves with the exit status once the firmware ended without a restart. */
  readonly exited: Promise<number>;
}

export interface RunOptions {
  /** The folder it runs in: the preference file lives there. */
  readonly cwd: string;
  /** Called with each line as it arrives. */
  readonly onLine?: (line: string) => void;
  /** Start again after a restart (status 75); default true. */
  readonly restart?: boolean;
}

/** Runs a built mc.so under the launcher until stopped. */
export function runLinFirmware(mcso: string, opts: RunOptions): RunningFirmware {
  const launcher = launcherPath();
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let child: ChildProcess | undefined;
  let stopping = false;
  let starts = 0;
  let resolveExit: (status: number) => void = () => {};
  const exited = new Promise<number>((r) => { resolveExit = r; });

  const line = (text: string): void => {
    lines.push(text);
    opts.onLine?.(text);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w !== undefined && w.pattern.test(text)) {
        waiters.splice(i, 1);
        w.resolve(text);
      }
    }
  };

  const start = (): void => {
    starts++;
    const c = spawn(launcher, [mcso], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    createInterface({ input: c.stdout! }).on('line', line);
    createInterface({ input: c.stderr! }).on('line', line);
    c.on('exit', (code, signal) => {
      const status = code ?? (signal === null ? 1 : 128);
      if (!stopping && status === RESTART_STATUS && opts.restart !== false) {
        line(`runner: firmware restarted itself (status ${RESTART_STATUS}); starting it again`);
        start();
        return;
      }
      child = undefined;
      resolveExit(status);
    });
  };
  start();

  return {
    lines,
    get starts() {
      return starts;
    },
    exited,
    waitFor(pattern: RegExp, ms = 15_000, from?: number): Promise<string> {
      const seen = from === undefined ? undefined : lines.slice(from).find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(entry);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`no firmware line matching ${String(pattern)} within ${ms} ms; last lines:\n${lines.slice(-15).join('\n')}`));
        }, ms);
        const entry = { pattern, resolve: (l: string) => { clearTimeout(timer); resolve(l); } };
        waiters.push(entry);
      });
    },
    async stop(): Promise<void> {
      stopping = true;
      const c = child;
      if (c === undefined || c.exitCode !== null) return;
      c.kill('SIGTERM');
      const killer = setTimeout(() => c.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
