// The firmware over wss:// on the Moddable SDK's real runtime (Linux host):
// its TLS stack checks the server's certificate against the CA built into
// the firmware as a resource (the `caCert` setting), after SNTP has set the
// clock. A server with a private CA that sends its chain is taken and a job
// prints through it; a server whose certificate another CA signed is refused
// with the link's TLS diagnosis and no reset; a server that sends only its
// own certificate is refused too, as docs/firmware.md says (the SDK checks
// the server's name only against a chain).
//
// SNTP is real: a small SNTP server answers on 127.0.0.1:123, which takes
// root (or CAP_NET_BIND_SERVICE); elsewhere these tests are skipped with
// that reason.

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DeviceView, JobView } from '../../protocol/client-messages.js';
import { connectClient } from '../../tools/client/client.js';
import { buildLinFirmware, runLinFirmware, type RunningFirmware } from '../../tools/firmware/lin-host.js';
import { Processes, REPO_ROOT } from '../helpers/processes.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { createTestPki, type TestPki } from '../helpers/tls-certs.js';
import { registerDevice } from '../server/peers.js';
import { FAST_TIMINGS, receipt, sha256, until } from './fixture.js';

/** Seconds from the NTP epoch (1900) to the Unix epoch. */
const NTP_UNIX_OFFSET = 2_208_988_800;

/** Answers every SNTP request with the system time (server mode, stratum 1). */
async function sntpServer(): Promise<Socket | string> {
  const udp = createSocket('udp4');
  udp.on('message', (_msg, from) => {
    const reply = Buffer.alloc(48);
    reply[0] = 0x24; // leap 0, version 4, mode 4 (server)
    reply[1] = 1;
    const now = Date.now();
    reply.writeUInt32BE((Math.floor(now / 1000) + NTP_UNIX_OFFSET) >>> 0, 40);
    reply.writeUInt32BE(Math.floor(((now % 1000) / 1000) * 2 ** 32) >>> 0, 44);
    udp.send(reply, from.port, from.address);
  });
  return new Promise((resolve) => {
    udp.once('error', (e: NodeJS.ErrnoException) => {
      udp.close();
      // A local NTP daemon on the port answers as well as we would.
      resolve(e.code === 'EADDRINUSE' ? 'in-use' : `cannot bind UDP 127.0.0.1:123 for SNTP (${e.code ?? e.message}): run as root`);
    });
    udp.bind(123, '127.0.0.1', () => resolve(udp));
  });
}

const dir = tempDir('pb-fw-tls-');
const procs = new Processes();
let sntp: Socket | string = 'not started';
let pki: TestPki;
let server: TestServer;
let leafOnly: TestServer;
const running: RunningFirmware[] = [];

/** The firmware for the Linux host with `caDer` as its CA resource, registered with `to` as device `id` and talking to it. */
async function firmware(to: TestServer, name: string, id: string, caDer: string, uartDevice = '/dev/null'): Promise<RunningFirmware> {
  const manifestDir = join(dir, `manifest-${name}`);
  mkdirSync(manifestDir);
  copyFileSync(caDer, join(manifestDir, 'ca.der'));
  writeFileSync(join(manifestDir, 'manifest.json'), JSON.stringify({
    include: [join(REPO_ROOT, 'manifests', 'lin', 'manifest.json')],
    resources: { '*': ['./ca'] },
  }, null, 2));
  const token = registerDevice(to, id);
  const mcso = await buildLinFirmware({
    id, token, server: to.wsUrl(''), caCert: 'ca.der', sntpHost: '127.0.0.1', uartDevice, dialect: 'raw', ssid: 'shop-wifi', password: 'secret',
    wifiRetry: 500, wifiTimeout: 5_000, poll: 0, offlineRestart: 0, ...FAST_TIMINGS,
  }, 'release', manifestDir);
  const cwd = join(dir, `run-${name}`);
  mkdirSync(cwd);
  const fw = runLinFirmware(mcso, { cwd, restart: false });
  running.push(fw);
  return fw;
}

function aborts(fw: RunningFirmware): string[] {
  return fw.lines.filter((l) => /abort/i.test(l));
}

