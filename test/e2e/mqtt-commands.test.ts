// Commands over MQTT (server/mqtt/commands.ts) against a real Mosquitto, a
// real server core with its HTTP transport on a free port, a real `bridge`
// process and a printer `emulate` on TCP: a print published to the broker
// prints once, also when it is delivered twice or its acknowledgement is
// lost; a control message gets its answer on the response topic with its
// correlation data (or on the fallback topic for MQTT 3.1.1); bad commands
// get an error answer with a stable code and the server keeps serving; the
// nodes of a shared subscription take each command once; the ack waits for
// the store; beyond maxInFlight the broker holds the rest; the documented
// mosquitto_rr/mosquitto_pub commands work.
//
// The server here is built from its parts (store, Hub, HTTP transport), as
// the composition root does, so that each test attaches the commands to an
// MQTT client of its own and can cut that client's socket. The last test
// runs two `serve --mqtt` nodes on PostgreSQL instead: a print taken by the
// node that does not hold the printer is printed by the one that does.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import type { ClientRequest, ClientResults, ControlResult, JobView } from '../../protocol/client-messages.js';
import type { Caller } from '../../server/core/client-api.js';
import type { Clock, Log } from '../../server/core/context.js';
import { Hub } from '../../server/core/hub.js';
import { ADMIN as ADMIN_AUTH } from '../../server/core/tokens.js';
import { PrintbridgeError } from '../../server/errors.js';
import { resolveLimits } from '../../server/limits.js';
import { attachCommands, type CommandOptions, type Commands } from '../../server/mqtt/commands.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { createHttpTransport } from '../../server/transports/http.js';
import { connectClient } from '../../tools/client/client.js';
import { CLUSTER_ADMIN, startCluster } from '../helpers/cluster.js';
import { startMosquitto, watchTopics, type Broker, type Watcher } from '../helpers/mosquitto.js';
import { Processes } from '../helpers/processes.js';
import type { LogEntry } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';

const P = 'printbridge';
const DEVICE = 'mq1';
const PRINTER = `${DEVICE}/0`;
const MAX_JOB = 4096;

const procs = new Processes();
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await procs.killAll();
});
const { dir, cleanup } = tempDir('printbridge-mqtt-commands-');
cleanups.push(cleanup);

const logs: LogEntry[] = [];
const log: Log = (level, msg, fields) => void logs.push({ level, msg, fields });
const admin: Caller = { auth: ADMIN_AUTH };
let hub: Hub;
let broker: Broker;
let emu: TcpEmulator;
/** Publishes requests and hears every answer. */
let user: Watcher;

function clock(): Clock {
  return {
    now: () => Date.now(),
    after(ms, fn) {
      const t = setTimeout(fn, ms);
      t.unref();
      return () => clearTimeout(t);
    },
  };
}

before(async () => {
  broker = await startMosquitto(procs, dir);
  const store = openStore(join(dir, 'data'));
  const token = addDevice(store, DEVICE, ['kitchen']);
  hub = new Hub({
    store, limits: resolveLimits({ maxJobBytes: MAX_JOB }), clock: clock(), log,
    heartbeatMs: 25_000, helloTimeoutMs: 10_000, controlTimeoutMs: 5_000, version: 'test',
  });
  const transport = createHttpTransport({ hub, adminToken: 'mqtt-commands-admin', closeGraceMs: 500 });
  await new Promise<void>((resolve) => transport.server.listen(0, '127.0.0.1', resolve));
  const address = transport.server.address();
  assert.ok(address !== null && typeof address === 'object');
  cleanups.push(async () => {
    hub.stop();
    await transport.closeAll(1001, 'test over');
    transport.server.closeAllConnections();
    await new Promise<void>((resolve) => transport.server.close(() => resolve()));
    store.close();
  });
  emu = await tcpEmulator(procs, dir);
  const bridge = procs.cli([
    'bridge', '--server', `ws://127.0.0.1:${address.port}`, '--id', DEVICE, '--token', token,
    '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', 'escpos',
  ]);
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  await until(`${PRINTER} online`, async () => (await api({ op: 'printer.get', id: null, printer: PRINTER })).status === 'online');
  user = await watchTopics(broker.url, `${P}/reply/#`);
  cleanups.push(() => user.close());
  await node('a'); // the first node: every test's commands under the prefix reach it (or node b, once it joins)
});

function api<O extends ClientRequest['op']>(req: Extract<ClientRequest, { op: O }>): Promise<ClientResults[O]> {
  return hub.api.perform(req, admin) as Promise<ClientResults[O]>;
}

