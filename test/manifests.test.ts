// What the manifests say, read as JSON: the keys and pins each board is
// configured with, the dialects it carries and the generated set main gets,
// and the Linux-host board being the boards' firmware plus stand-ins only.
// Whether the SDK accepts them and every import resolves on the board is
// proven with the real tools in test/firmware/boards.test.ts.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { DIALECTS, type Dialect } from '../protocol/device-messages.js';
import { ALL_DIALECTS } from '../device/core/dialects/all.js';
import { boardDialects, boards, buildDevice, DIALECT_SET_MODULE, dialectSetSource } from '../tools/build-device.js';

const MANIFESTS = join(process.cwd(), 'manifests');
const ESP_BOARDS = ['esp32', 'esp32s3', 'esp32c3'];

interface Manifest {
  include?: string[];
  config?: Record<string, unknown>;
  modules?: Record<string, string | string[]>;
  platforms?: Record<string, Manifest & { error?: string }>;
  defines?: Record<string, Record<string, unknown>>;
}

function read(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

/** Config and module map after the local includes, the including manifest winning as with mcconfig. */
function flatten(path: string): { config: Record<string, unknown>; modules: Record<string, string | string[]> } {
  const m = read(path);
  const out = { config: {} as Record<string, unknown>, modules: {} as Record<string, string | string[]> };
  for (const inc of m.include ?? []) {
    if (inc.startsWith('$(')) continue;
    const sub = flatten(resolve(dirname(path), inc));
    Object.assign(out.config, sub.config);
    Object.assign(out.modules, sub.modules);
  }
  Object.assign(out.config, m.config ?? {});
  Object.assign(out.modules, m.modules ?? {});
  return out;
}

let buildDir = '';
before(async () => {
  buildDir = mkdtempSync(join(tmpdir(), 'pb-build-'));
  await buildDevice(buildDir);
});
after(() => rmSync(buildDir, { recursive: true, force: true }));

test('the boards are the ESP32 boards and the SDK\'s Linux host', () => {
  assert.deepEqual(boards(), [...ESP_BOARDS, 'lin'].sort());
});

test('the base removes the SDK\'s blocking network setup on ESP32, by its path, and names the abort hook', () => {
  const base = read(join(MANIFESTS, 'base', 'manifest.json'));
  const removed = base.platforms?.['esp32']?.modules?.['~'];
  assert.deepEqual(removed, ['$(BUILD)/devices/esp32/setup/network'], 'LEDs and serial must work without Wi-Fi');
  assert.equal(base.defines?.['xs']?.['abortHook'], 1);
  assert.ok(base.platforms?.['...']?.error, 'any other platform is refused with a message');
});

for (const board of ESP_BOARDS) {
  test(`manifests/${board}: keys and pins configured, NVS-sized names, its dialect carried and handed to main`, () => {
    const { config, modules } = flatten(join(MANIFESTS, board, 'manifest.json'));
    for (const key of ['id', 'token', 'server', 'ssid', 'password', 'uartPort', 'uartTx', 'uartRx', 'baud', 'ledPins', 'offlineRestart']) {
      assert.ok(key in config, `config key ${key}`);
    }
    for (const key of Object.keys(config)) assert.ok(key.length <= 15, `${key}: config keys double as NVS names (15 characters)`);
    const dialects = boardDialects(board);
    assert.ok(dialects.includes(config['dialect'] as Dialect), `config dialect ${String(config['dialect'])} is among ${dialects.join(', ')}`);
    assert.equal(resolve(MANIFESTS, board, String(modules[DIALECT_SET_MODULE])), resolve(process.cwd(), 'build', 'device', 'boards', board, 'dialects'));
    const set = readFileSync(join(buildDir, 'boards', board, 'dialects.js'), 'utf8');
    for (const d of DIALECTS) assert.equal(set.includes(`/dialects/${d}.js"`), dialects.includes(d), `${board}: ${d}`);
  });
}

test('the Linux-host board is the boards\' firmware with every dialect, plus stand-ins for what the host lacks', () => {
  const lin = read(join(MANIFESTS, 'lin', 'manifest.json'));
  assert.ok(lin.include?.includes('../base/manifest.json'));
  assert.deepEqual(boardDialects('lin'), [...DIALECTS]);
  const own = Object.keys(lin.modules ?? {}).sort();
  assert.deepEqual(own, ['device/hosts/moddable/board-dialects', 'embedded:io/digital', 'embedded:network/interface/wifi', 'lin-board-control']);
});

test('the generated set names the class each dialect module exports, as the Node host\'s set does', () => {
  const source = dialectSetSource(DIALECTS, 'a test');
  for (const d of DIALECTS) {
    const name = new RegExp(`import \\{ (\\w+) \\} from "\\.\\./\\.\\./core/dialects/${d}\\.js"`).exec(source)?.[1];
    assert.equal(name, ALL_DIALECTS[d]?.name, d);
    assert.match(readFileSync(join(buildDir, 'device/core/dialects', `${d}.js`), 'utf8'), new RegExp(`export (class ${name}\\b|\\{[^}]*\\b${name}\\b)`));
  }
});

test('every module the base lists is in the build output', () => {
  const { modules } = flatten(join(MANIFESTS, 'esp32', 'manifest.json'));
  for (const [name, target] of Object.entries(modules)) {
    if (name === '*' || name === '~' || typeof target !== 'string' || target.startsWith('$(')) continue;
    const file = resolve(MANIFESTS, 'esp32', target);
    const rel = file.slice(resolve(process.cwd(), 'build', 'device').length + 1);
    assert.ok(readFileSync(join(buildDir, `${rel}.js`), 'utf8').length > 0, `${name} → ${rel}.js`);
  }
});
