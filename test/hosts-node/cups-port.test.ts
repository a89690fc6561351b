// The CUPS port (cups:QUEUE) where a job does not simply print, against a
// private cupsd: a job followed across a CUPS restart (its backend holds it
// until the test lets it go); one CUPS holds for authentication (its backend
// exits 2, CUPS_BACKEND_AUTH_REQUIRED), which never ends by itself, so the
// bridge must say so rather than follow it in silence; and a job past the
// most bytes the port holds.

import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cupsServer } from '../../device/hosts/node/ipp.js';
import { CupsPort, MAX_CUPS_JOB_BYTES } from '../../device/hosts/node/ports/cups-port.js';
import type { JobView } from '../../protocol/client-messages.js';
import type { Client } from '../../tools/client/client.js';
import { startCups, type Cups } from '../helpers/cups.js';
import { Processes } from '../helpers/processes.js';
import { serveWithDevices } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { tempDir } from '../tools/emulator-fixture.js';

const FINAL = ['done', 'failed', 'canceled'];

const procs = new Processes();
const tmp = tempDir('printbridge-cups-port-');
let cups: Cups;
let client: Client;
const out = join(tmp.dir, 'printed');
const go = join(tmp.dir, 'go');

after(async () => {
  await client?.close();
  await procs.killAll();
  tmp.cleanup();
});

before(async () => {
  // cupsd runs backends as lp: the file they write to must be theirs to write.
  writeFileSync(out, '');
  chmodSync(out, 0o666);
  const waiting = `#!/bin/sh\n[ $# -eq 0 ] && exit 0\nwhile [ ! -e ${go} ]; do sleep 0.05; done\ncat "\${6:-/dev/stdin}" >> ${out}\n`;
  const needsAuth = '#!/bin/sh\n[ $# -eq 0 ] && exit 0\nexit 2\n';
  cups = await startCups(procs, tmp.dir, { backends: { waiting, needsauth: needsAuth } });
  await cups.addRawQueue('slow', 'waiting:/x');
  await cups.addRawQueue('locked', 'needsauth:/x');
  const serve = await serveWithDevices(procs, `${tmp.dir}/data`, 'admin', ['pc'], []);
  client = serve.client;
  const bridge = procs.cli(['bridge', '--server', serve.url, '--id', 'pc', '--token', serve.tokens.get('pc') ?? '', '--printer', 'cups:slow', '--printer', 'cups:locked'], { env: { CUPS_SERVER: cups.server } });
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  for (const p of ['pc/0', 'pc/1']) await until(`${p} online`, async () => (await printer(p)).status === 'online');
});

const printer = async (id: string): Promise<{ status: string; detail?: string }> => (await client.request('printer.get', { printer: id })) as { status: string; detail?: string };
const jobOf = async (id: string): Promise<JobView> => (await client.request('job.get', { job: id })) as JobView;
const submit = async (p: string, data: string): Promise<JobView> => (await client.request('job.submit', { printer: p, data: Buffer.from(data).toString('base64') })) as JobView;
const finished = (id: string): Promise<JobView> => until(`job ${id} to end`, async () => {
  const j = await jobOf(id);
  return FINAL.includes(j.state) ? j : undefined;
}, 30_000);

test('CUPS restarted while a handed-over job is followed: the job is done once CUPS prints it, and its bytes reach the printer once', async () => {
  const data = 'held across the restart\n';
  const job = await submit('pc/0', data);
  await until('CUPS has the job', () => /^slow-\d+/m.test(cups.client('lpstat', ['-o', 'slow'])));
  await cups.stop();
  await cups.start();
  writeFileSync(go, '');
  const end = await finished(job.id);
  assert.equal(end.state, 'done', JSON.stringify(end));
  assert.equal(readFileSync(out, 'latin1'), data);
});

test('a job CUPS holds for authentication is the printer in error with why, and the job paused; canceled in CUPS, it fails with CUPS\'s reason', async () => {
  const job = await submit('pc/1', 'never printed\n');
  await until('pc/1 in error, naming the held job', async () => {
    const p = await printer('pc/1');
    return p.status === 'error' && /CUPS holds job \d+ on locked \(.*cups-held-for-authentication/.test(p.detail ?? '') ? p : undefined;
  }, 20_000);
  await until('the job paused', async () => (await jobOf(job.id)).state === 'paused');
  cups.client('cancel', ['-a', 'locked']);
  const end = await finished(job.id);
  assert.equal(end.state, 'failed', JSON.stringify(end));
  assert.match(end.error?.message ?? '', /CUPS job \d+ on locked canceled/, JSON.stringify(end));
  await until('pc/1 online again', async () => (await printer('pc/1')).status === 'online');
});

test(`a job of more than ${MAX_CUPS_JOB_BYTES} bytes fails at its hand-over, CUPS never sees it, and the next job prints`, async () => {
  const port = new CupsPort('slow', cupsServer(cups.server));
  const verdicts: { job: string; ok: boolean; detail?: string }[] = [];
  port.onVerdict((job, ok, detail) => verdicts.push({ job, ok, ...(detail === undefined ? {} : { detail }) }));
  port.open();
  try {
    await until('the port online', () => port.isOpen);
    const before = cups.client('lpstat', ['-W', 'all', '-o', 'slow']);
    const chunk = new Uint8Array(1024 * 1024);
    for (let sent = 0; sent <= MAX_CUPS_JOB_BYTES; sent += chunk.length) {
      const piece = sent + chunk.length > MAX_CUPS_JOB_BYTES ? chunk.subarray(0, MAX_CUPS_JOB_BYTES + 1 - sent) : chunk;
      assert.ok(port.write(piece, { id: 'big', last: sent + piece.length === MAX_CUPS_JOB_BYTES + 1 }));
    }
    await until('the verdict', () => verdicts.length === 1);
    assert.equal(verdicts[0]?.job, 'big');
    assert.equal(verdicts[0]?.ok, false);
    assert.match(verdicts[0]?.detail ?? '', new RegExp(`has ${MAX_CUPS_JOB_BYTES + 1} bytes; a CUPS port takes at most ${MAX_CUPS_JOB_BYTES}`));
    assert.equal(cups.client('lpstat', ['-W', 'all', '-o', 'slow']), before);
    writeFileSync(go, '');
    const small = 'after the big one\n';
    const printedBefore = readFileSync(out, 'latin1');
    port.write(Buffer.from(small), { id: 'small', last: true });
    await until('the small job done', () => verdicts.length === 2, 20_000);
    assert.deepEqual(verdicts[1], { job: 'small', ok: true });
    assert.equal(readFileSync(out, 'latin1'), printedBefore + small);
  } finally {
    await port.close();
  }
});