/** An MQTT 5 client for a node, its commands attached; both end with the file. */
async function node(name: string, opts: Partial<CommandOptions> = {}, client: IClientOptions = {}): Promise<{ client: MqttClient; commands: Commands }> {
  const c = await connectAsync(broker.url, {
    protocolVersion: 5, clientId: `pb-test-${name}`, clean: false, properties: { sessionExpiryInterval: 300 }, reconnectPeriod: 100, ...client,
  });
  const commands = attachCommands(c, { prefix: P, hub, log, node: name, ...opts });
  cleanups.push(async () => {
    await commands.detach();
    await c.endAsync(true);
  });
  // The broker takes a connection's packets in order: once this SUBACK is back, the command subscriptions hold.
  await c.subscribeAsync(`${opts.prefix ?? P}/never`, { qos: 1 });
  return { client: c, commands };
}

let seq = 0;
interface Sent {
  topic: string;
  payload: string | Buffer;
  key?: string;
  correlation?: Buffer | null;
  contentType?: string;
  responseTopic?: string;
}

/** Publishes a request with a response topic and correlation data of its own; resolves with the answer's body. */
async function ask<T = Record<string, unknown>>(s: Sent, from: Watcher = user): Promise<T> {
  const n = ++seq;
  const responseTopic = s.responseTopic ?? `${P}/reply/test/${n}`;
  const correlationData = s.correlation === null ? undefined : (s.correlation ?? Buffer.from(`corr-${n}-${Math.random()}`));
  const mark = from.mark();
  await from.client.publishAsync(s.topic, s.payload, {
    qos: 1,
    properties: {
      responseTopic, ...(correlationData && { correlationData }), ...(s.contentType !== undefined && { contentType: s.contentType }),
      ...(s.key !== undefined && { userProperties: { key: s.key } }),
    },
  });
  const m = await from.waitFor(responseTopic, () => true, { from: mark });
  if (correlationData !== undefined) assert.deepEqual(m.packet.properties?.correlationData, correlationData, 'the answer carries the request correlation data');
  return JSON.parse(m.text) as T;
}

function printed(): string {
  return existsSync(emu.printed) ? readFileSync(emu.printed, 'latin1') : '';
}

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

async function done(id: string): Promise<JobView> {
  return until(`job ${id} done`, async () => {
    const j = await api({ op: 'job.get', id: null, job: id });
    assert.ok(!['failed', 'canceled'].includes(j.state), `job ${id} ${j.state}: ${JSON.stringify(j.error)}`);
    return j.state === 'done' ? j : undefined;
  });
}

function receipt(tag: string): string {
  return `\x1b@${tag} line one\n${tag} line two\n\x1dVA\x03`;
}

test('a print published to the broker prints once, raw or as JSON, and answers the job', async () => {
  const raw = receipt('RAW-1');
  const job = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: Buffer.from(raw, 'latin1'), key: 'raw-1' });
  assert.equal(job.printer, PRINTER);
  assert.equal(job.key, 'raw-1');
  await done(job.id);
  assert.equal(count(printed(), 'RAW-1 line one'), 1);

  // JSON, declared by its content type: text with an encoding and an end of line.
  const viaJson = await ask<JobView>({
    topic: `${P}/${PRINTER}/print`, contentType: 'application/json',
    payload: JSON.stringify({ lines: ['JSON-1 a', 'JSON-1 b'], eol: 'crlf', encoding: 'latin1', name: 'from mqtt', key: 'json-1' }),
  });
  assert.equal(viaJson.name, 'from mqtt');
  await done(viaJson.id);
  assert.ok(printed().includes('JSON-1 a\r\nJSON-1 b\r\n'), 'the lines printed with CRLF');

  // JSON undeclared (as MQTT 3.1.1 sends it): recognised by its first byte.
  const sniffed = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: ` {"text": "SNIFF-1\\n", "key": "sniff-1"}` });
  assert.equal(sniffed.key, 'sniff-1');
  await done(sniffed.id);
  assert.equal(count(printed(), 'SNIFF-1'), 1);
  assert.ok(!printed().includes('"text"'), 'the JSON itself was not printed');
});

test('the same print delivered twice prints once: by key, and by correlation data', async () => {
  const bytes = Buffer.from(receipt('TWICE-KEY'), 'latin1');
  const first = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: bytes, key: 'twice-key' });
  const second = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: bytes, key: 'twice-key' });
  assert.equal(second.id, first.id, 'one job for one key');

  const correlation = Buffer.from('the-same-request');
  const c1 = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: Buffer.from(receipt('TWICE-CORR'), 'latin1'), correlation });
  const c2 = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: Buffer.from(receipt('TWICE-CORR'), 'latin1'), correlation });
  assert.equal(c2.id, c1.id, 'one job for one correlation data');
  assert.match(c1.key ?? '', /^corr:/);

  // Keyless prints are at least once: the same payload twice is two jobs (and shows the two above could have been two).
  const k1 = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: Buffer.from(receipt('KEYLESS'), 'latin1'), correlation: null });
  const k2 = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: Buffer.from(receipt('KEYLESS'), 'latin1'), correlation: null });
  assert.notEqual(k1.id, k2.id);
  for (const id of [first.id, c1.id, k1.id, k2.id]) await done(id);
  assert.equal(count(printed(), 'TWICE-KEY line one'), 1);
  assert.equal(count(printed(), 'TWICE-CORR line one'), 1);
  assert.equal(count(printed(), 'KEYLESS line one'), 2);
});

