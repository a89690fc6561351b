// Rule 1 and 2 of the architecture: device/core and protocol/ import nothing
// host-specific and neither read a clock nor own a timer, so the same code
// runs on the ESP32 (XS), in the Node bridge and under a virtual clock.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';

const PURE_ROOTS = ['protocol', 'device/core'];

const FORBIDDEN: ReadonlyArray<[RegExp, string]> = [
  [/\bBuffer\b/, 'Buffer (Node only; use Uint8Array)'],
  [/\bsetTimeout\s*\(|\bsetInterval\s*\(|\bsetImmediate\s*\(|\bqueueMicrotask\s*\(/, 'timers (time is an input)'],
  [/\bDate\.now\s*\(|\bnew Date\s*\(|\bperformance\./, 'clocks (time is an input)'],
  [/\bMath\.random\s*\(/, 'Math.random (randomness is injected)'],
  [/\bprocess\./, 'process (Node only)'],
  [/\brequire\s*\(/, 'require'],
  [/\bTextEncoder\b|\bTextDecoder\b|\bIntl\b|\bstructuredClone\b/, 'globals missing on XS'],
  [/\bconsole\./, 'console (missing on XS; log through an effect)'],
  [/\.(toSorted|toReversed|findLast|findLastIndex|groupBy)\s*\(|Promise\.withResolvers/, 'ES2023+ library calls (XS targets ES2022)'],
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Returns what is wrong with one pure source file: host imports, imports leaving the pure roots, forbidden globals. */
export function purityProblems(file: string, text: string): string[] {
  const problems: string[] = [];
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const m of code.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]/g)) {
    const spec = m[1] ?? m[2] ?? '';
    if (!spec.startsWith('.')) {
      problems.push(`${file}: imports "${spec}" (only relative imports inside ${PURE_ROOTS.join(', ')})`);
      continue;
    }
    const target = relative('.', normalize(join(dirname(file), spec)));
    if (!PURE_ROOTS.some((r) => target === r || target.startsWith(`${r}/`))) problems.push(`${file}: imports ${target}, outside the pure roots`);
  }
  for (const [re, what] of FORBIDDEN) if (re.test(code)) problems.push(`${file}: uses ${what}`);
  return problems;
}

test('device/core and protocol stay free of host imports, clocks and timers', () => {
  const files = PURE_ROOTS.flatMap(sourceFiles);
  assert.ok(files.length >= 8, `expected the pure sources, found ${files.length}`);
  const problems = files.flatMap((f) => purityProblems(f, readFileSync(f, 'utf8')));
  assert.deepEqual(problems, []);
});

test('the purity check catches what it is meant to catch', () => {
  const bad = [
    "import { WebSocket } from 'ws';",
    "import fs from 'node:fs';",
    "import { x } from '../../server/core/jobs.js';",
    'const b = Buffer.from("x");',
    'setTimeout(() => 0, 10);',
    'const t = Date.now();',
    'const r = Math.random();',
  ];
  for (const line of bad) assert.notDeepEqual(purityProblems('device/core/x.ts', line), [], line);
  assert.deepEqual(purityProblems('device/core/x.ts', "import { a } from './link.js'; // setTimeout( in a comment"), []);
});

/**
 * Modules the device preloads (manifests/base `preload`): built into flash,
 * where every object they made at load is frozen. A RegExp made at module
 * level is such an object, and XS's exec on it crashed the SDK runtime
 * under load; so no RegExp is made at the top level of a preloaded module.
 */
function preloadedSources(): string[] {
  const manifest = JSON.parse(readFileSync('manifests/base/manifest.json', 'utf8')) as { preload: string[] };
  const out: string[] = [];
  for (const entry of manifest.preload) {
    if (entry.endsWith('/*')) out.push(...sourceFiles(entry.slice(0, -2)));
    else out.push(`${entry}.ts`);
  }
  return out;
}

/** Top-level statements (no indentation) that make a RegExp. */
export function moduleLevelRegExps(file: string, text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const problems: string[] = [];
  code.split('\n').forEach((line, i) => {
    if (/^\S/.test(line) && /(=|\(|,|:)\s*\/(?![/*])|new RegExp\s*\(/.test(line)) problems.push(`${file}:${i + 1}: ${line.trim().slice(0, 80)}`);
  });
  return problems;
}

test('no preloaded device module makes a RegExp at module level', () => {
  const files = preloadedSources();
  assert.ok(files.some((f) => f.endsWith('device/core/dialects/gcode.ts')) && files.some((f) => f.endsWith('ws-url.ts')), files.join(', '));
  assert.deepEqual(files.flatMap((f) => moduleLevelRegExps(f, readFileSync(f, 'utf8'))), []);
  // And the check sees one when there is one.
  assert.equal(moduleLevelRegExps('x.ts', "const SCHEME = /^(wss?):\\/\\//i;\nexport const A = new RegExp('a');\nfunction f() {\n  return /x/.test('x');\n}\n").length, 2);
});
