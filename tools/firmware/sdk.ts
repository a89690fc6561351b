// Where the Moddable SDK is and how its tools are run, for the firmware
// check, the Linux-host runs and the benchmarks. The SDK is found or
// prepared by scripts/moddable-sdk.sh ($MODDABLE, else the SDK tarball
// beside the project, unpacked and built once into .cache/moddable).

import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIRMWARE_BUILD = join(ROOT, 'build', 'firmware');

/** mcconfig's platform for each board folder under manifests/. */
export const BOARD_PLATFORMS: Readonly<Record<string, string>> = {
  esp32: 'esp32',
  esp32s3: 'esp32/esp32s3',
  esp32c3: 'esp32/esp32c3',
  lin: 'lin',
};

let cached: string | undefined;

/** The SDK root ($MODDABLE), preparing it on first use. Throws with the script's message when there is none. */
export function sdkRoot(): string {
  if (cached !== undefined) return cached;
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'moddable-sdk.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const root = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || root === '') throw new Error('no Moddable SDK (see scripts/moddable-sdk.sh)');
  cached = root;
  return root;
}

/** Environment for the SDK's tools: MODDABLE and its bin folder first on PATH. */
export function sdkEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const root = sdkRoot();
  return { ...process.env, MODDABLE: root, PATH: `${join(root, 'build', 'bin', 'lin', 'release')}:${process.env['PATH'] ?? ''}`, ...extra };
}

/**
 * ESP32 builds refuse to start without $IDF_PATH naming a git checkout. The
 * check only needs the steps before ESP-IDF compiles anything, so an empty
 * repository with one commit stands in when the user has no ESP-IDF.
 */
export function idfPath(): string {
  const given = process.env['IDF_PATH'];
  if (given !== undefined && given !== '') return given;
  const dir = join(ROOT, '.cache', 'idf-stand-in');
  if (!existsSync(join(dir, '.git'))) {
    mkdirSync(dir, { recursive: true });
    const git = (...args: string[]): void => {
      execFileSync('git', ['-c', 'user.name=printbridge', '-c', 'user.email=build@localhost', ...args], { cwd: dir, stdio: 'ignore' });
    };
    git('init', '-q');
    git('commit', '-q', '--allow-empty', '-m', 'stand-in for ESP-IDF: no IDF sources');
  }
  return dir;
}

export function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

/**
 * Runs `fn` while holding a lock directory, so concurrent test files never
 * build into the same SDK output folder at once. A lock older than
 * `staleMs` is taken over (its holder died).
 */
export async function withLock<T>(path: string, fn: () => Promise<T> | T, staleMs = 10 * 60_000): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  for (;;) {
    try {
      mkdirSync(path);
      break;
    } catch {
      try {
        if (Date.now() - statSync(path).mtimeMs > staleMs) rmdirSync(path);
      } catch {
        // Released meanwhile.
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    writeFileSync(join(path, 'pid'), String(process.pid));
    return await fn();
  } finally {
    try {
      execFileSync('rm', ['-rf', path]);
    } catch {
      // Already gone.
    }
  }
}
