// `npm run firmware:check`: takes every ESP32 board manifest through the real
// Moddable SDK as far as this machine can without ESP-IDF: mcconfig resolves
// the manifest and writes the build, xsc compiles every module for the board
// and xsl links the preloaded ones, as a flash build does. Then it checks
// what those tools cannot see:
//
// - every import in the firmware's own modules names a module the board's
//   build actually carries (an import only resolved at run time is how a
//   board boots into "module not found");
// - the creation settings the build uses are the ones the board manifest
//   declares (a target manifest can override them);
// - the board's target sets no LED animation of its own running.
//
// It prints the XS bytecode each board flashes and exits 1 on any failure.
// Usage: npm run firmware:check [-- BOARD...]

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildDevice, BUILD_DIR } from '../build-device.js';
import { BOARD_PLATFORMS, FIRMWARE_BUILD, idfPath, ROOT, run, sdkEnv } from './sdk.js';

export interface BoardReport {
  readonly board: string;
  readonly platform: string;
  readonly ok: boolean;
  readonly problems: readonly string[];
  /** Bytes of XS bytecode (.xsb) in the build: everything, and the firmware's own modules. */
  readonly bytecode: number;
  readonly ownBytecode: number;
  readonly modules: number;
  /** xsl's summary of the preloaded heap ("N instances, N keys, ..."). */
  readonly preload: string;
  /** Every module name the build carries, as the loader resolves them. */
  readonly carried: readonly string[];
}

interface Creation {
  readonly static?: number;
  readonly chunk?: { readonly initial?: number; readonly incremental?: number };
  readonly heap?: { readonly initial?: number; readonly incremental?: number };
  readonly stack?: number;
}

interface ManifestJson {
  readonly include?: string | readonly string[];
  readonly creation?: Creation;
  readonly config?: Record<string, unknown>;
}

