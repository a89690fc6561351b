// The README's user story, run as a user would: every part a real process
// (server, bridge, printer emulator, the print command), talking over real
// sockets and a real pseudo-terminal. The printer must receive exactly the
// bytes of the file, and `print` must exit 0 only once the job is done.

import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Processes, type Json } from '../helpers/processes.js';
import { seeded } from '../helpers/random.js';
import { fileHash, ptyEmulator, sha256, tcpEmulator, tempDir } from '../tools/emulator-fixture.js';

const procs = new Processes();
const dirs: Array<() => void> = [];
after(async () => {
  await procs.killAll();
  for (const cleanup of dirs) cleanup();
});

interface Listening extends Json {
  port: number;
  adminToken: string;
}

async function serverAndDevice(): Promise<{ dir: string; port: number; admin: string; token: string }> {
  const { dir, cleanup } = tempDir('printbridge-e2e-');
  dirs.push(cleanup);
  const data = join(dir, 'data');
  const serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], {
    env: { PRINTBRIDGE_ADMIN_TOKEN: undefined },
  });
  const info = await serve.waitForEvent<Listening>('listening');
  const add = await procs.run(['devices', 'add', 'shop-1', '--data', data]);
  assert.equal(add.code, 0, add.stderr);
  const token = add.stdout.trim();
  assert.match(token, /^[A-Za-z0-9_-]{20,}$/, 'devices add prints the token alone');
  return { dir, port: info.port, admin: info.adminToken, token };
}

async function printThrough(printerUri: string, emu: { out: string; printed: string }, ctx: { dir: string; port: number; admin: string; token: string }): Promise<void> {
  const bridge = procs.cli([
    'bridge', '--server', `ws://127.0.0.1:${ctx.port}`, '--id', 'shop-1', '--token', ctx.token,
    '--printer', printerUri, '--dialect', 'escpos',
  ]);
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });

  // A receipt like a POS sends, repeated past 256 KiB. The bridge polls the
  // printer's status (DLE EOT) between commands as the README's command line
  // does; the emulator's --out leaves those answered queries out.
  const payload = receipts(300 * 1024);
  const file = join(ctx.dir, 'receipt.bin');
  writeFileSync(file, payload);
  const print = await procs.run(
    ['print', '--server', `http://127.0.0.1:${ctx.port}`, '--token', ctx.admin, '--printer', 'shop-1/0', file, '--json'],
    { timeout: 60_000 },
  );
  assert.equal(print.code, 0, `print failed:\n${print.stdout}\n${print.stderr}`);
  const job = JSON.parse(print.stdout) as { state: string; size: number; written: number };
  assert.equal(job.state, 'done');
  assert.equal(job.written, payload.length);
  // print returns when the bridge confirms the last byte reached the port;
  // the emulator has then read it or is about to.
  await waitFor(() => safeHash(emu.printed) === sha256(payload), 10_000);
  assert.equal(fileHash(emu.printed), sha256(payload));
  // ESC/POS confirms a job with a status query after its last byte, so the
  // raw record must hold queries that the printed one left out.
  assert.ok(statSync(emu.out).size > payload.length, 'the bridge polled the printer');
  await bridge.kill();
}

/** ESC/POS receipts: init, bold title, item lines, a barcode, feed and cut. */
function receipts(size: number): Uint8Array {
  const rnd = seeded(17);
  const out: number[] = [];
  const text = (t: string): void => {
    for (const c of t) out.push(c.charCodeAt(0));
  };
  for (let n = 1; out.length < size; n++) {
    out.push(0x1b, 0x40, 0x1b, 0x45, 1);
    text(`RECEIPT ${n}\n`);
    out.push(0x1b, 0x45, 0);
    for (let i = 0; i < 8; i++) text(`item ${i} ${(rnd() * 100).toFixed(2).padStart(8)}\n`);
    const code = String(100000 + n);
    out.push(0x1d, 0x6b, 0x49, code.length);
    text(code);
    out.push(0x1b, 0x64, 3, 0x1d, 0x56, 0x42, 0);
  }
  return Uint8Array.from(out);
}

function safeHash(path: string): string {
  try {
    return fileHash(path);
  } catch {
    return '';
  }
}

async function waitFor(cond: () => boolean, timeout: number): Promise<void> {
  const end = Date.now() + timeout;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

test('README story over TCP: serve, devices add, emulate, bridge, print', async () => {
  const ctx = await serverAndDevice();
  const emu = await tcpEmulator(procs, ctx.dir);
  await printThrough(`tcp://127.0.0.1:${emu.port}`, emu, ctx);
});

test('README story over a serial PTY: bridge on serial:PATH@115200', async () => {
  const ctx = await serverAndDevice();
  const emu = await ptyEmulator(procs, ctx.dir);
  await printThrough(`serial:${emu.path}@115200`, emu, ctx);
});

test('print to a printer that does not exist fails with a code and exit 1', async () => {
  const ctx = await serverAndDevice();
  const file = join(ctx.dir, 'x.bin');
  writeFileSync(file, 'hello');
  const r = await procs.run(['print', '--server', `http://127.0.0.1:${ctx.port}`, '--token', ctx.admin, '--printer', 'nobody/0', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /UNKNOWN_PRINTER/);
  const bad = await procs.run(['print', '--server', `http://127.0.0.1:${ctx.port}`, '--token', 'wrong', '--printer', 'shop-1/0', file]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /401|UNAUTHORIZED/);
});