test('a print whose PUBACK was lost with the connection is delivered again and prints once', async () => {
  // A node of its own, under a prefix of its own, so that it alone takes these prints.
  const client = await connectAsync(broker.url, {
    protocolVersion: 5, clientId: 'pb-test-lost-ack', clean: false, properties: { sessionExpiryInterval: 300 }, reconnectPeriod: 100,
  });
  const commands = attachCommands(client, { prefix: 'lost', hub, log, node: 'lost-ack', group: false });
  cleanups.push(async () => {
    await commands.detach();
    await client.endAsync(true);
  });
  const ours = client.handleMessage;
  const seen: boolean[] = [];
  // In place of the first acknowledgement, once the job is stored: the socket dies, as with a crash.
  client.handleMessage = (packet, ack) => {
    seen.push(packet.dup);
    ours.call(client, packet, (err) => {
      if (seen.length === 1) {
        client.stream.destroy();
        return;
      }
      ack(err);
    });
  };
  await client.subscribeAsync('lost/never', { qos: 1 }); // a round trip after the command SUBSCRIBE: it was taken
  await user.client.subscribeAsync('lost/reply/#', { qos: 1 });

  const mark = user.mark();
  await user.client.publishAsync(`lost/${PRINTER}/print`, Buffer.from(receipt('LOST-ACK'), 'latin1'), {
    qos: 1, properties: { userProperties: { key: 'lost-ack-1' } },
  });
  await until('the print delivered again', () => seen.length >= 2);
  assert.deepEqual(seen, [false, true], 'the broker sent it again, as a duplicate, because it had no PUBACK');
  const answers = await until('two answers', () => {
    const heard = user.on(`lost/reply/${PRINTER}/print`, mark);
    return heard.length >= 2 ? heard : undefined;
  });
  const [j1, j2] = answers.map((m) => JSON.parse(m.text) as JobView);
  assert.ok(j1 !== undefined && j2 !== undefined);
  assert.equal(j2.id, j1.id);
  await done(j1.id);
  assert.equal(count(printed(), 'LOST-ACK line one'), 1);
});

test('a control message gets its answer on the response topic, with its correlation data; by device, tag and all', async () => {
  const status = await ask<ControlResult>({ topic: `${P}/${DEVICE}/cmd/status`, payload: '' });
  assert.equal(status.reports.length, 1);
  assert.equal(status.reports[0]?.device, DEVICE);
  assert.equal(status.reports[0]?.status, 'ok');
  assert.ok(status.reports[0]?.data !== undefined, 'the device status came back');

  const identify = await ask<ControlResult>({ topic: `${P}/tag/kitchen/cmd/identify`, payload: '{"seconds": 1}' });
  assert.deepEqual(identify.reports.map((r) => [r.device, r.status]), [[DEVICE, 'ok']]);
  const all = await ask<ControlResult>({ topic: `${P}/all/cmd/led`, payload: JSON.stringify({ pattern: 'auto' }) });
  assert.deepEqual(all.reports.map((r) => [r.device, r.status]), [[DEVICE, 'ok']]);
  const refused = await ask<ControlResult>({ topic: `${P}/${DEVICE}/cmd/led`, payload: JSON.stringify({ pattern: 'disco' }) });
  assert.equal(refused.reports[0]?.code, 'BAD_FIELD', 'the device refused the args it was given');
});

test('an MQTT 3.1.1 client hears its answer on the fallback topic, and answers are not taken as commands', async () => {
  const old = await watchTopics(broker.url, `${P}/reply/#`, { protocolVersion: 4 });
  cleanups.push(() => old.close());
  const mark = old.mark();
  await old.client.publishAsync(`${P}/${DEVICE}/cmd/status`, '', { qos: 1 });
  const heard = await old.json<ControlResult>(`${P}/reply/${DEVICE}/cmd/status`, () => true, { from: mark });
  assert.equal(heard.reports[0]?.status, 'ok');
  // The answer's topic matches the command filters (reply/<device>/cmd/<name>): it must not be answered in turn.
  await old.client.publishAsync(`${P}/${PRINTER}/print`, `{"text": "MARK-311\\n", "key": "mark-311"}`, { qos: 1 });
  await old.waitFor(`${P}/reply/${PRINTER}/print`, () => true, { from: mark });
  assert.equal(old.on(`${P}/reply/${DEVICE}/cmd/status`, mark).length, 1);
  assert.equal(old.on(new RegExp(`^${P}/reply/reply/`), mark).length, 0);
});

