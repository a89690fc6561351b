// `npm run build:cli`: compiles the `printbridge` command (tools/cli/main.ts
// and everything it imports: server, bridge, emulator, client) into plain
// JavaScript under dist/cli/, which bin/printbridge.js runs:
//
//   dist/cli/main.js          the entry: argument parsing and every command
//   dist/cli/<name>-<hash>.js code a command imports only when it runs (the
//                             server, the bridge's host, the store), so
//                             `--help` does not load it
//   dist/cli/pg-worker.js     the thread a PostgreSQL store talks through
//                             (server/store/pg-sync.ts loads it beside itself)
//   dist/cli/build.json       when it was built and from which files
//
// Packages are bundled too (ws, serialport's JavaScript): Node loads one
// bundled file much faster than CommonJS packages through its ESM interop
// (serialport alone cost 70 ms of CPU per start). Those with native code
// stay in node_modules, and they are exactly the package's dependencies
// (@photostructure/sqlite, @serialport/bindings-cpp), with ws's optional native
// helpers: the build fails when a bundled package has native code, or wants
// another version of a dependency than package.json names.
//
// npm runs this on `npm pack` (prepack) and on an install from git (prepare,
// with --optional: an install without dev dependencies has no esbuild, and so
// nothing to build with). `--if-stale` skips the build while no file the last
// build read has changed since (`npm start`, prepare, the test runner).

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { CLI_STAMP, cliBuildState } from '../bin/cli-build.js';
import { swapInto } from './build-swap.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_BUILD_DIR = join(ROOT, 'dist', 'cli');
const ENTRY = 'tools/cli/main.ts';
/** ws uses them when they are installed; pg, its native binding. */
const OPTIONAL = ['bufferutil', 'utf-8-validate', 'pg-native'];
/** Started as a worker thread by a PostgreSQL store, so every bundle that may open one carries it. */
const PG_WORKER = 'server/store/pg-worker.ts';
/** Not imported by the bundle, but they decide what it is. */
// esbuild reads the tsconfig files too, and its metafile does not list them.
const BUILD_INPUTS = ['tools/build-cli.ts', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.base.json'];

/** What bin/cli-build.js reads to tell whether the build still matches the sources. */
interface CliStamp {
  /** Date.now() when the build started: a file changed after it may be missing from the build. */
  readonly started: number;
  /** Every file the build depends on, relative to the package root. */
  readonly inputs: readonly string[];
}

/**
 * Each source that asks for its own location (import.meta.url: the package
 * version, the dashboard's folder) gets where its source file sits, not where
 * the chunk that holds it sits, so `new URL('../package.json', …)` means the
 * same built as run from source. Every output file lands in dist/cli (a build
 * made elsewhere is for a package's dist/cli too), so one relative path
 * serves all chunks. `outDir` is where the files will be run from (the
 * bench's bundles sit at the same depth beside dist/cli).
 */
function sourceLocations(outDir: string): Plugin {
  return {
    name: 'source-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const fromOut = relative(outDir, args.path).split(sep).join('/');
        return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromOut)}, import.meta.url).href`), loader: 'ts' };
      });
    },
  };
}

/** package.json's dependencies: the packages with native code, left to node_modules. */
function nativeDependencies(): Record<string, string> {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {};
}

/** Throws when a package the bundle took in has native code, or pins a dependency to another version. */
function checkBundledPackages(inputs: readonly string[], native: Record<string, string>): void {
  const roots = new Set(inputs.map((i) => /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(i)?.[1]).filter((r) => r !== undefined));
  for (const root of roots) {
    const pkg = JSON.parse(readFileSync(join(ROOT, root, 'package.json'), 'utf8')) as { name: string; gypfile?: boolean; dependencies?: Record<string, string> };
    if (pkg.gypfile === true || existsSync(join(ROOT, root, 'binding.gyp'))) {
      throw new Error(`${pkg.name} has native code: make it a dependency in package.json so that the bundle leaves it to node_modules`);
    }
    for (const [name, spec] of Object.entries(pkg.dependencies ?? {})) {
      const ours = native[name];
      if (ours !== undefined && ours !== spec) throw new Error(`${pkg.name} (bundled) wants ${name} ${spec}, package.json's dependencies name ${ours}: make them the same`);
    }
  }
}

/**
 * Bundles `entries` (paths relative to the package root) for Node into `outDir`
 * exactly as the command is built: what `printbridge` runs and what the
 * bench measures are the same JavaScript. `runDir`: where the output will be
 * run from, when it is built elsewhere first.
 */
export async function bundleForNode(entries: readonly string[], outDir: string, runDir = outDir): Promise<{ sources: string[] }> {
  const native = nativeDependencies();
  // Loaded here: esbuild is a dev dependency, and --optional must survive its absence.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [...new Set([...entries, PG_WORKER])].map((e) => join(ROOT, e)),
    outdir: outDir,
    // Flat, whatever folders the entries are in: pg-worker.js lies beside the chunk that starts it.
    entryNames: '[name]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: [...Object.keys(native), ...OPTIONAL],
    // Bundled CommonJS (ws, serialport) calls require(), which an ES module lacks.
    banner: { js: "import { createRequire as __pbCreateRequire } from 'node:module';\nconst require = __pbCreateRequire(import.meta.url);" },
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
    plugins: [sourceLocations(runDir)],
  });
  const sources = Object.keys(result.metafile.inputs).map((p) => relative(ROOT, join(process.cwd(), p)).split(sep).join('/'));
  checkBundledPackages(sources, native);
  return { sources };
}

export async function buildCli(outDir = CLI_BUILD_DIR): Promise<void> {
  const started = Date.now();
  const tmp = `${outDir}.tmp-${process.pid}-${started}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const { sources } = await bundleForNode([ENTRY], tmp, CLI_BUILD_DIR);
    const stamp: CliStamp = { started, inputs: [...new Set([...sources, ...BUILD_INPUTS])].sort() };
    writeFileSync(join(tmp, CLI_STAMP), `${JSON.stringify(stamp, null, 1)}\n`);

    swapInto(tmp, outDir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--if-stale') && cliBuildState(pathToFileURL(`${ROOT}/`)) === 'current') process.exit(0);
  if (process.argv.includes('--optional') && !existsSync(join(ROOT, 'node_modules/esbuild'))) {
    process.stderr.write('cli: esbuild is not installed (dev dependency); dist/cli stays unbuilt\n');
    process.exit(0);
  }
  const started = Date.now();
  await buildCli();
  process.stderr.write(`cli: built ${relative(process.cwd(), CLI_BUILD_DIR) || CLI_BUILD_DIR} in ${Date.now() - started} ms\n`);
}
