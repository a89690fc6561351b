// The pure parts of the Moddable host, on Node: URL splitting for the
// legacy WebSocket client, settings resolution (build config vs. saved
// preferences), and the offline watchdog.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveSettings } from '../../device/hosts/moddable/settings.js';
import { OfflineWatchdog } from '../../device/hosts/moddable/watchdog.js';
import { parseWsUrl } from '../../device/hosts/moddable/ws-url.js';

test('ws URLs split into host, port and path the way the SDK client takes them', () => {
  assert.deepEqual(parseWsUrl('ws://10.0.0.2:8080/v1/device?id=a'), { secure: false, host: '10.0.0.2', port: 8080, path: '/v1/device?id=a' });
  assert.deepEqual(parseWsUrl('wss://print.example.com/v1/device'), { secure: true, host: 'print.example.com', port: 443, path: '/v1/device' });
  assert.deepEqual(parseWsUrl('ws://h'), { secure: false, host: 'h', port: 80, path: '/' });
  assert.deepEqual(parseWsUrl('ws://[fe80::1]:81/x'), { secure: false, host: '[fe80::1]', port: 81, path: '/x' });
  for (const bad of ['http://h/', 'ws://', 'ws://h:0/', 'ws://h:99999/', 'ws://user@h/', 'ws://h:x/', '']) assert.equal(parseWsUrl(bad), undefined, bad);
});

test('saved runtime settings win over the build; pins never come from preferences', () => {
  const s = resolveSettings(
    { id: 'a', token: 't0', server: 'ws://old', ssid: 'one', password: 'p1', ssid2: 'two', uartTx: '21', ledPins: '2, 4', ledActiveLow: '1', baud: 'fast', backoffBase: 50 },
    { token: 't1', server: 'ws://new', uartTx: '1', ledPins: '9' },
  );
  assert.equal(s.token, 't1');
  assert.equal(s.server, 'ws://new');
  assert.equal(s.uart.tx, 21);
  assert.deepEqual(s.ledPins, [2, 4]);
  assert.equal(s.ledActiveLow, true);
  assert.equal(s.uart.baud, 115_200, 'a bad number falls back to its default');
  assert.deepEqual(s.accessPoints, [{ ssid: 'one', password: 'p1' }, { ssid: 'two', password: '' }]);
  assert.deepEqual(s.timings, { backoffBase: 50 });
  assert.equal(s.dialect, 'raw');
  assert.deepEqual(resolveSettings({ ledPins: -1 }, {}).ledPins, []);
});

test('the watchdog fires only after the limit passed offline, and never when off', () => {
  const w = new OfflineWatchdog(1_000);
  assert.equal(w.observe(false, 0), false);
  assert.equal(w.observe(false, 999), false);
  assert.equal(w.observe(true, 1_500), false);
  assert.equal(w.observe(false, 2_000), false);
  assert.equal(w.deadline(), 2_500);
  assert.equal(w.observe(false, 2_500), true);
  const off = new OfflineWatchdog(0);
  assert.equal(off.observe(false, 1e9), false);
  assert.equal(off.deadline(), undefined);
});
