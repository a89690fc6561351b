// The manifests and the build agree: every module a manifest names exists in
// the build output, every import in the built device code resolves to a
// module the manifest lists or to a Moddable built-in, and nothing listed is
// dead weight. A board that boots into "module not found" is the failure
// this catches before any hardware is involved.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { DIALECTS, type Dialect } from '../protocol/device-messages.js';
import { ALL_DIALECTS } from '../device/core/dialects/all.js';
import { BUILD_DIR, boardDialects, boards, buildDevice, DIALECT_SET_MODULE, dialectSetSource } from '../tools/build-device.js';

/** Modules the Moddable SDK provides through the manifests the base includes. */
const BUILTINS = new Set([
  'timer', 'time', 'wifi', 'net', 'sntp', 'websocket', 'securesocket', 'preference', 'instrumentation',
  'mc/config', 'embedded:io/serial', 'embedded:io/digital', 'Resource',
]);

const MANIFESTS = join(process.cwd(), 'manifests');
const BOARDS = ['esp32', 'esp32s3', 'esp32c3'];

interface Manifest {
  include?: string[];
  config?: Record<string, unknown>;
  modules?: Record<string, string | string[]>;
  creation?: Record<string, unknown>;
}

function readManifest(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

interface Resolved {
  /** Module name → file path without extension, as the build would be found by mcconfig. */
  readonly modules: Map<string, string>;
  readonly removed: Set<string>;
  readonly config: Record<string, unknown>;
}

/** Follows local includes (not $(MODDABLE) ones); the including manifest wins, as with mcconfig. */
function resolveManifest(path: string, buildDir: string): Resolved {
  const m = readManifest(path);
  const out: Resolved = { modules: new Map(), removed: new Set(), config: {} };
  for (const inc of m.include ?? []) {
    if (inc.startsWith('$(')) continue;
    const sub = resolveManifest(resolve(dirname(path), inc), buildDir);
    for (const [k, v] of sub.modules) out.modules.set(k, v);
    for (const r of sub.removed) out.removed.add(r);
    Object.assign(out.config, sub.config);
  }
  for (const [name, target] of Object.entries(m.modules ?? {})) {
    if (name === '~') {
      for (const r of target as string[]) out.removed.add(r);
      continue;
    }
    if (name === '*' || typeof target !== 'string') continue;
    // The manifests point at the default build folder; map it onto the one under test.
    const file = resolve(dirname(path), target);
    out.modules.set(name, join(buildDir, relative(BUILD_DIR, file)));
  }
  Object.assign(out.config, m.config ?? {});
  return out;
}

function importsOf(code: string): string[] {
  const specs: string[] = [];
  for (const m of code.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']/g)) {
    specs.push(m[1] ?? m[2] ?? '');
  }
  return specs;
}

/** Module names are paths without .js, resolved like the device loader does. */
function resolveSpecifier(from: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  return posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '');
}

export function manifestProblems(r: Resolved): string[] {
  const problems: string[] = [];
  for (const [name, file] of r.modules) {
    if (!existsSync(`${file}.js`)) problems.push(`${name}: ${file}.js is not in the build output`);
  }
  const seen = new Set<string>();
  const pending = ['main'];
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    const file = r.modules.get(name);
    if (file === undefined || !existsSync(`${file}.js`)) continue;
    for (const spec of importsOf(readFileSync(`${file}.js`, 'utf8'))) {
      const target = resolveSpecifier(name, spec);
      if (r.modules.has(target)) pending.push(target);
      else if (!BUILTINS.has(target)) problems.push(`${name} imports "${spec}", which is neither listed nor a Moddable built-in`);
    }
  }
  for (const name of r.modules.keys()) {
    if (!seen.has(name)) problems.push(`${name} is listed but nothing imports it`);
  }
  return problems;
}

let buildDir = '';
before(async () => {
  buildDir = mkdtempSync(join(tmpdir(), 'pb-build-'));
  await buildDevice(buildDir);
});
after(() => rmSync(buildDir, { recursive: true, force: true }));

test('the boards are the folders under manifests/ with a manifest', () => {
  assert.deepEqual(boards(), [...BOARDS].sort());
});

