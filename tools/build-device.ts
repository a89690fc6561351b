// `npm run build:device`: compiles the device code for XS, one ES2022 module
// per source file, into build/device/ with the source folders mirrored
// (build/device/device/core/link.js, build/device/protocol/frames.js, ...),
// which is where the manifests read them. Each file is transformed on its
// own, not bundled, so a module on the device is exactly a module here and
// the manifests can list them by name. Hand-written JS and C (the native
// restart binding) are copied as they are, so mcconfig finds both under one
// module path.
//
// The SDK starts the module named "main", and a relative import inside it
// resolves against that name, so build/device/main.js is a one-line module
// that re-exports device/hosts/moddable/main under its full name.
//
// Invariants checked before anything is written: every source imports only
// relative paths or Moddable built-ins, and no source is a test.

import { transform } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DEVICE_SOURCES = ['protocol', 'device/core', 'device/hosts/moddable'];
export const BUILD_DIR = join(ROOT, 'build', 'device');
export const MAIN_MODULE = 'device/hosts/moddable/main';

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'types') out.push(...walk(p));
    } else if ((name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) || /\.(js|c)$/.test(name)) {
      out.push(p);
    }
  }
  return out;
}

export interface BuiltModule {
  /** Module name as the manifests list it: the path without extension, e.g. device/core/link. */
  readonly name: string;
  readonly file: string;
}

export async function buildDevice(outDir = BUILD_DIR): Promise<BuiltModule[]> {
  rmSync(outDir, { recursive: true, force: true });
  const built: BuiltModule[] = [];
  for (const src of DEVICE_SOURCES.flatMap((d) => walk(join(ROOT, d)))) {
    const rel = relative(ROOT, src);
    if (rel.endsWith('.c')) {
      mkdirSync(dirname(join(outDir, rel)), { recursive: true });
      copyFileSync(src, join(outDir, rel));
      continue;
    }
    const name = rel.replace(/\.(ts|js)$/, '');
    const file = join(outDir, `${name}.js`);
    mkdirSync(dirname(file), { recursive: true });
    if (src.endsWith('.js')) {
      copyFileSync(src, file);
    } else {
      const result = await transform(readFileSync(src, 'utf8'), {
        loader: 'ts', format: 'esm', target: 'es2022', sourcefile: rel,
        // Keep names readable in xsbug and stack traces; size is measured separately (npm run bench).
        minify: false, legalComments: 'none',
      });
      writeFileSync(file, result.code);
    }
    built.push({ name, file });
  }
  const entry = join(outDir, 'main.js');
  writeFileSync(entry, `export { default } from ${JSON.stringify(MAIN_MODULE)};\n`);
  built.push({ name: 'main', file: entry });
  return built;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = await buildDevice();
  process.stdout.write(`${built.length} modules in ${relative(process.cwd(), BUILD_DIR) || '.'}\n`);
}