test('bad commands get an error answer with a stable code, and the server keeps serving', async () => {
  const error = async (s: Sent): Promise<string> => ((await ask<{ error: { code: string } }>(s)).error ?? { code: 'none' }).code;
  assert.equal(await error({ topic: `${P}/nosuch/0/print`, payload: 'x', key: 'k1' }), 'UNKNOWN_PRINTER');
  assert.equal(await error({ topic: `${P}/${DEVICE}/9/print`, payload: 'x', key: 'k2' }), 'UNKNOWN_PRINTER');
  assert.equal(await error({ topic: `${P}/${DEVICE}/256/print`, payload: 'x' }), 'BAD_FIELD');
  assert.equal(await error({ topic: `${P}/b@d/0/print`, payload: 'x' }), 'BAD_FIELD');
  assert.equal(await error({ topic: `${P}/${'d'.repeat(2000)}/0/print`, payload: 'x' }), 'BAD_FIELD');
  assert.equal(await error({ topic: `${P}/all/0/print`, payload: 'x' }), 'BAD_FIELD');
  assert.equal(await error({ topic: `${P}/${PRINTER}/print`, payload: '{"text": "unterminated', contentType: 'application/json' }), 'BAD_JSON');
  assert.equal(await error({ topic: `${P}/${PRINTER}/print`, payload: '{"text": 5}' }), 'BAD_FIELD');
  assert.equal(await error({ topic: `${P}/${PRINTER}/print`, payload: `{"text": "deep", "x": ${'['.repeat(40)}${']'.repeat(40)}}` }), 'TOO_DEEP');
  assert.equal(await error({ topic: `${P}/${PRINTER}/print`, payload: Buffer.alloc(MAX_JOB + 1, 0x41), key: 'big' }), 'JOB_TOO_LARGE');
  assert.equal(await error({ topic: `${P}/${PRINTER}/print`, payload: JSON.stringify({ data: Buffer.alloc(MAX_JOB + 1).toString('base64') }) }), 'JOB_TOO_LARGE');
  assert.equal(await error({ topic: `${P}/${PRINTER}/print`, payload: Buffer.alloc(0), key: 'empty' }), 'BAD_FIELD');
  assert.equal(await error({ topic: `${P}/${DEVICE}/cmd/status`, payload: 'not json' }), 'BAD_JSON');
  assert.equal(await error({ topic: `${P}/${DEVICE}/cmd/restart`, payload: '' }), 'FORBIDDEN', 'restart needs devices:config');
  assert.equal(await error({ topic: `${P}/${PRINTER}/cmd/pause`, payload: '' }), 'FORBIDDEN', 'a printer queue needs jobs:any');
  assert.equal(await error({ topic: `${P}/${PRINTER}/cmd/explode`, payload: '' }), 'UNKNOWN_TYPE');
  assert.equal(await error({ topic: `${P}/tag/nobody/cmd/identify`, payload: '' }), 'UNKNOWN_TAG');
  assert.equal(await error({ topic: `${P}/ghost/cmd/status`, payload: '' }), 'UNKNOWN_DEVICE');

  // A response topic outside <prefix>/reply/ is refused, on the fallback topic, and the print is not made.
  const mark = user.mark();
  await user.client.publishAsync(`${P}/${PRINTER}/print`, 'NOT-PRINTED\n', {
    qos: 1, properties: { responseTopic: 'homeassistant/device/x/config', correlationData: Buffer.from('c'), userProperties: { key: 'elsewhere' } },
  });
  const refusal = await user.json<{ error: { code: string; message: string } }>(`${P}/reply/${PRINTER}/print`, () => true, { from: mark });
  assert.equal(refusal.error.code, 'BAD_FIELD');
  assert.match(refusal.error.message, /printbridge\/reply\//);
  const jobs = await api({ op: 'jobs.list', id: null, printer: PRINTER, q: undefined, state: undefined, limit: 1000 });
  assert.ok(!jobs.some((j) => j.key === 'elsewhere'), 'no job for a command whose answer could not go where asked');

  const ok = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: Buffer.from(receipt('STILL-SERVING'), 'latin1'), key: 'still' });
  await done(ok.id);
  assert.equal(count(printed(), 'STILL-SERVING line one'), 1);
});