for (const board of BOARDS) {
  test(`manifests/${board}: every listed module is built and every import resolves`, () => {
    const r = resolveManifest(join(MANIFESTS, board, 'manifest.json'), buildDir);
    assert.ok(r.modules.has('main'), 'the manifest names a main module');
    assert.deepEqual(manifestProblems(r), []);
  });

  test(`manifests/${board}: no blocking network setup, pins and keys configured`, () => {
    const r = resolveManifest(join(MANIFESTS, board, 'manifest.json'), buildDir);
    assert.ok(r.removed.has('setup/network'), 'setup/network must be removed so LEDs and serial work without Wi-Fi');
    for (const key of ['id', 'token', 'server', 'ssid', 'password', 'uartPort', 'uartTx', 'uartRx', 'baud', 'ledPins', 'offlineRestart']) {
      assert.ok(key in r.config, `config key ${key}`);
    }
    for (const key of Object.keys(r.config)) assert.ok(key.length <= 15, `${key}: config keys double as NVS names (15 characters)`);
  });

  test(`manifests/${board}: carries the dialect it is configured for, and its generated set is what main gets`, () => {
    const r = resolveManifest(join(MANIFESTS, board, 'manifest.json'), buildDir);
    const dialects = boardDialects(board);
    assert.ok(dialects.includes(r.config['dialect'] as Dialect), `config dialect ${String(r.config['dialect'])} is among ${dialects.join(', ')}`);
    assert.equal(r.modules.get(DIALECT_SET_MODULE), join(buildDir, 'boards', board, 'dialects'));
    const set = readFileSync(join(buildDir, 'boards', board, 'dialects.js'), 'utf8');
    for (const d of DIALECTS) assert.equal(set.includes(`/dialects/${d}.js"`), dialects.includes(d), `${board}: ${d}`);
  });
}

/** A board like esp32 but carrying `dialects`: the fragments' modules and a generated set in the build under test. */
function boardWith(dialects: readonly Dialect[]): Resolved {
  const r = resolveManifest(join(MANIFESTS, 'esp32', 'manifest.json'), buildDir);
  const modules = new Map([...r.modules].filter(([name]) => !/^device\/core\/dialects\/(?!dialect$|registry$)/.test(name)));
  for (const d of dialects) {
    for (const [name, file] of resolveManifest(join(MANIFESTS, 'dialects', `${d}.json`), buildDir).modules) modules.set(name, file);
  }
  const dir = join(buildDir, 'boards', `with-${dialects.join('-')}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'dialects.js'), dialectSetSource(dialects, 'a test'));
  modules.set(DIALECT_SET_MODULE, join(dir, 'dialects'));
  return { ...r, modules };
}

test('every dialect fragment makes a complete single-dialect board, and all of them together too', () => {
  for (const d of DIALECTS) assert.deepEqual(manifestProblems(boardWith([d])), [], d);
  assert.deepEqual(manifestProblems(boardWith(DIALECTS)), []);
  // Only the byte-stream dialects pull their shared machinery in.
  assert.equal(boardWith(['gcode']).modules.has('device/core/dialects/byte-dialect'), false);
  assert.equal(boardWith(['zpl']).modules.has('device/core/dialects/byte-dialect'), true);
});

test('the generated set names the class each dialect module exports, as the Node host\'s set does', () => {
  const source = dialectSetSource(DIALECTS, 'a test');
  for (const d of DIALECTS) {
    const name = new RegExp(`import \\{ (\\w+) \\} from "\\.\\./\\.\\./core/dialects/${d}\\.js"`).exec(source)?.[1];
    assert.equal(name, ALL_DIALECTS[d]?.name, d);
    assert.match(readFileSync(join(buildDir, 'device/core/dialects', `${d}.js`), 'utf8'), new RegExp(`export (class ${name}\\b|\\{[^}]*\\b${name}\\b)`));
  }
});

test('every built module is named after its source folder', () => {
  const names = readdirSync(join(buildDir, 'device', 'core')).filter((f) => f.endsWith('.js'));
  assert.ok(names.includes('device.js') && names.includes('link.js'));
  assert.ok(existsSync(join(buildDir, 'device/hosts/moddable/native/restart.c')), 'the native binding travels with its JS');
});

test('the check catches a missing module and an unlisted import', () => {
  const r = resolveManifest(join(MANIFESTS, 'esp32', 'manifest.json'), buildDir);
  const missing = new Map(r.modules);
  missing.delete('device/core/link');
  const problems = manifestProblems({ ...r, modules: missing });
  assert.ok(problems.some((p) => p.includes('"./link.js"')), problems.join('\n'));
  const ghost = new Map(r.modules);
  ghost.set('device/core/ghost', join(buildDir, 'device/core/ghost'));
  assert.ok(manifestProblems({ ...r, modules: ghost }).some((p) => p.startsWith('device/core/ghost')));
});
