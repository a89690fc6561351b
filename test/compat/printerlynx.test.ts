// The Printerlynx-style user API at /api/v1/ws, driven the way its front-end
// does: `{type, data}` both ways, `authentication` with a token first, then
// print_job START/PAUSE/RESUME/CANCEL and printer_command, while
// agent_status and printer_status are pushed. Everything real: serve, a
// bridge and a Marlin-style G-code emulator as processes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Processes } from '../helpers/processes.js';
import { startTestServer } from '../helpers/server.js';
import { JsonClient, startShop, type Msg, type Shop } from './fixture.js';

const procs = new Processes();
let shop: Shop;
let linesOut: string;

before(async () => {
  // Each G-code line takes 25 ms at the printer, so that a long job is still running when it is paused and canceled.
  linesOut = join(process.env['TMPDIR'] ?? '/tmp', `printbridge-lynx-${process.pid}-${Date.now()}.gcode`);
  shop = await startShop(procs, { dialect: 'gcode', name: 'Prusa-1', emulatorArgs: ['--ok-delay', '25', '--lines-out', linesOut] });
});
after(async () => {
  await procs.killAll();
  shop?.cleanup();
});

const url = (): string => `ws://127.0.0.1:${shop.port}/api/v1/ws`;
const data = (m: Msg): Msg => (m['data'] ?? {}) as Msg;
const is = (type: string, pred: (d: Msg) => boolean = () => true) => (m: Msg): boolean => m['type'] === type && pred(data(m));

async function user(): Promise<JsonClient> {
  const c = await JsonClient.open(url());
  c.send({ type: 'authentication', data: { token: shop.admin } });
  const auth = await c.next(is('authentication'), 'the authentication reply');
  assert.deepEqual(auth, { type: 'authentication', data: { status: 'OK' } });
  return c;
}