test('the commands docs/mqtt.md shows work from mosquitto_rr and mosquitto_pub', async () => {
  const at = ['-h', '127.0.0.1', '-p', String(broker.port)];
  const rr = procs.spawn('mosquitto_rr', [...at, '-t', `${P}/${DEVICE}/cmd/status`, '-e', `${P}/reply/me`, '-n', '-W', '20'], { name: 'mosquitto_rr' });
  assert.equal((await rr.waitForExit()).code, 0, rr.stderr);
  const status = JSON.parse(rr.stdout) as ControlResult;
  assert.equal(status.reports[0]?.status, 'ok');

  const mark = user.mark();
  const receiptBytes = Buffer.from('\x1b@Hello from MQTT\n\x1dVA\x03', 'latin1');
  for (let i = 0; i < 2; i++) {
    const pub = procs.spawn('mosquitto_pub', [...at, '-V', 'mqttv5', '-q', '1', '-t', `${P}/${PRINTER}/print`, '-s', '-D', 'publish', 'user-property', 'key', 'order-1042'], { name: 'mosquitto_pub' });
    pub.child.stdin?.end(receiptBytes);
    assert.equal((await pub.waitForExit()).code, 0, pub.stderr);
  }
  const lines = procs.spawn('mosquitto_pub', [
    ...at, '-q', '1', '-t', `${P}/${PRINTER}/print`, '-m', '{"lines": ["Table 4", "1 x soup"], "eol": "crlf", "encoding": "cp437", "key": "order-1043"}',
  ], { name: 'mosquitto_pub' });
  assert.equal((await lines.waitForExit()).code, 0, lines.stderr);
  const answers = await until('three answers', () => {
    const heard = user.on(`${P}/reply/${PRINTER}/print`, mark);
    return heard.length >= 3 ? heard.map((m) => JSON.parse(m.text) as JobView) : undefined;
  });
  assert.deepEqual(answers.map((j) => j.key), ['order-1042', 'order-1042', 'order-1043']);
  assert.equal(answers[1]?.id, answers[0]?.id, 'the same key, one job');
  for (const j of answers) await done(j.id);
  assert.equal(count(printed(), 'Hello from MQTT'), 1);
  assert.equal(count(printed(), 'Table 4\r\n1 x soup\r\n'), 1);
});

test('nodes sharing the subscription take each command once', async () => {
  await node('b');
  const mark = user.mark();
  const logMark = logs.length;
  const tags = Array.from({ length: 10 }, (_, i) => `SHARED-${i}`);
  // Keyless and without correlation data: a command taken by both nodes would print twice.
  for (const tag of tags) await user.client.publishAsync(`${P}/${PRINTER}/print`, Buffer.from(receipt(tag), 'latin1'), { qos: 1 });
  const answers = await until('ten answers', () => {
    const heard = user.on(`${P}/reply/${PRINTER}/print`, mark);
    return heard.length >= tags.length ? heard : undefined;
  });
  // One more, after them from the same publisher: its answer comes after any second answer to those.
  const last = await ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: Buffer.from(receipt('SHARED-LAST'), 'latin1'), key: 'shared-last' });
  assert.equal(user.on(`${P}/reply/${PRINTER}/print`, mark).length, tags.length);
  for (const m of answers) await done((JSON.parse(m.text) as JobView).id);
  await done(last.id);
  for (const tag of tags) assert.equal(count(printed(), `${tag} line one`), 1, tag);
  const takers = new Set(logs.slice(logMark).filter((l) => l.msg === 'MQTT command' && String(l.fields?.['topic']).endsWith('/print')).map((l) => l.fields?.['node']));
  assert.deepEqual([...takers].sort(), ['a', 'b'], 'the broker spread the commands over both nodes');
});

test('with jobs:any a printer queue is paused, resumed and canceled, and one job by its id', async () => {
  await node('ops', { prefix: 'ops', group: false, scopes: ['print', 'control', 'jobs:any'] });
  await user.client.subscribeAsync('ops/reply/#', { qos: 1 });
  const opsAsk = <T>(topic: string, payload: string | Buffer, key?: string): Promise<T> =>
    ask<T>({ topic: `ops/${topic}`, payload, responseTopic: `ops/reply/t/${++seq}`, ...(key !== undefined && { key }) });
  const paused = await opsAsk<{ printer: string; paused: boolean }>(`${PRINTER}/cmd/pause`, '');
  assert.deepEqual({ printer: paused.printer, paused: paused.paused }, { printer: PRINTER, paused: true });
  const held = await opsAsk<JobView>(`${PRINTER}/print`, Buffer.from(receipt('HELD'), 'latin1'), 'held-1');
  assert.notEqual(held.state, 'done');
  const elsewhere = await opsAsk<{ error: { code: string } }>(`${DEVICE}/1/cmd/cancel`, JSON.stringify({ job: held.id }));
  assert.equal(elsewhere.error.code, 'UNKNOWN_JOB', 'a job is acted on through its own printer topic');
  const canceled = await opsAsk<JobView>(`${PRINTER}/cmd/cancel`, JSON.stringify({ job: held.id }));
  assert.equal(canceled.id, held.id);
  assert.equal(canceled.state, 'canceled');
  const resumed = await opsAsk<{ paused: boolean }>(`${PRINTER}/cmd/resume`, '');
  assert.equal(resumed.paused, false);
  const after = await opsAsk<JobView>(`${PRINTER}/print`, Buffer.from(receipt('AFTER-RESUME'), 'latin1'), 'after-resume');
  await done(after.id);
  assert.equal(count(printed(), 'HELD line one'), 0);
  assert.equal(count(printed(), 'AFTER-RESUME line one'), 1);
});