/** The creation block a board's manifest declares: its own, else the nearest included one's. */
function declaredCreation(path: string): Creation | undefined {
  const m = JSON.parse(readFileSync(path, 'utf8')) as ManifestJson;
  if (m.creation !== undefined) return m.creation;
  const includes = typeof m.include === 'string' ? [m.include] : (m.include ?? []);
  for (const inc of includes) {
    if (inc.startsWith('$(')) continue;
    const found = declaredCreation(join(path, '..', inc));
    if (found !== undefined) return found;
  }
  return undefined;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function findFile(dir: string, name: string): string | undefined {
  return walk(dir).find((p) => p.endsWith(`/${name}`));
}

/** Import specifiers of an ES module's source (static imports and re-exports). */
export function importsOf(code: string): string[] {
  const specs: string[] = [];
  for (const m of code.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']/g)) {
    specs.push(m[1] ?? m[2] ?? '');
  }
  return specs;
}

/** Module names resolve like the device loader: relative to the importer's name, without `.js`. */
export function resolveSpecifier(from: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  const parts = from.split('/').slice(0, -1);
  for (const seg of spec.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.') parts.push(seg);
  }
  return parts.join('/').replace(/\.js$/, '');
}

/** Where the build put a firmware module's source, by module name. */
function sourceOf(name: string, board: string): string {
  if (name === 'device/hosts/moddable/board-dialects') return join(BUILD_DIR, 'boards', board, 'dialects.js');
  if (name === 'restart') return join(BUILD_DIR, 'device', 'hosts', 'moddable', 'native', 'restart.js');
  return join(BUILD_DIR, `${name}.js`);
}

const OWN = /^(main|restart|device\/.*|protocol\/.*)$/;

/** Imports of `modules` (name and built source) that name nothing in `carried`. */
export function unresolvedImports(carried: ReadonlySet<string>, modules: readonly { readonly name: string; readonly source: string }[]): string[] {
  const problems: string[] = [];
  for (const { name, source } of modules) {
    for (const spec of importsOf(source)) {
      if (!carried.has(resolveSpecifier(name, spec))) problems.push(`${name} imports "${spec}", which this build does not carry`);
    }
  }
  return problems;
}

/**
 * `manifestDir` defaults to manifests/BOARD and `platform` to the board's
 * (tests point both elsewhere to prove the check fails where it must).
 */
export function checkBoard(board: string, manifestDir = join(ROOT, 'manifests', board), platform = BOARD_PLATFORMS[board]): BoardReport {
  const problems: string[] = [];
  const fail = (problem: string): BoardReport => ({
    board, platform: platform ?? '?', ok: false, problems: [...problems, problem], bytecode: 0, ownBytecode: 0, modules: 0, preload: '', carried: [],
  });
  if (platform === undefined) return fail(`no mcconfig platform known for board ${board} (tools/firmware/sdk.ts)`);
  const out = join(FIRMWARE_BUILD, 'check', relative(ROOT, manifestDir).replace(/[^A-Za-z0-9_-]+/g, '_'));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const env = sdkEnv({ IDF_PATH: idfPath() });

  const config = run('mcconfig', ['-p', platform, '-o', out, 'manifest.json'], manifestDir, env);
  if (config.status !== 0) return fail(`mcconfig: ${(config.stderr + config.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  const makefile = findFile(join(out, 'tmp'), 'makefile');
  if (makefile === undefined) return fail('mcconfig wrote no makefile');
  const tmp = join(makefile, '..');
  // The preload link is the last step before ESP-IDF: its target names only
  // the compiled modules and the SDK config header, which a stand-in satisfies.
  const sdkconfig = join(out, 'sdkconfig-stand-in.h');
  writeFileSync(sdkconfig, '');
  const link = run('make', ['-f', makefile, join(tmp, 'mc.xs.c'), `SDKCONFIG_H=${sdkconfig}`], tmp, env);
  const linkLog = link.stdout + link.stderr;
  if (link.status !== 0) return fail(`xsc/xsl: ${linkLog.trim().split('\n').filter((l) => !l.includes('not frozen')).slice(-8).join(' | ')}`);
  const preload = /### (\d+ instances[^\n]*)/.exec(linkLog)?.[1] ?? '';

  // What the board carries: every compiled module, by the name the loader uses.
  const modulesDir = join(tmp, 'modules');
  const carried = new Map<string, number>();
  for (const file of walk(modulesDir)) {
    if (!file.endsWith('.xsb')) continue;
    const name = relative(modulesDir, file).replace(/\.xsb$/, '').replace(/^~\.embedded\//, 'embedded:');
    carried.set(name, statSync(file).size);
  }
  let bytecode = 0;
  let ownBytecode = 0;
  for (const [name, size] of carried) {
    bytecode += size;
    if (OWN.test(name)) ownBytecode += size;
  }
  const own: { name: string; source: string }[] = [];
  for (const name of carried.keys()) {
    if (!OWN.test(name)) continue;
    const file = sourceOf(name, board);
    if (existsSync(file)) own.push({ name, source: readFileSync(file, 'utf8') });
    else problems.push(`${name}: no source at ${relative(ROOT, file)}`);
  }
  problems.push(...unresolvedImports(new Set(carried.keys()), own));

  const flat = JSON.parse(readFileSync(join(tmp, 'manifest_flat.json'), 'utf8')) as { creation?: Creation; config?: Record<string, unknown> };
  const want = declaredCreation(join(manifestDir, 'manifest.json'));
  const got = flat.creation ?? {};
  if (want === undefined) problems.push('the board manifest declares no creation block');
  else {
    const pairs: [string, number | undefined, number | undefined][] = [
      ['static', want.static, got.static],
      ['chunk.initial', want.chunk?.initial, got.chunk?.initial],
      ['chunk.incremental', want.chunk?.incremental, got.chunk?.incremental],
      ['heap.initial', want.heap?.initial, got.heap?.initial],
      ['heap.incremental', want.heap?.incremental, got.heap?.incremental],
      ['stack', want.stack, got.stack],
    ];
    for (const [key, w, g] of pairs) if (w !== undefined && w !== g) problems.push(`creation.${key}: the manifest says ${w}, the build uses ${String(g)}`);
  }
  const led = flat.config?.['led'] as { rainbow?: unknown } | undefined;
  if (led?.rainbow === true) problems.push("the target's own LED animation (config.led.rainbow) is on: it would fight the status LED and wake the CPU every 33 ms");

  return { board, platform, ok: problems.length === 0, problems, bytecode, ownBytecode, modules: carried.size, preload, carried: [...carried.keys()].sort() };
}

export function espBoards(): string[] {
  return Object.keys(BOARD_PLATFORMS).filter((b) => b !== 'lin' && existsSync(join(ROOT, 'manifests', b, 'manifest.json')));
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const boards = wanted.length > 0 ? wanted : espBoards();
  await buildDevice();
  let failed = 0;
  for (const board of boards) {
    const started = Date.now();
    const r = checkBoard(board);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (r.ok) {
      process.stdout.write(`ok   ${board} (${r.platform}): ${r.modules} modules, ${r.bytecode} bytes of XS bytecode, ${r.ownBytecode} of them printbridge's; preload ${r.preload} [${secs} s]\n`);
    } else {
      failed++;
      process.stdout.write(`FAIL ${board} (${r.platform}) [${secs} s]\n`);
      for (const p of r.problems) process.stdout.write(`     ${p}\n`);
    }
  }
  process.exitCode = failed === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === `file://${process.argv[1]}`) await main();
