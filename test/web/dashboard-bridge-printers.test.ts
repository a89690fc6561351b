// "Printers…" on a Node bridge's row, in Chromium, against real parts: a
// test server, a Node bridge (runBridge, in this process) with one TCP
// printer (the printer emulator), and a private CUPS scheduler with a raw
// queue whose device is a second emulator. The page asks the bridge what
// its computer can reach, finds the CUPS queue, adds it, and a test page
// printed on the new printer from its card reaches the emulator behind
// CUPS. A device that announced no such capability (the ESP32 firmware,
// played by a FakeDevice) has no button; the bridge going away while the
// dialog is open shows in it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { runBridge, type Bridge } from '../../device/hosts/node/bridge.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { cupsServer } from '../../device/hosts/node/ipp.js';
import { startCups, type Cups } from '../helpers/cups.js';
import { Processes } from '../helpers/processes.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { FakeDevice } from '../server/peers.js';
import { tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';
import { launchChromium, screenshot, type Browser } from './browser.js';

const QUEUE = 'counter-58';
const BRIDGE = 'pc-1';
const ESP = 'esp-1';

const procs = new Processes();
const tmp = tempDir('printbridge-finder-');
let t: TestServer | undefined;
let cups: Cups;
/** The bridge's own TCP printer (port 0). */
let tcp: TcpEmulator;
/** The printer behind the CUPS queue. */
let behindCups: TcpEmulator;
let bridge: Bridge | undefined;
let esp: FakeDevice | undefined;
let browser: Browser | undefined;
const bridgeLog: string[] = [];

before(async () => {
  cups = await startCups(procs, tmp.dir);
  behindCups = await tcpEmulator(procs, tmp.dir, [], 'raw');
  await cups.addRawQueue(QUEUE, `socket://127.0.0.1:${behindCups.port}`);
  tcp = await tcpEmulator(procs, tmp.dir, [], 'escpos');

  const data = join(tmp.dir, 'data');
  const store = openStore(data);
  let bridgeToken: string;
  let espToken: string;
  try {
    bridgeToken = addDevice(store, BRIDGE, ['office']);
    espToken = addDevice(store, ESP, []);
  } finally {
    store.close();
  }
  t = await startTestServer({ dataDir: data });
  // No settings file: what is added lasts until the bridge stops, and the page says so.
  bridge = await runBridge({
    server: t.server.url.replace(/^http/, 'ws'), id: BRIDGE, token: bridgeToken,
    printers: [{ uri: `tcp://127.0.0.1:${tcp.port}`, dialect: 'escpos', name: 'Front counter', poll: 500 }],
    // Where the bridge finds CUPS, for its scan and for the cups: printer it opens (the CLI reads CUPS_SERVER).
    portOptions: { cups: cupsServer(cups.server) },
    log: (level, message) => bridgeLog.push(`${level}: ${message}`),
  });
  esp = await FakeDevice.connect(t, ESP, espToken);
  esp.sendJson({ t: 'status', ports: [{ port: 0, state: 'online' }], led: 'online', uptime: 5 });
  browser = await launchChromium();
});

after(async () => {
  esp?.close();
  await browser?.close();
  await bridge?.stop();
  await t?.close();
  await procs.killAll();
  tmp.cleanup();
});

function behindCupsGot(): string {
  try {
    return readFileSync(behindCups.out, 'latin1');
  } catch {
    return '';
  }
}

async function openDashboard(): Promise<Page> {
  const page = await browser!.newPage();
  await page.goto(`${t!.server.url}/#token=test-admin-token`);
  await page.locator('#conn[data-state="open"]').waitFor();
  return page;
}

const deviceRow = (page: Page, id: string) => page.locator('#device-rows tr', { has: page.getByRole('rowheader', { name: id, exact: true }) });

test('a bridge lists what its computer reaches; the CUPS queue is added from the dialog and prints through CUPS', { timeout: 120_000 }, async () => {
  const page = await openDashboard();
  await deviceRow(page, BRIDGE).locator('.badge', { hasText: 'Online' }).waitFor();
  await deviceRow(page, ESP).locator('.badge', { hasText: 'Online' }).waitFor();
  await page.getByRole('listitem', { name: `Printer ${BRIDGE}/0` }).locator('.badge', { hasText: 'Ready' }).waitFor();
  // Only the Node bridge announced printers.scan: the ESP32 stand-in has Identify and nothing more.
  await deviceRow(page, ESP).getByRole('button', { name: `Identify ${ESP}` }).waitFor();
  assert.equal(await page.getByRole('button', { name: `Find printers for ${ESP}` }).count(), 0, 'no button for a device without the capability');

  // Opened from the keyboard.
  const opener = page.getByRole('button', { name: `Find printers for ${BRIDGE}` });
  await opener.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: `Printers ${BRIDGE} can reach` });
  await dialog.waitFor();
  const queue = dialog.getByRole('listitem', { name: `cups:${QUEUE}` });
  await queue.waitFor({ timeout: 20_000 });
  assert.match(await queue.innerText(), /CUPS/);
  assert.match(await queue.innerText(), new RegExp(`socket://127\\.0\\.0\\.1:${behindCups.port}`), 'the queue\'s device is in its detail');
  // The bridge's own TCP printer is not searched for, but it is listed as what it is: printer 0.
  const own = dialog.getByRole('listitem', { name: `tcp://127.0.0.1:${tcp.port}` });
  await own.getByText('printer 0').waitFor();
  assert.equal(await own.getByRole('button', { name: /^Add / }).count(), 0, 'a printer of the bridge has no Add form');
  await own.getByRole('button', { name: `Show printer ${BRIDGE}/0` }).waitFor();
  assert.match(await dialog.getByRole('status').innerText(), /found · 1 is already a printer of pc-1/);
  // A CUPS queue prints the bytes as they are: raw is the only dialect offered.
  const dialect = queue.getByRole('combobox', { name: `Dialect for cups:${QUEUE}` });
  const offered = await Promise.all((await dialect.locator('option').all()).map((o) => o.getAttribute('value')));
  assert.deepEqual(offered, ['raw']);
  await screenshot(page, 'dashboard-bridge-printers', false);
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'dashboard-bridge-printers-dark', false);
  await page.emulateMedia({ colorScheme: 'light' });

  await queue.getByRole('textbox', { name: `Name for cups:${QUEUE}` }).fill('Counter (CUPS)');
  await queue.getByRole('button', { name: `Add cups:${QUEUE}` }).click();
  const toast = page.locator('.toast', { hasText: `Added ${BRIDGE}/1` });
  await toast.waitFor({ timeout: 20_000 });
  assert.match(await toast.innerText(), /not saved/, 'the bridge has no settings file to keep it in');
  const card = page.getByRole('listitem', { name: `Printer ${BRIDGE}/1` });
  await card.getByText('Counter (CUPS)').waitFor({ timeout: 20_000 });
  assert.match(await card.innerText(), /RAW/);
  // Asked again once the bridge came back with it: the queue is now printer 1.
  await queue.getByText('printer 1').waitFor({ timeout: 20_000 });
  assert.equal(await queue.getByRole('button', { name: /^Add / }).count(), 0);
  await screenshot(page, 'dashboard-bridge-printers-added', false);

  // Escape closes it, and focus goes back to the button that opened it.
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate<string | null>("document.activeElement?.getAttribute('aria-label') ?? null"), `Find printers for ${BRIDGE}`);

  await card.locator('.badge', { hasText: 'Ready' }).waitFor({ timeout: 20_000 });
  await card.getByRole('button', { name: `Test print on ${BRIDGE}/1` }).click();
  await page.locator('.toast', { hasText: `Test page on ${BRIDGE}/1: done` }).waitFor({ timeout: 60_000 });
  await until('the test page behind the CUPS queue', () => behindCupsGot().endsWith('the printer works.\n\n\n'), 30_000);
  // Raw: the page's bytes exactly as the dashboard sent them (sdk/test-page.ts), nothing added or filtered by CUPS.
  assert.match(behindCupsGot(), /^printbridge test page\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\nIf you can read this, the printer works\.\n\n\n$/);
  // CUPS's own record of it.
  assert.match(cups.client('lpstat', ['-W', 'completed', '-o', QUEUE]), new RegExp(`^${QUEUE}-\\d+\\s`, 'm'));
  // From the dialog to the printer's card.
  await opener.click();
  await dialog.getByRole('button', { name: `Show printer ${BRIDGE}/1` }).click();
  await dialog.waitFor({ state: 'hidden' });
  await page.locator(`#printer-list [data-printer="${BRIDGE}/1"][data-marked]`).waitFor();
  await page.close();
});