function ranLines(): string[] {
  try {
    return readFileSync(linesOut, 'utf8').split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

test('authentication comes first: anything else, or a wrong token, is answered with ERROR and the connection closed', async () => {
  const early = await JsonClient.open(url());
  early.send({ type: 'print_job', data: { type: 'START', printer_uuid: 'shop-1/0', file: 'G1 X1\n' } });
  const refused = await early.next(is('print_job'), 'the refusal');
  assert.deepEqual([data(refused)['status'], data(refused)['code']], ['ERROR', 'HELLO_REQUIRED']);
  assert.equal((await early.waitClosed()).code, 1008);

  const wrong = await JsonClient.open(url());
  wrong.send({ type: 'authentication', data: { token: 'not-the-token' } });
  const bad = await wrong.next(is('authentication'), 'the authentication error');
  assert.deepEqual([data(bad)['status'], data(bad)['message']], ['ERROR', 'invalid token']);
  assert.equal((await wrong.waitClosed()).code, 1008);

  const garbage = await JsonClient.open(url());
  garbage.send('{"type": "authentication", "data": ');
  const answer = await garbage.next(() => true, 'the reply to malformed JSON');
  assert.deepEqual([answer['type'], data(answer)['status'], data(answer)['code']], ['error', 'ERROR', 'BAD_JSON']);
  assert.equal((await garbage.waitClosed()).code, 1008);
  assert.ok(!ranLines().includes('G1 X1'), 'nothing of the refused job reached the printer');
});

test('after authentication the agent and its printer are pushed: online, available, with temperatures', async () => {
  const c = await user();
  const agent = await c.next(is('agent_status'), 'agent_status');
  assert.deepEqual(data(agent), { agent_name: 'shop-1', agent_identifier: 'shop-1', agent_uuid: 'shop-1', status: 'online' });
  // The bridge polls M105, so temperatures come with a later push if not with the first.
  const printer = await c.next(is('printer_status', (d) => Object.keys((d['state'] as { temperature: Msg }).temperature).length > 0), 'printer_status with temperatures');
  const d = data(printer);
  assert.deepEqual(
    [d['agent_uuid'], d['printer_uuid'], d['printer_identifier'], d['status'], d['job']],
    ['shop-1', 'shop-1/0', 'Prusa-1', 'available', null],
  );
  const temps = (d['state'] as { temperature: Record<string, number> }).temperature;
  assert.equal(typeof temps['tool0'], 'number');
  assert.equal(typeof temps['bed'], 'number');
  c.close();
});

test('printer_command M105 is answered with the printer\'s reply and its temperatures; errors keep the connection', async () => {
  const c = await user();
  c.send({ type: 'printer_command', data: { agent_uuid: 'shop-1', printer_uuid: 'shop-1/0', command: 'M104 S205' } });
  const set = await c.next(is('printer_command'), 'the M104 reply');
  assert.equal(data(set)['status'], 'OK', JSON.stringify(set));
  let from = c.messages.length;
  c.send({ type: 'printer_command', data: { agent_uuid: 'shop-1', printer_uuid: 'Prusa-1', command: 'M105' } });
  const reply = data(await c.next(is('printer_command'), 'the M105 reply', from));
  assert.equal(reply['status'], 'OK', JSON.stringify(reply));
  assert.ok((reply['response'] as string[]).some((l) => /^ok T:/.test(l)), JSON.stringify(reply));
  const temperature = reply['temperature'] as Record<string, number>;
  assert.equal(typeof temperature['tool0'], 'number');
  assert.equal(typeof temperature['bed'], 'number');
  assert.ok(ranLines().includes('M105'));

  from = c.messages.length;
  c.send({ type: 'printer_command', data: { agent_uuid: 'someone-else', printer_uuid: 'shop-1/0', command: 'M105' } });
  const wrongAgent = data(await c.next(is('printer_command'), 'the wrong-agent reply', from));
  assert.deepEqual([wrongAgent['status'], wrongAgent['code']], ['ERROR', 'UNKNOWN_PRINTER']);
  from = c.messages.length;
  // Nested far past MAX_JSON_DEPTH (String() of it would overflow the stack): refused, the connection stays.
  const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
  c.send(`{"type":"printer_command","data":{"agent_uuid":${deep},"printer_uuid":"shop-1/0","command":"M105"}}`);
  const tooDeep = await c.next((m) => m['type'] === 'error', 'the too-deep reply', from);
  assert.equal(data(tooDeep)['code'], 'TOO_DEEP');
  from = c.messages.length;
  c.send('not json');
  const bad = await c.next((m) => m['type'] === 'error', 'the malformed-JSON reply', from);
  assert.deepEqual([bad['type'], data(bad)['code']], ['error', 'BAD_JSON']);
  from = c.messages.length;
  c.send({ type: 'teleport', data: {} });
  const unknown = await c.next(is('teleport'), 'the unknown-type reply', from);
  assert.equal(data(unknown)['code'], 'UNKNOWN_TYPE');
  assert.equal(c.closed, undefined);
  c.close();
});

test('print_job START prints the file inline; its end is pushed with the final state', async () => {
  const c = await user();
  const file = ['G90', 'G1 X10 Y10 F3000', 'G1 X20 Y20 ; corner'].join('\n');
  c.send({ type: 'print_job', data: { type: 'START', agent_uuid: 'shop-1', printer_uuid: 'shop-1/0', print_file_uuid: 'file-1', file_name: 'square.gcode', file } });
  const started = data(await c.next(is('print_job'), 'the START reply'));
  assert.equal(started['status'], 'OK', JSON.stringify(started));
  const jobId = started['job_uuid'];
  const ended = await c.next(
    is('printer_status', (d) => (d['job'] as Msg | null)?.['job_uuid'] === jobId && (d['job'] as Msg)['state'] === 'done'),
    'the push of the finished job',
  );
  const job = data(ended)['job'] as Msg;
  assert.deepEqual([job['print_file_uuid'], job['name'], job['progress']], ['file-1', 'square.gcode', 1]);
  const ran = ranLines();
  for (const line of ['G90', 'G1 X10 Y10 F3000', 'G1 X20 Y20']) assert.ok(ran.includes(line), `${line} ran: ${ran.join(' | ')}`);
  c.close();
});

test('print_job PAUSE, RESUME and CANCEL act on the printer\'s current job; busy pushes carry progress 0–1', async () => {
  const c = await user();
  const file = Array.from({ length: 600 }, (_, i) => `G1 X${i % 200} Y${(i * 7) % 200}`).join('\n');
  c.send({ type: 'print_job', data: { type: 'START', printer_uuid: 'Prusa-1', file } });
  const jobId = data(await c.next(is('print_job'), 'the START reply'))['job_uuid'];
  const busy = await c.next(
    is('printer_status', (d) => d['status'] === 'busy' && ((d['job'] as Msg | null)?.['progress'] as number) > 0),
    'a busy push with progress',
  ).catch((e: Error) => { throw new Error(`${e.message}\n${shop.emu.proc.tail(40)}\n${shop.bridge.tail(40)}`); });
  const progress = (data(busy)['job'] as Msg)['progress'] as number;
  assert.ok(progress > 0 && progress <= 1, String(progress));

  const act = async (type: string): Promise<Msg> => {
    const from = c.messages.length;
    c.send({ type: 'print_job', data: { type, agent_uuid: 'shop-1', printer_uuid: 'shop-1/0' } });
    return data(await c.next(is('print_job'), `the ${type} reply`, from));
  };
  assert.deepEqual(await act('PAUSE'), { status: 'OK', type: 'PAUSE', job_uuid: jobId, printer_uuid: 'shop-1/0', state: 'paused' });
  const resumed = await act('RESUME');
  assert.equal(resumed['status'], 'OK');
  assert.notEqual(resumed['state'], 'paused');
  assert.deepEqual(await act('CANCEL'), { status: 'OK', type: 'CANCEL', job_uuid: jobId, printer_uuid: 'shop-1/0', state: 'canceled' });
  await c.next(is('printer_status', (d) => (d['job'] as Msg | null)?.['state'] === 'canceled'), 'the push of the canceled job');
  assert.ok(ranLines().length < 600 + 10, 'the job did not run to its end');

  const none = await act('CANCEL');
  assert.deepEqual([none['status'], none['code']], ['ERROR', 'UNKNOWN_JOB']);
  const bad = await act('REWIND');
  assert.deepEqual([bad['status'], bad['code']], ['ERROR', 'BAD_FIELD']);
  c.close();
});

test('the agent going away is pushed: agent_status offline, printer_status unavailable', async () => {
  const c = await user();
  await c.next(is('agent_status', (d) => d['status'] === 'online'), 'the online agent');
  const from = c.messages.length;
  await shop.bridge.kill();
  const offline = await c.next(is('agent_status', (d) => d['status'] === 'offline'), 'agent_status offline', from);
  assert.equal(data(offline)['agent_uuid'], 'shop-1');
  await c.next(is('printer_status', (d) => d['printer_uuid'] === 'shop-1/0' && d['status'] === 'unavailable'), 'printer_status unavailable', from);
  c.close();
});

test('a client token from token.issue authenticates too; a connection that never authenticates is closed with 4003', async () => {
  const t = await startTestServer({ helloTimeoutMs: 300 });
  try {
    const admin = await JsonClient.open(t.wsUrl('/v1/client?token=test-admin-token'));
    admin.send({ op: 'token.issue', id: 1, ttl: 60, label: 'farm page' });
    const issued = data({ data: (await admin.next((m) => m['re'] === 1, 'token.issue'))['result'] });
    admin.close();

    const c = await JsonClient.open(t.wsUrl('/api/v1/ws'));
    c.send({ type: 'authentication', data: { token: issued['token'] } });
    assert.deepEqual(await c.next(is('authentication'), 'the authentication reply'), { type: 'authentication', data: { status: 'OK' } });
    c.close();

    const silent = await JsonClient.open(t.wsUrl('/api/v1/ws'));
    const closed = await silent.waitClosed();
    assert.equal(closed.code, 4003);
    const said = silent.messages.find(is('authentication'));
    assert.deepEqual([said && data(said)['status'], said && data(said)['code']], ['ERROR', 'HELLO_REQUIRED']);
  } finally {
    await t.close();
  }
});
