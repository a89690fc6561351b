// The dashboard end to end in a real browser: a real server process, real
// bridge processes and real printer emulator processes (ESC/POS, and G-code
// for the command line); Chromium opens the page and a person's clicks are
// played. Screenshots go to test-output/.
//
// Waits are on what the page shows (Playwright locators); their timeouts
// only turn a hang into a failure message.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import WebSocket from 'ws';
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
let gcode: TcpEmulator;
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
  const addMaker = await procs.run(['devices', 'add', 'maker', '--data', data]);
  assert.equal(addMaker.code, 0, addMaker.stderr);
  gcode = await tcpEmulator(procs, dir, [], 'gcode');
  const makerBridge = procs.cli([
    'bridge', '--server', `ws://127.0.0.1:${info.port}`, '--id', 'maker', '--token', addMaker.stdout.trim(),
    '--printer', `tcp://127.0.0.1:${gcode.port}`, '--dialect', 'gcode', '--name', 'Workshop 3D', '--poll', '1000',
  ]);
  await makerBridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
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

test('connected clients: the page itself, a console and a till appear live, and go when they leave', { timeout: 90_000 }, async () => {
  const page = await openDashboard();
  await page.locator('#conn[data-state="open"]').waitFor();
  const panel = page.getByRole('region', { name: 'Connected clients' });
  const rows = panel.getByRole('listitem');
  // The page itself, from the subscribe snapshot: Chromium with the admin token, subscribed to events.
  const self = rows.filter({ hasText: /Chrome \d+/ }).filter({ hasText: 'events' });
  await self.first().waitFor();
  assert.match(await self.first().innerText(), /admin[\s\S]*127\.0\.0\.1 · client API · events · since/);
  const before = await rows.count();

  // A `printbridge console` (it names itself printbridge-cli) and a raw WebSocket client that names itself, from client.connected.
  const consoleProc = procs.cli(['console', '--server', base, '--token', admin]);
  await consoleProc.waitForLine(/^< #1 ok \{"server":"printbridge"/);
  const till = new WebSocket(`${base.replace('http', 'ws')}/v1/client`, { headers: { authorization: `Bearer ${admin}`, 'user-agent': 'pos-till/2.1 (till 3)' } });
  await new Promise((resolve, reject) => till.once('open', resolve).once('error', reject));
  const consoleRow = rows.filter({ hasText: 'printbridge-cli' });
  const tillRow = rows.filter({ hasText: 'pos-till 2.1' });
  await consoleRow.first().waitFor();
  await tillRow.waitFor();
  assert.equal(await rows.count(), before + 2);
  assert.match(await tillRow.innerText(), /admin[\s\S]*127\.0\.0\.1 · client API · since/);
  await page.locator('#summary', { hasText: `${before + 2} clients connected` }).waitFor();
  await screenshot(page, 'dashboard-clients');

  // Leaving shows through client.disconnected.
  till.close();
  await tillRow.waitFor({ state: 'detached' });
  consoleProc.send('.exit');
  await consoleProc.waitForExit();
  await consoleRow.first().waitFor({ state: 'detached' });
  await rows.nth(before).waitFor({ state: 'detached' });
  assert.equal(await rows.count(), before);
  await page.close();
});

test('G-code command line: only on the G-code printer; M105 shows the printer\'s answer lines', { timeout: 60_000 }, async () => {
  const page = await openDashboard();
  await page.locator('#conn[data-state="open"]').waitFor();
  const maker = page.getByRole('listitem', { name: 'Printer maker/0' });
  await maker.getByText('Workshop 3D').waitFor();
  assert.equal(await page.getByRole('textbox', { name: 'G-code command for shop-1/0' }).count(), 0, 'none on the ESC/POS printer');
  await maker.getByRole('textbox', { name: 'G-code command for maker/0' }).fill('M105');
  await maker.getByRole('button', { name: 'Send the command to maker/0' }).click();
  const answer = maker.getByLabel('Answer from maker/0');
  await answer.getByText(/T:\d/).waitFor();
  assert.match(await answer.innerText(), /^> M105\n[\s\S]*T:\d/);
  // One activity line, in place of the delivery report of the control message that carried it.
  const logged = page.locator('#activity-log li', { hasText: /maker\/0: M105 → .*T:\d/ });
  await logged.waitFor();
  assert.equal(await page.locator('#activity-log li', { hasText: 'Delivery: maker' }).count(), 0);
  await screenshot(page, 'dashboard-gcode-command');
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
  await page.locator('#activity-log li', { hasText: 'Job Test page on shop-1/0: done' }).waitFor();
  // Reprint: the server still holds the bytes of what it printed (job.reprint).
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
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.locator('#broadcast-reports li', { hasText: 'shop-1 ok' }).waitFor();
  // A bad argument is caught before anything is sent.
  await page.getByLabel('Arguments (JSON)').fill('{oops');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.locator('#broadcast-error', { hasText: 'Arguments' }).waitFor();
  await page.getByLabel('Arguments (JSON)').fill('{}');
  await page.locator('input[name="to"][value="tag"]').check();
  await page.getByLabel('Tag or device').fill('front');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
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

test('a wrong token brings the token dialog back; a narrow screen still works', { timeout: 90_000 }, async () => {
  const page = await openDashboard('#token=wrong-token');
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