test('a server that requires keys refuses a keyless print', async () => {
  await node('strict', { prefix: 'strict', group: false, requireKey: true });
  await user.client.subscribeAsync('strict/reply/#', { qos: 1 });
  const refused = await ask<{ error: { code: string } }>({
    topic: `strict/${PRINTER}/print`, payload: 'NO-KEY\n', correlation: null, responseTopic: `strict/reply/t/${++seq}`,
  });
  assert.equal(refused.error.code, 'MISSING_FIELD');
  const keyed = await ask<JobView>({ topic: `strict/${PRINTER}/print`, payload: Buffer.from(receipt('STRICT'), 'latin1'), responseTopic: `strict/reply/t/${++seq}` });
  assert.match(keyed.key ?? '', /^corr:/, 'correlation data is a key');
  await done(keyed.id);
  assert.equal(count(printed(), 'NO-KEY'), 0);
});

test('a command retained by mistake is not carried out when a node subscribes', async () => {
  const watcher = await watchTopics(broker.url, 'kept/reply/#');
  cleanups.push(() => watcher.close());
  await user.client.publishAsync(`kept/${DEVICE}/cmd/status`, '{}', { qos: 1, retain: true }); // an empty one would clear it
  await node('kept', { prefix: 'kept', group: false });
  // Answered after anything the subscription brought: a retained command would have been handed over first.
  const live = await ask<ControlResult>({ topic: `kept/${DEVICE}/cmd/status`, payload: '', responseTopic: `kept/reply/t/${++seq}` }, watcher);
  assert.equal(live.reports[0]?.status, 'ok');
  assert.deepEqual(watcher.on(`kept/reply/${DEVICE}/cmd/status`), [], 'the retained command went unanswered');
  await user.client.publishAsync(`kept/${DEVICE}/cmd/status`, '', { qos: 1, retain: true }); // cleared with an empty retained message
});

/** A hub whose dispatcher answers when the test says: to observe what happens while a command is being carried out. */
function heldHub(): { hub: CommandOptions['hub']; calls: { req: ClientRequest; release(): void }[] } {
  const calls: { req: ClientRequest; release(): void }[] = [];
  const api = {
    perform(req: ClientRequest): Promise<unknown> {
      return new Promise((resolve) => calls.push({ req, release: () => resolve({ ok: true }) }));
    },
  };
  return { hub: { api: api as unknown as Hub['api'], limits: resolveLimits() }, calls };
}

test('a print is acknowledged only once it is stored: cut before, it is delivered again', async () => {
  const held = heldHub();
  const client = await connectAsync(broker.url, {
    protocolVersion: 5, clientId: 'pb-test-held-store', clean: false, properties: { sessionExpiryInterval: 300 }, reconnectPeriod: 100,
  });
  const commands = attachCommands(client, { prefix: 'held', hub: held.hub, log, node: 'held', group: false });
  cleanups.push(async () => {
    await commands.detach();
    await client.endAsync(true);
  });
  await client.subscribeAsync('held/never', { qos: 1 });
  await user.client.publishAsync(`held/${PRINTER}/print`, 'HELD-STORE\n', { qos: 1, properties: { userProperties: { key: 'held-store' } } });
  await until('the store asked', () => held.calls.length === 1);
  client.stream.destroy(); // the node dies while the job is being written
  await until('the print delivered again', () => held.calls.length === 2);
  assert.equal(held.calls[1]?.req.op, 'job.submit');
  for (const c of held.calls) c.release();
});

