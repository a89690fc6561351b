// Every ESP32 board manifest through the real Moddable SDK (mcconfig, then
// xsc and xsl for the real board), as `npm run firmware:check` does, and the
// check failing where it must: a manifest mcconfig rejects, an import the
// board does not carry, a target LED animation left on. These are the
// faults the old module doubles let through.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkBoard, espBoards, unresolvedImports, type BoardReport } from '../../tools/firmware/check.js';
import { buildDevice } from '../../tools/build-device.js';
import { FIRMWARE_BUILD, ROOT, withLock } from '../../tools/firmware/sdk.js';

const LOCK = join(FIRMWARE_BUILD, 'lin.lock');
const scratch = join(FIRMWARE_BUILD, 'check-cases');

/** checkBoard under the build lock: it rebuilds build/device, which the Linux-host builds read. */
async function check(board: string, manifestDir?: string, platform?: string): Promise<BoardReport> {
  return withLock(LOCK, async () => {
    await buildDevice();
    return checkBoard(board, manifestDir, platform);
  });
}

/** A manifest that includes a real board's and changes one thing. */
function variant(name: string, board: string, extra: Record<string, unknown>): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const include = relative(dir, join(ROOT, 'manifests', board, 'manifest.json'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ include: [include], ...extra }, null, 2));
  return dir;
}

describe('board manifests on the real SDK tools', () => {
  after(() => rmSync(scratch, { recursive: true, force: true }));
  const reports = new Map<string, BoardReport>();

  test('the boards are esp32, esp32s3 and esp32c3', () => {
    assert.deepEqual(espBoards().sort(), ['esp32', 'esp32c3', 'esp32s3']);
  });

  for (const board of ['esp32', 'esp32s3', 'esp32c3']) {
    test(`${board}: mcconfig accepts it, xsc/xsl compile and link it for the board, every import resolves`, async () => {
      const r = await check(board);
      reports.set(board, r);
      assert.deepEqual(r.problems, []);
      assert.ok(r.ok);
      assert.ok(r.ownBytecode > 10_000 && r.bytecode > r.ownBytecode, `${r.ownBytecode} of ${r.bytecode} bytes`);
      for (const m of ['embedded:network/interface/wifi', 'embedded:io/socket/tcp', 'embedded:io/socket/tcp/tls', 'embedded:io/serial', 'embedded:io/digital', 'instrumentation', 'device/core/host-loop']) {
        assert.ok(r.carried.includes(m), `${board} carries ${m}`);
      }
      // The legacy modules the firmware no longer uses are not on the board at all.
      for (const m of ['wifi', 'websocket', 'setup/network']) assert.ok(!r.carried.includes(m), `${board} does not carry ${m}`);
    });
  }

  test('an import the board does not carry is reported (the legacy wifi module is gone from ESP32)', async () => {
    const r = reports.get('esp32') ?? (await check('esp32'));
    const carried = new Set(r.carried);
    const problems = unresolvedImports(carried, [
      { name: 'device/hosts/moddable/old-station', source: "import WiFi from 'wifi';\nimport Timer from 'timer';\n" },
      { name: 'device/hosts/moddable/firmware', source: "import { now } from './clock.js';\nimport { gone } from '../../core/gone.js';\n" },
    ]);
    assert.deepEqual(problems, [
      'device/hosts/moddable/old-station imports "wifi", which this build does not carry',
      'device/hosts/moddable/firmware imports "../../core/gone.js", which this build does not carry',
    ]);
  });

  test('a "~" entry given as a module name is rejected by mcconfig, and the check says so', async () => {
    const dir = variant('bare-tilde', 'esp32', { modules: { '~': ['setup/network'] } });
    const r = await check('esp32', dir, 'esp32');
    assert.equal(r.ok, false);
    assert.match(r.problems.join('\n'), /mcconfig: .*setup\/network.*directory not found/);
  });

  test("a target's own LED animation left on is reported", async () => {
    const dir = variant('rainbow', 'esp32c3', { config: { led: { pin: 8, rainbow: true, brightness: 32 } } });
    const r = await check('esp32c3', dir, 'esp32/esp32c3');
    assert.equal(r.ok, false);
    assert.match(r.problems.join('\n'), /rainbow/);
  });
});
