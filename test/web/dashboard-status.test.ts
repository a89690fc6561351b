// Printer faults on the dashboard, in Chromium, against a real `serve` over
// TLS (a throwaway CA): a ZPL printer behind a bridge (emulator process, the
// bridge on wss with --ca), and a Zebra printer that dials in over Weblink
// (the Weblink emulator process, registered with `devices add --weblink`).
// Each opens its head; its card must say so in words, not only in colour,
// and recover when the head closes.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Processes, type Proc } from '../helpers/processes.js';
import { serveWithTls } from '../helpers/tls-serve.js';
import { dialInWeblinkPrinter } from '../helpers/weblink-emulator.js';
import { tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';
import { launchChromium, screenshot, type Browser } from './browser.js';

const SERIAL = '50J000000001';
const procs = new Processes();
const cleanups: Array<() => void> = [];
let browser: Browser | undefined;
let base = '';
let admin = '';
let zpl: TcpEmulator;
let zebra: Proc;

before(async () => {
  const { dir, cleanup } = tempDir('printbridge-web-status-');
  cleanups.push(cleanup);
  const served = await serveWithTls(procs, dir);
  base = served.base;
  admin = served.adminToken;

  const add = await procs.run(['devices', 'add', 'labels', '--data', served.data]);
  assert.equal(add.code, 0, add.stderr);
  zpl = await tcpEmulator(procs, dir, [], 'zpl');
  const bridge = procs.cli([
    'bridge', '--server', `wss://localhost:${served.port}`, '--ca', served.pki.caCert, '--id', 'labels', '--token', add.stdout.trim(),
    '--printer', `tcp://127.0.0.1:${zpl.port}`, '--dialect', 'zpl', '--name', 'Dispatch labels', '--poll', '300',
  ]);
  zebra = await dialInWeblinkPrinter(procs, served, SERIAL);
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  // The page's own TLS is not under test here; the bridge and the printer check the certificate.
  browser = await launchChromium(undefined, { trustAnyCertificate: true });
});

after(async () => {
  await browser?.close();
  await procs.killAll();
  for (const c of cleanups) c();
});

async function openDashboard(): Promise<Page> {
  const page = await browser!.newPage();
  await page.goto(`${base}/#token=${encodeURIComponent(admin)}`);
  await page.locator('#conn[data-state="open"]').waitFor();
  return page;
}

test('head open on a label printer behind a bridge: the card shows the state and the detail, the log says it, and both clear', { timeout: 90_000 }, async () => {
  const page = await openDashboard();
  const card = page.getByRole('listitem', { name: 'Printer labels/0' });
  await card.locator('.badge', { hasText: 'Ready' }).waitFor();
  const detail = card.locator('.detail');
  assert.equal(await detail.isVisible(), false, 'no detail while the printer is fine');

  zpl.proc.send('set head-open');
  await card.locator('.badge', { hasText: 'Cover open' }).waitFor();
  await detail.filter({ hasText: /^head open$/i }).waitFor({ state: 'visible' });
  assert.equal(await card.getAttribute('data-tone'), 'bad');
  await page.locator('#activity-log li', { hasText: /labels\/0: cover open — head open/i }).waitFor();
  assert.match(await page.title(), /needs attention/);
  await screenshot(page, 'dashboard-head-open');

  zpl.proc.send('set ok');
  await card.locator('.badge', { hasText: 'Ready' }).waitFor();
  await detail.waitFor({ state: 'hidden' });
  await page.close();
});

test('a Weblink printer shows like any printer; its HEAD OPEN alert shows on its card with the detail, and clears', { timeout: 90_000 }, async () => {
  const page = await openDashboard();
  const card = page.getByRole('listitem', { name: `Printer ${SERIAL}/0` });
  await card.locator('.badge', { hasText: 'Ready' }).waitFor();
  assert.match(await card.innerText(), /ZD420/, 'the model from discovery names the printer');
  assert.match(await card.innerText(), /ZPL/);
  const row = page.locator('#device-rows tr', { has: page.getByRole('rowheader', { name: SERIAL }) });
  await row.locator('.badge', { hasText: 'Online' }).waitFor();
  assert.match(await row.innerText(), /V84\.20/, 'the firmware from discovery');
  assert.equal(await row.getByRole('button', { name: `Identify ${SERIAL}` }).isVisible(), false, 'no Identify: the server takes no controls for it');
  assert.equal(await page.getByRole('button', { name: 'Identify labels' }).isVisible(), true, 'the bridge keeps its Identify');

  zebra.send('head open');
  await card.locator('.badge', { hasText: 'Cover open' }).waitFor();
  await card.locator('.detail', { hasText: /^head open$/i }).waitFor({ state: 'visible' });
  await page.locator('#activity-log li', { hasText: new RegExp(`${SERIAL}/0: cover open — head open`, 'i') }).waitFor();
  await screenshot(page, 'dashboard-weblink-head-open');

  zebra.send('head close');
  await card.locator('.badge', { hasText: 'Ready' }).waitFor();
  await card.locator('.detail').waitFor({ state: 'hidden' });
  await page.close();
  assert.deepEqual(browser!.problems, [], 'no page errors and no console errors');
});
