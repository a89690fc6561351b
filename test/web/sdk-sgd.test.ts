// The SDK's sgd() against a real server over TLS (a throwaway CA), with the
// Weblink printer emulator as a real process dialing in: the bundle browsers
// load, run in Node with `ws` as its WebSocket.

import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import type { PrintbridgeClient, WebSocketConstructor } from '../../sdk/index.js';
import { Processes, type Proc } from '../helpers/processes.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { createTestPki } from '../helpers/tls-certs.js';
import { printerOnline, spawnWeblinkEmulator } from '../helpers/weblink-emulator.js';
import { registerDevice } from '../server/peers.js';
import { loadSdk, type SdkModule } from './sdk-fixture.js';

const SERIAL = '50J000000007';
const procs = new Processes();
let sdk: SdkModule;
let t: TestServer;
let printer: Proc;
let pb: PrintbridgeClient;
let ca: Buffer;
let pkiDir = '';

/** ws trusting only the test CA; the SDK constructs it as a browser would (url, protocols). */
function trustingWebSocket(caCert: Buffer): WebSocketConstructor {
  class CaWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { ca: caCert });
    }
  }
  return CaWebSocket as unknown as WebSocketConstructor;
}

before(async () => {
  sdk = await loadSdk();
  pkiDir = tempDir('printbridge-sdk-sgd-');
  const pki = createTestPki(pkiDir);
  ca = readFileSync(pki.caCert);
  t = await startTestServer({ tls: pki.issue('server', 1) });
  const url = t.server.url.replace('127.0.0.1', 'localhost');
  // What `devices add SERIAL --weblink` does: the tag that lets it log in at /weblink, and its password.
  const password = registerDevice(t, SERIAL, ['weblink']);
  printer = spawnWeblinkEmulator(procs, { url: `${url}/weblink`, serial: SERIAL, password, ca: pki.caCert });
  await printer.waitForEvent({ event: 'configure-alert' });
  await printerOnline(url, ca, 'test-admin-token', SERIAL);
  pb = sdk.connect({ url, token: 'test-admin-token', WebSocket: trustingWebSocket(ca) });
});

after(async () => {
  await pb?.close();
  await procs.killAll();
  await t?.close();
  if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
});

test('sgd() gets, sets and gets again; an unknown name is null; a refused set answers the old value', { timeout: 30_000 }, async () => {
  const got = await pb.sgd(`${SERIAL}/0`, { get: ['device.unique_id', 'no.such.setting'] });
  assert.deepEqual(got, { printer: `${SERIAL}/0`, values: { 'device.unique_id': SERIAL, 'no.such.setting': null } });

  const set = await pb.sgd(`${SERIAL}/0`, { set: { 'device.location': 'dock 4' } });
  assert.deepEqual(set.values, { 'device.location': 'dock 4' });
  assert.deepEqual((await pb.sgd(`${SERIAL}/0`, { get: ['device.location'] })).values, { 'device.location': 'dock 4' });

  const refused = await pb.sgd(`${SERIAL}/0`, { set: { 'device.unique_id': 'someone-else' } });
  assert.deepEqual(refused.values, { 'device.unique_id': SERIAL });
});

test('sgd() refusals carry the server\'s code: no such printer, a bad name', { timeout: 30_000 }, async () => {
  await assert.rejects(pb.sgd('nobody/0', { get: ['appl.name'] }), (e: Error & { code: string }) => e.code === 'UNKNOWN_PRINTER');
  await assert.rejects(pb.sgd(`${SERIAL}/0`, { get: ['has space'] }), (e: Error & { code: string }) => e.code === 'BAD_FIELD');
  await assert.rejects(pb.sgd(`${SERIAL}/0`, { get: [] }), (e: Error & { code: string }) => e.code === 'BAD_FIELD');
});
