// Rule 1 and 2 of the architecture: device/core and protocol/ import nothing
// host-specific and neither read a clock nor own a timer, so the same code
// runs on the ESP32 (XS), in the Node bridge and under a virtual clock.
// And no source file imports itself back through others, type-only imports
// included: parts that do cannot be built or tested one without the other.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

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

/** Every source directory whose files are checked for import cycles. */
const GRAPH_ROOTS = ['server', 'device', 'protocol', 'tools', 'web', 'sdk'];

/**
 * The files `file` imports among `known`: every relative specifier of an
 * import, `import type`, `export … from` and `import()`, read by the
 * TypeScript scanner so that comments and strings never count.
 */
export function importsOf(file: string, text: string, known: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const base = normalize(join(dirname(file), fileName));
    const target = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')].find((f) => known.has(f));
    if (target !== undefined) out.add(target);
  }
  return [...out];
}

/**
 * The import cycles of a graph: each strongly connected component of more
 * than one file, or a file that imports itself, sorted (Tarjan's algorithm,
 * with its own stack so that a long chain of imports cannot overflow ours).
 */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { file: string; next: number }[] = [{ file: root, next: 0 }];
    index.set(root, index.size);
    low.set(root, index.get(root) ?? 0);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1] as { file: string; next: number };
      const edges = graph.get(top.file) ?? [];
      const to = edges[top.next++];
      if (to !== undefined) {
        if (!index.has(to)) {
          index.set(to, index.size);
          low.set(to, index.get(to) ?? 0);
          stack.push(to);
          onStack.add(to);
          work.push({ file: to, next: 0 });
        } else if (onStack.has(to)) {
          low.set(top.file, Math.min(low.get(top.file) ?? 0, index.get(to) ?? 0));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.file, Math.min(low.get(parent.file) ?? 0, low.get(top.file) ?? 0));
      if (low.get(top.file) !== index.get(top.file)) continue;
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop();
        if (member === undefined) break;
        onStack.delete(member);
        component.push(member);
      } while (member !== top.file);
      if (component.length > 1 || edges.includes(top.file)) cycles.push(component.sort());
    }
  }
  return cycles.sort((a, b) => ((a[0] ?? '') < (b[0] ?? '') ? -1 : 1));
}

/** One shortest way round a component, from its first file back to it: what to read to break it. */
export function cyclePath(graph: ReadonlyMap<string, readonly string[]>, component: readonly string[]): string[] {
  const start = component[0] as string;
  const inside = new Set(component);
  const from = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const file = queue[i] as string;
    for (const to of graph.get(file) ?? []) {
      if (!inside.has(to)) continue;
      if (to === start) {
        const path = [start];
        for (let at: string | undefined = file; at !== undefined && at !== start; at = from.get(at)) path.unshift(at);
        return [start, ...path];
      }
      if (from.has(to)) continue;
      from.set(to, file);
      queue.push(to);
    }
  }
  return [...component];
}

function importGraph(): Map<string, string[]> {
  const files = GRAPH_ROOTS.filter((r) => existsSync(r)).flatMap(sourceFiles);
  const known = new Set(files);
  return new Map(files.map((f) => [f, importsOf(f, readFileSync(f, 'utf8'), known)]));
}

test('no source file imports itself back, type-only imports included', () => {
  const graph = importGraph();
  assert.ok(graph.size >= 100, `expected the sources, found ${graph.size}`);
  // The graph is real: the composition root reaches the parts it builds.
  assert.ok(graph.get('server/core/hub.ts')?.includes('server/core/device-session.ts'), 'hub.ts imports device-session.ts');
  const problems = importCycles(graph).map((c) => `${c.length} files import each other: ${c.join(', ')}; for one: ${cyclePath(graph, c).join(' → ')}`);
  assert.deepEqual(problems, []);
  // Parts of the core take narrow dependencies: the Hub builds them, and none of them reaches back for it.
  const hubUsers = [...graph].filter(([f, to]) => f.startsWith('server/core/') && f !== 'server/core/hub.ts' && to.includes('server/core/hub.ts')).map(([f]) => f);
  assert.deepEqual(hubUsers, []);
});

test('the cycle check catches what it is meant to catch', () => {
  const known = new Set(['a.ts', 'b.ts', 'c.ts', 'd.ts', 'lib/index.ts']);
  // Type-only imports and re-exports are edges too; a comment or a string is none.
  assert.deepEqual(importsOf('a.ts', "import type { B } from './b.js';\n// import { C } from './c.js';\nconst s = \"import './d.js'\";", known), ['b.ts']);
  assert.deepEqual(importsOf('b.ts', "export { A } from './a.js';\nexport * from './lib';\nimport { x } from 'ws';", known).sort(), ['a.ts', 'lib/index.ts']);
  const graph = new Map<string, string[]>([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts', 'd.ts']],
    ['d.ts', ['d.ts']],
    ['e.ts', ['a.ts']],
  ]);
  assert.deepEqual(importCycles(graph), [['a.ts', 'b.ts', 'c.ts'], ['d.ts']]);
  assert.deepEqual(cyclePath(graph, ['a.ts', 'b.ts', 'c.ts']), ['a.ts', 'b.ts', 'c.ts', 'a.ts']);
  assert.deepEqual(cyclePath(graph, ['d.ts']), ['d.ts', 'd.ts']);
  assert.deepEqual(importCycles(new Map([['a.ts', ['b.ts']], ['b.ts', []]])), []);
});
