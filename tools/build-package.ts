// Packs this tree as `npm pack` publishes it and installs the tarball into a
// folder the way `npm install printbridge` would on a machine without
// network access: the package's runtime dependencies are linked from this
// tree's node_modules, and nothing else is there (no tsx, esbuild or
// TypeScript). The packaging test runs the installed command from there, and
// so does the startup bench: what a user gets, whatever the state of this
// tree's own build.
//
// The pack runs in a copy of the tree (the files git tracks or would track),
// so that its prepack build leaves this tree's dist/ and build/web alone:
// servers and tests running from this tree use them.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface InstalledPackage {
  readonly tarball: string;
  /** The installed package: DIR/app/node_modules/printbridge. */
  readonly root: string;
  /** Its command, to run with `node`. */
  readonly bin: string;
  /** The packed files, relative to the package root. */
  readonly files: readonly string[];
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function copyTree(to: string): void {
  const listed = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT).split('\0').filter((f) => f !== '');
  for (const file of listed) {
    const from = join(ROOT, file);
    let isFile: boolean;
    try {
      isFile = statSync(from).isFile();
    } catch {
      continue; // tracked, but deleted in this tree
    }
    if (!isFile) continue;
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(from, join(to, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(to, 'node_modules'), 'dir');
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

/** Packs into DIR and installs into DIR/app; DIR should be new and empty. */
export function packAndInstall(dir: string): InstalledPackage {
  const src = join(dir, 'src');
  copyTree(src);
  // prepack builds dist/cli and build/web in the copy.
  run('npm', ['pack', '--pack-destination', dir, '--no-fund', '--no-audit'], src);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (tarball === undefined) throw new Error(`npm pack left no tarball in ${dir}`);

  const modules = join(dir, 'app', 'node_modules');
  const root = join(modules, 'printbridge');
  mkdirSync(root, { recursive: true });
  run('tar', ['-xzf', join(dir, tarball), '-C', root, '--strip-components=1'], dir);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
  }
  return { tarball: join(dir, tarball), root, bin: join(root, 'bin', 'printbridge.js'), files: listFiles(root) };
}
