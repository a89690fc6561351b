// `npm run build:web`: bundles the browser SDK and the dashboard into
// build/web/, the folder the server serves (server/transports/static.ts):
//
//   build/web/index.html                 the dashboard page, served at /
//   build/web/app/dashboard-<hash>.js    its script and style; names change with
//   build/web/app/dashboard-<hash>.css   the content, so they are cached forever
//   build/web/sdk/printbridge.mjs        the SDK as an ES module   (/sdk/printbridge.mjs)
//   build/web/sdk/printbridge.js         the SDK as a classic script defining
//                                        the global `printbridge`  (/sdk/printbridge.js)
//   build/web/sdk/types/                 .d.ts for `import … from 'printbridge/sdk'`
//
// Everything is written to a fresh folder first and swapped in at the end,
// so a running server never serves half a build. Invariants checked before
// the swap: the SDK bundles reach for nothing of Node (no require, no node:
// imports) and stay small, and the page names only files that exist.
//
// `--if-stale` skips the build when build/web is newer than every source
// (what `npm start` runs, so that a fresh clone serves the dashboard);
// `--optional` (npm's prepare step) skips it when esbuild is not installed.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions, Metafile } from 'esbuild';
import { swapInto } from './build-swap.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_BUILD_DIR = join(ROOT, 'build', 'web');
const SOURCES = ['sdk', 'web', 'protocol', 'tools/build-web.ts', 'tsconfig.sdk.json'];
const STAMP = '.built';
/** The SDK is meant to be dropped into any page: keep it small. */
const MAX_SDK_BYTES = 64 * 1024;
const TARGET = ['es2020'];

function newest(path: string): number {
  const full = join(ROOT, path);
  if (!existsSync(full)) return 0;
  const st = statSync(full);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(full).map((n) => newest(join(path, n))));
}

export function isStale(outDir = WEB_BUILD_DIR): boolean {
  const stamp = join(outDir, STAMP);
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  return SOURCES.some((s) => newest(s) > built);
}

function outputsOf(meta: Metafile, dir: string): string[] {
  return Object.keys(meta.outputs).map((o) => relative(dir, join(ROOT, o)));
}

export async function buildWeb(outDir = WEB_BUILD_DIR): Promise<void> {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  // Loaded here: esbuild is a dev dependency, and --optional must survive its absence.
  const { build } = await import('esbuild');
  const tmp = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const banner = { js: `/* printbridge SDK ${version} — MIT */` };
    const common: BuildOptions = {
      entryPoints: [join(ROOT, 'sdk/index.ts')], bundle: true, platform: 'browser', target: TARGET, sourcemap: 'linked',
      banner, logLevel: 'warning', legalComments: 'none',
    };
    await build({ ...common, format: 'esm', outfile: join(tmp, 'sdk/printbridge.mjs') });
    await build({ ...common, format: 'iife', globalName: 'printbridge', outfile: join(tmp, 'sdk/printbridge.js') });

    const app = await build({
      entryPoints: [join(ROOT, 'web/dashboard.ts'), join(ROOT, 'web/dashboard.css')], bundle: true, platform: 'browser', target: TARGET, format: 'esm',
      outdir: join(tmp, 'app'), entryNames: '[name]-[hash]', minify: true, sourcemap: 'linked', metafile: true, logLevel: 'warning',
    });
    const files = outputsOf(app.metafile, tmp);
    const script = files.find((f) => f.endsWith('.js'));
    const style = files.find((f) => f.endsWith('.css'));
    if (!script || !style) throw new Error(`dashboard build lacks a script or a style: ${files.join(', ')}`);
    const page = readFileSync(join(ROOT, 'web/index.html'), 'utf8')
      .replaceAll('{{script}}', `/${script}`)
      .replaceAll('{{style}}', `/${style}`)
      .replaceAll('{{version}}', version);
    if (/\{\{\w+\}\}/.test(page)) throw new Error('web/index.html has a placeholder the build does not fill');
    writeFileSync(join(tmp, 'index.html'), page);

    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.sdk.json'), '--outDir', join(tmp, 'sdk/types')], {
      stdio: 'inherit',
    });
    if (tsc.status !== 0) throw new Error('SDK declarations failed to build');

    for (const name of ['printbridge.mjs', 'printbridge.js']) {
      const text = readFileSync(join(tmp, 'sdk', name), 'utf8');
      if (/\brequire\s*\(|from\s*["']node:|import\(["']node:/.test(text)) throw new Error(`sdk/${name} reaches for Node APIs`);
      if (text.length > MAX_SDK_BYTES) throw new Error(`sdk/${name} is ${text.length} bytes, over ${MAX_SDK_BYTES}`);
    }
    writeFileSync(join(tmp, STAMP), `${new Date().toISOString()}\n`);

    swapInto(tmp, outDir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ifStale = process.argv.includes('--if-stale');
  if (ifStale && !isStale()) process.exit(0);
  // --optional (npm's prepare step): an install without dev dependencies has
  // no esbuild; say so and let the install go on.
  if (process.argv.includes('--optional') && !existsSync(join(ROOT, 'node_modules/esbuild'))) {
    process.stderr.write('web: esbuild is not installed (dev dependency); the dashboard and /sdk/ stay unbuilt\n');
    process.exit(0);
  }
  const started = Date.now();
  await buildWeb();
  process.stderr.write(`web: built ${relative(process.cwd(), WEB_BUILD_DIR) || WEB_BUILD_DIR} in ${Date.now() - started} ms\n`);
}
