// The dashboard end to end in a real browser: a real server process, a real
// bridge process and a real printer emulator process; Chromium opens the
// page and a person's clicks are played. Screenshots go to test-output/.
//
// Waits are on what the page shows (Playwright locators); their timeouts
// only turn a hang into a failure message.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Processes, type Json, type Proc } from '../helpers/processes.js';
import { tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';
import { launchChromium, screenshot, type Browser } from './browser.js';

const procs = new Processes();
const cleanups: Array<() => void> = [];
let browser: Browser | undefined;
let base = '';
let admin = '';
let emu: TcpEmulator;
let bridge: Proc;
let serve: Proc;
let dataDir = '';

interface Listening extends Json {
  port: number;
  adminToken: string;
}

before(async () => {
  const { dir, cleanup } = tempDir('printbridge-web-');
  cleanups.push(cleanup);
  const data = join(dir, 'data');
  dataDir = data;
  serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: undefined } });
  const info = await serve.waitForEvent<Listening>('listening');
  base = `http://127.0.0.1:${info.port}`;
  admin = info.adminToken;
  const add = await procs.run(['devices', 'add', 'shop-1', '--tag', 'front', '--data', data]);
  assert.equal(add.code, 0, add.stderr);
  emu = await tcpEmulator(procs, dir);
  bridge = procs.cli([
    'bridge', '--server', `ws://127.0.0.1:${info.port}`, '--id', 'shop-1', '--token', add.stdout.trim(),
    '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', 'escpos', '--name', 'Front counter', '--poll', '300',
  ]);
  await bridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await procs.killAll();
  for (const c of cleanups) c();
});

function received(): string {
  try {
    return readFileSync(emu.out, 'latin1');
  } catch {
    return '';
  }
}

async function waitUntil(cond: () => boolean, what: string, timeout = 20_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function openDashboard(fragment = `#token=${encodeURIComponent(admin)}`): Promise<Page> {
  const page = await browser!.newPage();
  await page.goto(`${base}/${fragment}`);
  return page;
}

test('the page connects with the token from the fragment and shows the device and its printer live', { timeout: 90_000 }, async () => {
  const page = await openDashboard();
  await page.locator('#conn[data-state="open"]').waitFor();
  assert.match(await page.locator('#conn').innerText(), /Connected/);
  assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar');
  const row = page.locator('#device-rows tr', { has: page.getByRole('rowheader', { name: 'shop-1' }) });
  await row.locator('.badge', { hasText: 'Online' }).waitFor();
  assert.match(await row.innerText(), /front/, 'tags are shown');
  const card = page.getByRole('listitem', { name: 'Printer shop-1/0' });
  await card.getByText('Front counter').waitFor();
  await card.locator('.badge', { hasText: 'Ready' }).waitFor();
  assert.match(await card.innerText(), /ESCPOS/);
  await page.locator('#activity-log li', { hasText: 'Connected to printbridge' }).waitFor();
  await screenshot(page, 'dashboard-connected');
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'dashboard-dark');
  await page.close();
});

test('test print: the job shows done and the emulator received the page', { timeout: 90_000 }, async () => {
  const page = await openDashboard();
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.getByRole('button', { name: 'Test print on shop-1/0' }).click();
  await page.locator('.toast', { hasText: 'Test page on shop-1/0: done' }).waitFor({ timeout: 30_000 });
  await page.locator('#job-rows tr[data-state="done"]').first().waitFor();
  await waitUntil(() => received().includes('printbridge test page'), 'the test page at the emulator');
  assert.ok(received().includes('If you can read this, the printer works.'));
  await page.locator('#activity-log li', { hasText: /Job \w+ on shop-1\/0: done/ }).waitFor();
  // Reprint: the page still has the bytes of what it printed.
  const doneRows = page.locator('#job-rows tr[data-state="done"]');
  const before = await doneRows.count();
  await doneRows.first().getByRole('button', { name: /^Reprint job/ }).click();
  await waitUntil(() => received().split('printbridge test page').length - 1 >= 2, 'the reprint at the emulator');
  await doneRows.nth(before).waitFor();
  await screenshot(page, 'dashboard-test-print');
  await page.close();
});

test('identify: a delivery report appears', { timeout: 60_000 }, async () => {
  const page = await openDashboard();
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.getByRole('button', { name: 'Identify shop-1' }).click();
  await page.locator('.toast', { hasText: 'Identify shop-1: ok' }).waitFor();
  await page.locator('#activity-log li', { hasText: 'shop-1 ok' }).first().waitFor();
  // The LED column follows the device's own report.
  await page.locator('#device-rows .led[data-pattern="identify"]').waitFor();
  await screenshot(page, 'dashboard-identify');
  await page.close();
});