test('beyond maxInFlight the next command waits for a slot, and the broker keeps the rest', async () => {
  const held = heldHub();
  const client = await connectAsync(broker.url, { protocolVersion: 5, clientId: 'pb-test-in-flight', reconnectPeriod: 100 });
  const commands = attachCommands(client, { prefix: 'busy', hub: held.hub, log, node: 'busy', group: false, maxInFlight: 2 });
  cleanups.push(async () => {
    await commands.detach();
    await client.endAsync(true);
  });
  const ours = client.handleMessage;
  let arrived = 0;
  client.handleMessage = (packet, ack) => {
    arrived++;
    ours.call(client, packet, ack);
  };
  await client.subscribeAsync('busy/never', { qos: 1 });
  for (let i = 0; i < 4; i++) await user.client.publishAsync(`busy/dev${i}/cmd/status`, '', { qos: 1 });
  await until('two commands carried out and a third handed over', () => held.calls.length === 2 && arrived === 3);
  assert.equal(held.calls.length, 2, 'the third waits for a slot');
  held.calls[0]?.release();
  await until('the third carried out and the fourth handed over', () => held.calls.length === 3 && arrived === 4);
  assert.equal(held.calls.length, 3, 'the fourth waits for a slot');
  held.calls[1]?.release();
  await until('the fourth carried out', () => held.calls.length === 4);
  for (const c of held.calls) c.release();
});

test('after the broker restarts (sessions lost), the nodes subscribe again and take commands', async () => {
  await node('no-resubscribe', { prefix: 'again', group: false }, { resubscribe: false });
  await broker.restart();
  await until('the answers subscriber back', () => user.client.connected);
  await user.client.subscribeAsync([`${P}/reply/#`, 'again/reply/#'], { qos: 1 });
  // The publisher retries with the same key until it hears an answer, as a publisher must: a print
  // published before the node subscribed again went to nobody.
  const job = await until('a print taken after the restart', async () => {
    try {
      return await Promise.race([
        ask<JobView>({ topic: `${P}/${PRINTER}/print`, payload: Buffer.from(receipt('AFTER-RESTART'), 'latin1'), key: 'after-restart' }),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2_000).unref()),
      ]);
    } catch {
      return undefined;
    }
  });
  await done(job.id);
  assert.equal(count(printed(), 'AFTER-RESTART line one'), 1, 'printed once however often it was asked');
  const status = await ask<ControlResult>({ topic: `again/${DEVICE}/cmd/status`, payload: '', responseTopic: `again/reply/t/${++seq}` });
  assert.equal(status.reports[0]?.status, 'ok', 'a client without resubscribe is subscribed again by the commands');
});

test('in a cluster, a print taken by a node that does not hold the printer prints once, by its holder', async () => {
  // Two `serve --mqtt` nodes on one PostgreSQL, sharing the command subscription under a prefix of their own.
  process.env['PRINTBRIDGE_DEBUG'] = '1'; // the nodes log each command they take (their children inherit it)
  const cluster = await startCluster(procs, dir, 2, ['--mqtt', broker.url, '--mqtt-prefix', 'cluster', '--mqtt-discovery-prefix', 'none']);
  delete process.env['PRINTBRIDGE_DEBUG'];
  cleanups.push(() => cluster.stop());
  const [held, other] = cluster.nodes;
  assert.ok(held !== undefined && other !== undefined);
  const token = cluster.addDevice('cl1');
  const clusterEmu = await tcpEmulator(procs, dir);
  const bridge = procs.cli(['bridge', '--server', held.url, '--id', 'cl1', '--token', token, '--printer', `tcp://127.0.0.1:${clusterEmu.port}`, '--dialect', 'escpos']);
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  const client = await connectClient(`${held.url}/v1/client`, CLUSTER_ADMIN);
  cleanups.push(() => client.close());
  await until('cl1/0 online', async () => ((await client.request('printer.get', { printer: 'cl1/0' })) as { status: string }).status === 'online');
  await until('both nodes take commands', () => cluster.nodes.every((n) => n.proc.stderr.includes('taking commands over MQTT')));
  await user.client.subscribeAsync('cluster/reply/#', { qos: 1 });

  const mark = user.mark();
  const tags = Array.from({ length: 8 }, (_, i) => `CLUSTER-${i}`);
  for (const tag of tags) {
    await user.client.publishAsync('cluster/cl1/0/print', Buffer.from(receipt(tag), 'latin1'), { qos: 1, properties: { userProperties: { key: tag } } });
  }
  const jobs = await until('an answer to each', () => {
    const heard = user.on('cluster/reply/cl1/0/print', mark);
    return heard.length >= tags.length ? heard.map((m) => JSON.parse(m.text) as JobView) : undefined;
  });
  assert.deepEqual(jobs.map((j) => j.key).sort(), [...tags].sort());
  for (const j of jobs) {
    await until(`job ${j.id} done`, async () => ((await client.request('job.get', { job: j.id })) as JobView).state === 'done');
  }
  const out = readFileSync(clusterEmu.printed, 'latin1');
  for (const tag of tags) assert.equal(count(out, `${tag} line one`), 1, tag);
  const took = (n: { proc: { stderr: string } }): number => n.proc.stderr.split('\n').filter((l) => l.includes('MQTT command') && l.includes('cluster/cl1/0/print')).length;
  assert.equal(took(held) + took(other), tags.length, 'each print taken by one node');
  assert.ok(took(other) > 0, 'the node without the printer took some (and its holder printed them)');
});