describe('firmware on the SDK runtime over wss:// with a private CA', () => {
  before(async () => {
    sntp = await sntpServer();
    if (typeof sntp === 'string' && sntp !== 'in-use') return;
    pki = createTestPki(dir);
    const leaf = pki.issue('server', 4242);
    // What the server sends: its certificate and the CA's, as a fullchain.pem does.
    const fullchain = join(dir, 'fullchain.pem');
    writeFileSync(fullchain, Buffer.concat([readFileSync(leaf.cert), readFileSync(pki.caCert)]));
    server = await startTestServer({ tls: { cert: fullchain, key: leaf.key }, adminToken: 'fw-tls-admin' });
    leafOnly = await startTestServer({ tls: leaf, adminToken: 'fw-tls-admin' });
  });
  after(async () => {
    for (const fw of running) await fw.stop();
    await procs.killAll();
    await leafOnly?.close();
    await server?.close();
    if (typeof sntp !== 'string') sntp.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const skip = (): string | false => (typeof sntp === 'string' && sntp !== 'in-use' ? sntp : false);

  test('connects with the CA from its caCert resource and prints a job over wss', async (t) => {
    if (skip()) return t.skip(String(skip()));
    const tty = join(dir, 'printer.tty');
    const printedFile = join(dir, 'printed.bin');
    const emulator = procs.cli(['emulate', '--dialect', 'raw', '--pty', tty, '--out', printedFile]);
    await emulator.waitForEvent('pty');
    const fw = await firmware(server, 'good', 'lin-tls', pki.caCertDer, tty);
    await fw.waitFor(/clock set by SNTP/, 60_000, 0);
    await fw.waitFor(/link online/, 30_000, 0);

    const client = await connectClient(server.wsUrl('/v1/client'), 'fw-tls-admin', { ca: readFileSync(pki.caCert) });
    try {
      const me = (await client.request('devices.list') as DeviceView[]).find((d) => d.id === 'lin-tls');
      assert.equal(me?.online, true);
      const data = receipt(64 * 1024, 3);
      const job = await client.request('job.submit', { printer: 'lin-tls/0', data: Buffer.from(data).toString('base64') }) as JobView;
      const end = await until(`job ${job.id} to end`, async () => {
        const j = await client.request('job.get', { job: job.id }) as JobView;
        return ['done', 'failed', 'canceled'].includes(j.state) ? j : undefined;
      }, 60_000);
      assert.equal(end.state, 'done', JSON.stringify(end));
      await emulator.waitForEvent({ event: 'received', bytes: data.length }, { timeout: 30_000 });
      assert.equal(sha256(readFileSync(printedFile)), sha256(data));
    } finally {
      await client.close();
    }
    assert.deepEqual(aborts(fw), []);
  });

  test('a server whose certificate another CA signed: the TLS diagnosis, the refused LED, no reset', async (t) => {
    if (skip()) return t.skip(String(skip()));
    mkdirSync(join(dir, 'other-ca'));
    const other = createTestPki(join(dir, 'other-ca'), 'some other CA');
    const fw = await firmware(server, 'other-ca', 'lin-tls-other', other.caCertDer);
    const line = await fw.waitFor(/TLS with the server at wss:/, 60_000, 0);
    assert.match(line, /^error: TLS with the server at wss:\/\/127\.0\.0\.1:\d+ failed \(certificate: auth err\): check the server's certificate/);
    await fw.waitFor(/led refused/, 5_000, 0);
    // A few more attempts: each is refused the same way, none aborts the VM.
    await fw.waitFor(/link connecting/, 15_000, fw.lines.length);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual(aborts(fw), []);
    assert.equal(fw.starts, 1, 'the firmware never restarted');
    assert.ok(!fw.lines.some((l) => /link online/.test(l)));
  });

  test('a server that sends only its own certificate is refused (the SDK checks the name only against a chain)', async (t) => {
    if (skip()) return t.skip(String(skip()));
    const fw = await firmware(leafOnly, 'leaf-only', 'lin-tls-leaf', pki.caCertDer);
    const line = await fw.waitFor(/TLS with the server at wss:/, 60_000, 0);
    assert.match(line, /failed \(certificate: auth err\)/);
    assert.ok(fw.lines.some((l) => /subjectAltName match failed for 127\.0\.0\.1/.test(l)), fw.lines.slice(-20).join('\n'));
    assert.deepEqual(aborts(fw), []);
  });
});