test('the bridge going away while the dialog is open: the list stays, marked as from before, and nothing can be added', { timeout: 60_000 }, async () => {
  const page = await openDashboard();
  await page.getByRole('button', { name: `Find printers for ${BRIDGE}` }).click();
  const dialog = page.getByRole('dialog', { name: `Printers ${BRIDGE} can reach` });
  await dialog.getByRole('listitem', { name: `cups:${QUEUE}` }).getByText('printer 1').waitFor({ timeout: 20_000 });
  const again = dialog.getByRole('button', { name: 'Scan again' });
  await until('Scan again enabled', () => again.isEnabled());
  // A source the bridge cannot read is a line of its own; what it has is still listed.
  await cups.stop();
  await again.click();
  const problems = dialog.getByRole('list', { name: 'Places that could not be read' });
  await problems.getByText(/^CUPS: /).waitFor({ timeout: 20_000 });
  assert.match(await dialog.getByRole('status').innerText(), /one place could not be read/);
  const queue = dialog.getByRole('listitem', { name: `cups:${QUEUE}` });
  await queue.getByText('not found on this computer now').waitFor();
  await queue.getByText('printer 1').waitFor();
  await screenshot(page, 'dashboard-bridge-printers-problem', false);
  await until('Scan again enabled', () => again.isEnabled());
  await bridge!.stop();
  bridge = undefined;
  await dialog.getByRole('status').getByText(`${BRIDGE} is offline. The list is from before`).waitFor({ timeout: 20_000 });
  assert.ok(await again.isDisabled(), 'nothing to ask');
  await dialog.getByRole('listitem', { name: `cups:${QUEUE}` }).waitFor();
  for (const add of await dialog.getByRole('button', { name: /^Add / }).all()) assert.ok(await add.isDisabled(), 'no Add while the bridge is away');
  // Its row says so too, and no longer offers the dialog.
  await deviceRow(page, BRIDGE).locator('.badge', { hasText: 'Offline' }).waitFor();
  assert.equal(await page.getByRole('button', { name: `Find printers for ${BRIDGE}` }).count(), 0);
  await screenshot(page, 'dashboard-bridge-printers-offline', false);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.deepEqual(browser!.problems, [], 'no page errors and no console errors (CSP included)');
  await page.close();
});