test('broadcast form: a control message to all devices lists each delivery', { timeout: 60_000 }, async () => {
  const page = await openDashboard();
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.getByLabel('Message', { exact: true }).selectOption('status');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('#broadcast-reports li', { hasText: 'shop-1 ok' }).waitFor();
  // A bad argument is caught before anything is sent.
  await page.getByLabel('Arguments (JSON)').fill('{oops');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('#broadcast-error', { hasText: 'Arguments' }).waitFor();
  await page.getByLabel('Arguments (JSON)').fill('{}');
  await page.locator('input[name="to"][value="tag"]').check();
  await page.getByLabel('Tag or device').fill('front');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('#broadcast-reports li', { hasText: 'shop-1 ok' }).waitFor();
  await page.locator('#activity-log li', { hasText: 'status → tag front: shop-1 ok' }).waitFor();
  await page.close();
});

test('cancel: a job held by a paused queue is canceled from its row', { timeout: 90_000 }, async () => {
  const page = await openDashboard();
  await page.locator('#conn[data-state="open"]').waitFor();
  const card = page.getByRole('listitem', { name: 'Printer shop-1/0' });
  await page.getByRole('button', { name: 'Pause the queue of shop-1/0' }).click();
  await card.locator('.badge', { hasText: 'Queue paused' }).waitFor();
  await page.getByRole('button', { name: 'Test print on shop-1/0' }).click();
  const queued = page.locator('#job-rows tr[data-state="queued"]').first();
  await queued.waitFor();
  await card.getByText('1 job waiting (queue paused)').waitFor();
  await screenshot(page, 'dashboard-queue-paused');
  await queued.getByRole('button', { name: /^Cancel job/ }).click();
  await page.locator('.toast', { hasText: 'JOB_CANCELED' }).waitFor();
  await page.locator('#job-rows tr[data-state="canceled"]').first().waitFor();
  await page.getByRole('button', { name: 'Resume the queue of shop-1/0' }).click();
  await card.locator('.badge', { hasText: 'Ready' }).waitFor();
  await page.close();
});

test('paper out at the printer shows on its card, and clears', { timeout: 90_000 }, async () => {
  const page = await openDashboard();
  await page.locator('#conn[data-state="open"]').waitFor();
  const card = page.getByRole('listitem', { name: 'Printer shop-1/0' });
  emu.proc.send('set paper-out');
  await card.locator('.badge', { hasText: 'Paper out' }).waitFor();
  await page.locator('#activity-log li', { hasText: 'shop-1/0: paper out' }).waitFor();
  assert.match(await page.title(), /needs attention/);
  await screenshot(page, 'dashboard-paper-out');
  emu.proc.send('set ok');
  await card.locator('.badge', { hasText: 'Ready' }).waitFor();
  await page.close();
});

test('the token is remembered; a wrong one brings the token dialog back; a narrow screen still works', { timeout: 90_000 }, async () => {
  const page = await openDashboard('');
  await page.locator('#conn[data-state="open"]').waitFor(); // from localStorage
  await page.goto(`${base}/#token=wrong-token`);
  await page.reload(); // a new fragment alone does not load the page again
  const dialog = page.getByRole('dialog', { name: 'Connect to printbridge' });
  await dialog.getByText('did not accept').waitFor();
  await screenshot(page, 'dashboard-token', false);
  await dialog.getByLabel('Admin token').fill(admin);
  await dialog.getByRole('button', { name: 'Connect' }).click();
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('button', { name: 'Test print on shop-1/0' }).waitFor();
  await screenshot(page, 'dashboard-mobile');
  await page.close();
  // The browser itself logs the refused WebSocket upgrade of the wrong token; anything else is ours.
  const ours = browser!.problems.filter((p) => !/WebSocket connection to .*token=wrong-token.* failed/.test(p));
  assert.deepEqual(ours, [], 'no page errors and no console errors (CSP included)');
});

test('the server restarts: the page says the link is lost, reconnects by itself and shows fresh state', { timeout: 120_000 }, async () => {
  const page = await openDashboard();
  await page.locator('#conn[data-state="open"]').waitFor();
  const port = new URL(base).port;
  await serve.kill('SIGTERM');
  await page.locator('#conn-text', { hasText: 'Connection lost' }).waitFor();
  await page.locator('#activity-log li', { hasText: 'Connection lost' }).waitFor();
  await screenshot(page, 'dashboard-reconnecting', false);
  serve = procs.cli(['serve', '--host', '127.0.0.1', '--port', port, '--data', dataDir, '--json'], { env: { PRINTBRIDGE_ADMIN_TOKEN: undefined } });
  await serve.waitForEvent('listening');
  await page.locator('#activity-log li', { hasText: 'Reconnected' }).waitFor({ timeout: 90_000 });
  await page.locator('#conn[data-state="open"]').waitFor();
  // The bridge found its way back as well, and the page shows it from the new snapshot and events.
  const row = page.locator('#device-rows tr', { has: page.getByRole('rowheader', { name: 'shop-1' }) });
  await row.locator('.badge', { hasText: 'Online' }).waitFor({ timeout: 90_000 });
  await page.getByRole('listitem', { name: 'Printer shop-1/0' }).locator('.badge', { hasText: 'Ready' }).waitFor({ timeout: 30_000 });
  await page.close();
});
