// The dialect drivers are the host's to supply (an ESP32 build carries only
// the ones its manifest lists). A port whose dialect is not in the set must
// not stop the device: it says why at boot, stays in error, and refuses its
// jobs and commands with UNSUPPORTED, while the other ports work as usual.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_DIALECTS } from '../../device/core/dialects/all.js';
import { Raw } from '../../device/core/dialects/raw.js';
import { createDialect } from '../../device/core/dialects/registry.js';
import { DIALECTS } from '../../protocol/device-messages.js';
import { VirtualDevice } from '../helpers/virtual-device.js';

test('the Node host set carries every dialect of the protocol', () => {
  assert.deepEqual(Object.keys(ALL_DIALECTS).sort(), [...DIALECTS].sort());
  for (const d of DIALECTS) assert.equal(createDialect(ALL_DIALECTS, d, 5000).status?.state === 'error', false, d);
});

test('a port whose dialect the build lacks is reported at boot and in status; the device still comes online', () => {
  const d = new VirtualDevice({ ports: [{ port: 0, dialect: 'zpl' }, { port: 1, dialect: 'raw' }] }, 1, { raw: Raw });
  d.handle({ type: 'boot' });
  const errors = d.take().filter((e) => e.type === 'log' && e.level === 'error');
  assert.deepEqual(errors, [{ type: 'log', level: 'error', message: 'port 0: dialect zpl is not in this build (it has raw)' }]);
  d.bringOnline();
  const msgs = d.sent();
  const hello = msgs.find((m) => m.t === 'hello');
  assert.ok(hello?.t === 'hello');
  assert.deepEqual(hello.ports.map((p) => [p.port, p.dialect, p.confirms]), [[0, 'zpl', false], [1, 'raw', false]]);
  const status = msgs.filter((m) => m.t === 'status').at(-1);
  assert.ok(status?.t === 'status');
  assert.equal(status.ports[0]?.state, 'error');
  assert.equal(status.ports[0]?.detail, 'dialect zpl is not in this build (it has raw)');
  assert.equal(status.ports[1]?.state, 'unknown');
  assert.equal(d.core.snapshot().led, 'printer-error');
});

test('jobs and commands for that port fail UNSUPPORTED; the other port prints', () => {
  const d = new VirtualDevice({ ports: [{ port: 0, dialect: 'gcode' }, { port: 1, dialect: 'raw' }] }, 1, { raw: Raw });
  d.bringOnline();
  for (const port of [0, 1]) {
    d.handle({ type: 'port.state', port, state: 'online' });
    d.handle({ type: 'port.writable', port, room: 4096 });
  }
  d.sent();
  d.server({ t: 'job.start', id: 'j0', port: 0, stream: 1, size: 3 });
  const fail = d.sent().find((m) => m.t === 'job.fail');
  assert.ok(fail?.t === 'job.fail');
  assert.equal(fail.id, 'j0');
  assert.equal(fail.code, 'UNSUPPORTED');
  assert.match(fail.message, /dialect gcode is not in this build/);
  d.server({ t: 'control', ref: 'c', name: 'printer.command', args: { port: 0, data: 'M105' } });
  const r = d.sent().find((m) => m.t === 'control.result');
  assert.ok(r?.t === 'control.result');
  assert.equal(r.ok, false);
  assert.equal(r.code, 'UNSUPPORTED');
  d.server({ t: 'job.start', id: 'j1', port: 1, stream: 2, size: 3 });
  d.data(2, 0, Uint8Array.of(1, 2, 3));
  assert.ok(d.sent().some((m) => m.t === 'job.done' && m.id === 'j1'));
  assert.deepEqual(d.printed.get(1), [1, 2, 3]);
  assert.equal(d.printed.get(0), undefined);
});
