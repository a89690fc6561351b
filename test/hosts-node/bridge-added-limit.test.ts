// Printers added by the server are opened again at every start, after the
// --printer ones. More --printer options since then must not make a hello
// with more printers than a device may have (the server would refuse it):
// the added ones that do not fit are left closed, and said so.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PORTS_MAX } from '../../protocol/device-messages.js';
import { runBridge } from '../../device/hosts/node/bridge.js';
import { ADDED_SETTING, savedValue } from '../../device/hosts/node/printer-admin.js';
import { freePort } from '../../tools/free-port.js';
import { tempDir } from '../helpers/server.js';

test(`added printers past ${PORTS_MAX} with the --printer ones are not opened, and the log says which`, async () => {
  const settings = join(tempDir('printbridge-added-limit-'), 'settings.json');
  const nowhere = await freePort();
  writeFileSync(settings, JSON.stringify({ [ADDED_SETTING]: savedValue([{ uri: 'tcp://127.0.0.1:1', dialect: 'raw' }, { uri: 'tcp://127.0.0.1:2', dialect: 'raw' }]) }));
  const logs: string[] = [];
  const bridge = await runBridge({
    server: `ws://127.0.0.1:${nowhere}`, id: 'full-1', token: 't', settingsPath: settings,
    printers: Array.from({ length: PORTS_MAX - 1 }, (_, i) => ({ uri: `tcp://127.0.0.1:${10 + i}`, dialect: 'raw' as const })),
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  try {
    const snapshot = bridge.snapshot();
    assert.equal(snapshot.printers.length, PORTS_MAX);
    assert.equal(snapshot.ports.length, PORTS_MAX, 'the core has as many');
    assert.equal(snapshot.printers.at(-1)?.label.includes('127.0.0.1:1'), true, 'the first added one is kept');
    assert.ok(logs.some((l) => l.startsWith('error: tcp://127.0.0.1:2 (added before) not opened')), logs.join('\n'));
  } finally {
    await bridge.stop();
  }
});