test('a print the store could not take is answered STORE_UNAVAILABLE and not acknowledged: it comes again', async () => {
  let calls = 0;
  const api = {
    perform: (): Promise<unknown> => (++calls === 1 ? Promise.reject(new PrintbridgeError('STORE_UNAVAILABLE', 'the test cut it')) : Promise.resolve({ id: 'stored' })),
  };
  const client = await connectAsync(broker.url, {
    protocolVersion: 5, clientId: 'pb-test-store-down', clean: false, properties: { sessionExpiryInterval: 300 }, reconnectPeriod: 100,
  });
  const commands = attachCommands(client, { prefix: 'down', hub: { api: api as unknown as Hub['api'], limits: resolveLimits() }, log, node: 'down', group: false });
  cleanups.push(async () => {
    await commands.detach();
    await client.endAsync(true);
  });
  await client.subscribeAsync('down/never', { qos: 1 });
  await user.client.subscribeAsync('down/reply/#', { qos: 1 });
  const mark = user.mark();
  await user.client.publishAsync(`down/${PRINTER}/print`, 'DOWN\n', { qos: 1, properties: { userProperties: { key: 'down-1' } } });
  const refused = await user.json<{ error: { code: string } }>(`down/reply/${PRINTER}/print`, () => true, { from: mark });
  assert.equal(refused.error.code, 'STORE_UNAVAILABLE');
  client.stream.destroy(); // the broker resends what was not acknowledged when the session comes back
  const stored = await user.json<{ id?: string }>(`down/reply/${PRINTER}/print`, (v) => v.id !== undefined, { from: mark });
  assert.equal(stored.id, 'stored');
  assert.equal(calls, 2);
});

test('a command prefix that is no topic prefix (a wildcard, an empty level, $ first) is refused before anything is subscribed', () => {
  for (const prefix of ['a/+', 'a//b', '/a', '$SYS', '']) {
    assert.throws(() => attachCommands(user.client, { prefix, hub, log, node: 'bad' }), RangeError, prefix);
  }
});

test('a node\'s session taken over by a new connection with its client id: an unacknowledged print and one published meanwhile each print once', async () => {
  const options: IClientOptions = { protocolVersion: 5, clientId: 'pb-test-takeover', clean: false, properties: { sessionExpiryInterval: 300 } };
  // No reconnect for the old connection: it would take the session back, and the two would take turns.
  const old = await connectAsync(broker.url, { ...options, reconnectPeriod: 0 });
  const oldCommands = attachCommands(old, { prefix: 'take', hub, log, node: 'take-old', group: false });
  cleanups.push(async () => {
    await oldCommands.detach();
    await old.endAsync(true);
  });
  const ours = old.handleMessage;
  let stored = 0;
  // The old node stores the print but never acknowledges it: its PUBACK is what the takeover cuts off.
  old.handleMessage = (packet, _ack) => ours.call(old, packet, () => void stored++);
  await old.subscribeAsync('take/never', { qos: 1 });

  const pub = (tag: string): Promise<unknown> =>
    user.client.publishAsync(`take/${PRINTER}/print`, Buffer.from(receipt(tag), 'latin1'), { qos: 1, properties: { userProperties: { key: tag.toLowerCase() } } });
  await pub('TAKE-1');
  await until('the old node stored the first print', () => stored === 1);

  const oldGone = new Promise<void>((resolve) => old.once('close', () => resolve()));
  // Attached before the CONNACK, as the link attaches at its first: the session's unacknowledged print comes right after it.
  const fresh = connect(broker.url, { ...options, reconnectPeriod: 100 });
  const freshCommands = attachCommands(fresh, { prefix: 'take', hub, log, node: 'take-new', group: false });
  cleanups.push(async () => {
    await freshCommands.detach();
    await fresh.endAsync(true);
  });
  await Promise.all([new Promise<void>((resolve) => fresh.once('connect', () => resolve())), pub('TAKE-2')]);
  await oldGone;
  await fresh.subscribeAsync('take/never', { qos: 1 });
  await pub('TAKE-3');

  const jobs = await until('three jobs stored', async () => {
    const list = (await api({ op: 'jobs.list', id: null, printer: PRINTER, limit: 200 })).filter((j) => /^take-\d$/.test(j.key ?? ''));
    return list.length >= 3 ? list : undefined;
  }, 20_000);
  assert.deepEqual(jobs.map((j) => j.key).sort(), ['take-1', 'take-2', 'take-3']);
  for (const j of jobs) await done(j.id);
  for (const tag of ['TAKE-1', 'TAKE-2', 'TAKE-3']) assert.equal(count(printed(), `${tag} line one`), 1, tag);
});
